// The duty officer's live wall: camera tiles, the alert rail fed by the stream, the incident
// view, and the alarm (flash and sound). The alarm comes from where the open incidents stand
// (alarms.js): a new SOS nobody here has looked at, a dispatch nobody received, an
// escalation, a promise at risk or broken — whether it happened while the wall watched, while
// it was cut off, or before it was opened — and rings until someone acknowledges it here.
import { get, act } from "./api.js";
import { onChange, t } from "./i18n.js";
import { enter, showNet } from "./page.js";
import { Stream } from "./stream.js";
import { TileWall } from "./wall-tiles.js";
import { AlertRail } from "./wall-alerts.js";
import { IncidentDetail } from "./wall-detail.js";
import { drawPlan } from "./wall-plan.js";
import { drawReport } from "./wall-report.js";
import { drawFalseAlarms } from "./wall-false-alarms.js";
import { drawExports } from "./wall-exports.js";
import { History } from "./wall-history.js";
import { clock, el, isOpen } from "./format.js";
import { errorText } from "./errors.js";
import { REASONS, reasonsOf, Seen } from "./alarms.js";
import * as sound from "./sound.js";

const $ = (id) => document.getElementById(id);
// The incident view and the panels open below the header, however many lines it wraps to
// (English labels are longer): they must never cover the language switch or the log-out.
new ResizeObserver(([e]) => {
  document.documentElement.style.setProperty("--bar-h", `${Math.ceil(e.target.getBoundingClientRect().bottom)}px`);
}).observe(document.querySelector("header.bar"));
const dir = { posts: new Map(), grids: new Map(), cameras: new Map() };
const names = {
  post: (id) => dir.posts.get(id)?.name || id || "",
  grid: (id) => dir.grids.get(id)?.name || id || "",
  camera: (id) => dir.cameras.get(id)?.name || id || "",
};

const me = await enter(["duty_officer", "admin"]);
// Admins set cameras up from here: the motion zones and the fisheye calibration pages.
for (const id of ["admin-zones", "admin-calibrate"]) $(id).hidden = me.role !== "admin";

const seen = new Seen("wall");
const tiles = new TileWall($("tiles"));
const rail = new AlertRail($("alerts"), $("no-alerts"), { onSelect: select, onDismiss: dismiss, names });
const detail = new IncidentDetail({
  names,
  posts: () => [...dir.posts.values()],
  places: () => [...dir.posts.values(), ...dir.cameras.values()],
  onClose: () => { rail.selected = null; rail.render(); },
  onPlan: (incident) => showPlan(incident.id),
});
const history = new History({ names, grids: () => [...dir.grids.values()], onSelect: (id) => { $("history").hidden = true; select(id); } });

/** A false alarm dismissed from the rail; a refusal is said in the incident's view. */
async function dismiss(id) {
  try {
    rail.upsert(await act(id, "dismiss"));
    if (detail.id === id) detail.reload();
  } catch (e) {
    select(id);
    detail.error(e);
  }
}

/** Opening an incident acknowledges its alarms here. */
function select(id) {
  rail.selected = id;
  const i = rail.incidents.get(id);
  if (i) seen.add(...reasonsOf(i).map((r) => r.key));
  refreshAlarm();
  detail.open(id);
}

/** The banner's title for the most urgent reason. */
const TITLE = { new_sos: "wall.new_sos", undelivered: "wall.alarm.undelivered", escalated: "wall.alarm.escalated",
  at_risk: "wall.alarm.at_risk", breached: "wall.alarm.breached" };

/** Every alarm reason of the open incidents not yet acknowledged here, most urgent first. */
function pending() {
  const out = [];
  for (const i of rail.incidents.values()) {
    for (const r of reasonsOf(i)) if (!seen.has(r.key)) out.push({ ...r, incident: i });
  }
  return out.sort((a, b) => REASONS.indexOf(a.reason) - REASONS.indexOf(b.reason)
    || b.incident.created_at.localeCompare(a.incident.created_at));
}

/** Shows, or stops, the alarm from the incidents' state. */
function refreshAlarm() {
  const now = pending();
  rail.setUnseen(new Set(now.map((p) => p.incident.id)));
  if (!now.length) {
    $("alarm").hidden = true;
    document.body.classList.remove("flash");
    sound.stop();
    return;
  }
  const first = now[0];
  $("alarm-title").dataset.i18n = TITLE[first.reason];
  $("alarm-title").textContent = t(TITLE[first.reason]);
  const i = first.incident;
  $("alarm-text").textContent = [names.grid(i.grid_id), i.post_id && `→ ${names.post(i.post_id)}`].filter(Boolean).join(" ");
  const reasons = [...new Set(now.map((p) => p.reason))];
  $("alarm-reasons").replaceChildren(...reasons.map((r) => el("li", { "data-reason": r, text: t("wall.reason." + r) })));
  $("alarm").dataset.incident = i.id;
  $("alarm").hidden = false;
  document.body.classList.add("flash");
  sound.start();
  if (sound.needsGesture()) $("sound").hidden = false;
}

$("alarm-seen").addEventListener("click", () => {
  const id = $("alarm").dataset.incident;
  seen.add(...pending().map((p) => p.key));
  refreshAlarm();
  if (id) select(id);
});
$("sound").addEventListener("click", () => { $("sound").hidden = true; });
sound.unlockOnGesture(() => { $("sound").hidden = true; });

document.querySelectorAll(".layouts [data-layout]").forEach((b) => b.addEventListener("click", () => tiles.setLayout(Number(b.dataset.layout))));
$("fullscreen").addEventListener("click", () => tiles.fullscreen());
$("page-prev").addEventListener("click", () => tiles.turn(-1));
$("page-next").addEventListener("click", () => tiles.turn(1));
document.addEventListener("gw:tiles", (e) => {
  $("page-prev").hidden = $("page-next").hidden = e.detail.pages < 2;
  document.querySelectorAll(".layouts [data-layout]").forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.layout) === tiles.layout)));
});

const panels = ["plan", "report", "history"];
function openPanel(name) {
  for (const p of panels) $(p).hidden = p !== name;
}

function showPlan(highlight = null) {
  openPanel("plan");
  drawPlan($("plan-svg"), $("plan-nogps"), {
    grids: [...dir.grids.values()],
    posts: [...dir.posts.values()],
    cameras: tiles.cameras,
    incidents: [...rail.incidents.values()],
    highlight,
    names,
    onIncident: (id) => { $("plan").hidden = true; select(id); },
    onCamera: (id) => { $("plan").hidden = true; detail.close(); tiles.focusOn(id); },
  });
  $("plan-nogps-box").hidden = !$("plan-nogps").children.length;
}

async function showReport() {
  try {
    await Promise.all([drawReport($("report-chart"), $("report-table"), names.grid),
      drawFalseAlarms($("false-alarms-table"), $("false-alarms-none")),
      drawExports($("exports-table"), $("exports-none"), $("exports-more"), names.camera)]);
  } catch (e) {
    $("report-chart").textContent = t("action.failed") + errorText(e);
  }
}

$("show-plan").addEventListener("click", () => showPlan());
$("show-report").addEventListener("click", () => { openPanel("report"); showReport(); });
$("show-history").addEventListener("click", () => { openPanel("history"); history.show(); });
document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => { $(b.dataset.close).hidden = true; }));

async function loadDirectory() {
  const [posts, grids, cameras] = await Promise.all([
    get("/api/v1/posts").catch(() => []),
    get("/api/v1/grids").catch(() => []),
    get("/api/v1/cameras").catch(() => []),
  ]);
  posts.forEach((p) => dir.posts.set(p.id, p));
  grids.forEach((g) => dir.grids.set(g.id, g));
  cameras.forEach((c) => dir.cameras.set(c.id, c));
  tiles.setCameras(cameras.filter((c) => c.enabled !== false));
}

await loadDirectory();

/** Bytes as GiB with one decimal. */
const gib = (bytes) => (bytes / 2 ** 30).toFixed(1);

/** What the hub says is broken, each never quiet until it is mended: the response check
 *  stalled (escalations and deadlines may not fire), a recording directory that records
 *  nothing (a full disk, only evidence left, a failing disk: which and why, on the hub or
 *  on the ingest worker it names), evidence clips waiting for room on their disk, ingest
 *  workers that vanished (and when they were last seen), cameras no worker runs (no picture,
 *  no recording), notification channels whose last sends failed. The
 *  stream's hello carries it, so a reload shows it too. */
function health(h) {
  $("health").hidden = !h || h.response_check === "ok";
  const stopped = h?.recording_stopped || [];
  $("health-recording").hidden = !stopped.length;
  $("health-recording-dirs").replaceChildren(...stopped.flatMap((d, i) => [
    ...(i ? ["; "] : []),
    el("span", { class: "stopped-dir", "data-reason": d.reason }, `${d.worker ? `${d.worker}: ` : ""}${d.path} (`,
      el("span", { "data-i18n": `recording.stop.${d.reason}`, text: t(`recording.stop.${d.reason}`) }), ")"),
  ]));
  const low = h?.evidence_low_space;
  $("health-evidence").hidden = !low;
  $("health-evidence-free").replaceChildren(...(low ? [
    el("span", { "data-i18n": "wall.evidence_free", text: t("wall.evidence_free") }),
    ` ${gib(low.free_bytes)} / ${gib(low.needed_bytes)} GiB`,
  ] : []));
  const gone = h?.ingest_workers_gone || [];
  followWorkers(gone, h?.cameras_unassigned || 0);
  $("health-workers").hidden = !gone.length;
  $("health-workers-gone").replaceChildren(...gone.flatMap((w, i) => [
    ...(i ? ["; "] : []),
    el("span", { class: "gone-worker" }, `${w.worker} (`,
      el("span", { "data-i18n": "wall.last_seen", text: t("wall.last_seen") }), ` ${clock(w.seen_at)})`),
  ]));
  const unassigned = h?.cameras_unassigned || 0;
  $("health-unassigned").hidden = !unassigned;
  $("health-unassigned-count").textContent = unassigned ? String(unassigned) : "";
  const failing = h?.notify_failing || [];
  $("health-notify").hidden = !failing.length;
  $("health-notify-channels").textContent = failing.join(", ");
}

/** What the health said last of the ingest workers (`undefined` before the first message). */
let workersSaid;

/** A worker that vanished says nothing of its cameras, so no camera.offline event comes: when
 *  the workers' health changes, the cameras' statuses are read again (the hub answers each as
 *  its live worker says, offline when none runs it), for the tiles and the plan. */
function followWorkers(gone, unassigned) {
  const said = JSON.stringify([gone.map((w) => w.worker), unassigned]);
  const before = workersSaid;
  workersSaid = said;
  if (before === undefined || before === said) return;
  get("/api/v1/cameras").then((cameras) => {
    for (const c of cameras) tiles.setStatus(c.id, c.status);
    if (!$("plan").hidden) showPlan();
  }).catch(() => { /* the next change tries again; the banner says what is wrong */ });
}

/** A new call for help brings its nearest cameras to the front of the wall. */
function spotlight(ev) {
  const i = ev.incident;
  if (i.kind === "sos" && (ev.type === "incident.raised" || ev.type === "incident.repeat") && isOpen(i)) {
    tiles.spotlight(i.cameras || []);
  }
}

const stream = new Stream({
  onStatus: showNet,
  onOther: (msg) => { if (msg.type === "health") health(msg.health); },
  onHello: (hello) => {
    health(hello.health);
    const open = hello.open_incidents || [];
    rail.reset(open);
    seen.keep(open.map((i) => i.id));
    refreshAlarm();
    if (detail.id) detail.reload();
  },
  onResync: () => { /* the fresh hello that follows replaces everything */ },
  onEvent: (ev) => {
    if (ev.type === "camera.online" || ev.type === "camera.offline") {
      tiles.setStatus(ev.data?.camera_id ?? ev.data?.id, ev.type === "camera.online" ? "online" : ev.data?.status || "offline");
      return;
    }
    if (!ev.incident) return;
    const incident = rail.apply(ev);
    detail.changed(incident);
    history.changed(incident);
    if (!$("plan").hidden) showPlan();
    spotlight(ev);
    refreshAlarm();
  },
});
stream.start();
window.gwWall = { stream, tiles, rail, detail, history, seen };

onChange(() => {
  tiles.relabel();
  rail.relabel();
  detail.render();
  history.render();
  refreshAlarm();
  if (!$("report").hidden) showReport();
});
