// The duty officer's live wall: camera tiles, the alert rail fed by the stream, the incident
// view, and the alarm (flash and sound) for every new SOS, and for an incident whose response is
// in trouble (not received by the post's console, escalated, at risk, breached), until someone
// looks.
import { get } from "./api.js";
import { onChange, t } from "./i18n.js";
import { enter, showNet } from "./page.js";
import { Stream } from "./stream.js";
import { TileWall } from "./wall-tiles.js";
import { AlertRail } from "./wall-alerts.js";
import { IncidentDetail } from "./wall-detail.js";
import { drawPlan } from "./wall-plan.js";
import { drawReport } from "./wall-report.js";
import { isOpen } from "./format.js";
import * as sound from "./sound.js";

const $ = (id) => document.getElementById(id);
const dir = { posts: new Map(), grids: new Map(), cameras: new Map() };
const names = {
  post: (id) => dir.posts.get(id)?.name || id || "",
  grid: (id) => dir.grids.get(id)?.name || id || "",
  camera: (id) => dir.cameras.get(id)?.name || id || "",
};

await enter(["duty_officer", "admin"]);

const tiles = new TileWall($("tiles"));
const rail = new AlertRail($("alerts"), $("no-alerts"), { onSelect: select, names });
const detail = new IncidentDetail({
  names,
  posts: () => [...dir.posts.values()],
  onClose: () => { rail.selected = null; rail.render(); },
});

function select(id) {
  rail.selected = id;
  rail.seen(id);
  quiet();
  detail.open(id);
}

/** The events that ring the alarm, with what the banner says. A new SOS, or an incident whose
 *  response is in trouble: the post's console did not get it, it was escalated, the 15-minute
 *  promise is at risk or broken. */
const ALARMS = {
  "incident.raised": "wall.new_sos",
  "incident.repeat": "wall.new_sos",
  "incident.undelivered": "wall.alarm.undelivered",
  "incident.escalated": "wall.alarm.escalated",
  "incident.at_risk": "wall.alarm.at_risk",
  "incident.breached": "wall.alarm.breached",
};

/** Whether `ev` rings the alarm. Replayed events too (they happened while the wall was cut
 *  off), as long as the incident is still open. */
function alarming(ev) {
  if (!ALARMS[ev.type] || !isOpen(ev.incident)) return false;
  return ev.type !== "incident.raised" || ev.incident.kind === "sos";
}

function alarm(incident, type = "incident.raised") {
  rail.markNew(incident.id);
  const title = ALARMS[type] || "wall.new_sos";
  $("alarm-title").dataset.i18n = title;
  $("alarm-title").textContent = t(title);
  $("alarm-text").textContent = [names.grid(incident.grid_id), incident.post_id && `→ ${names.post(incident.post_id)}`].filter(Boolean).join(" ");
  $("alarm").hidden = false;
  $("alarm").dataset.incident = incident.id;
  document.body.classList.add("flash");
  sound.start();
  if (sound.needsGesture()) $("sound").hidden = false;
}

function quiet() {
  if (rail.unseen.size) return;
  $("alarm").hidden = true;
  document.body.classList.remove("flash");
  sound.stop();
}

$("alarm-seen").addEventListener("click", () => {
  const id = $("alarm").dataset.incident;
  rail.seen();
  quiet();
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

function showPlan() {
  drawPlan($("plan-svg"), {
    grids: [...dir.grids.values()],
    posts: [...dir.posts.values()],
    cameras: tiles.cameras,
    incidents: [...rail.incidents.values()],
    onIncident: (id) => { $("plan").hidden = true; select(id); },
  });
}

async function showReport() {
  try {
    await drawReport($("report-chart"), $("report-table"), names.grid);
  } catch (e) {
    $("report-chart").textContent = t("action.failed") + e.message;
  }
}

$("show-plan").addEventListener("click", () => { $("report").hidden = true; $("plan").hidden = false; showPlan(); });
$("show-report").addEventListener("click", () => { $("plan").hidden = true; $("report").hidden = false; showReport(); });
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

/** The hub's response check stalled: escalations and deadlines may not fire. Never quiet. */
function health(h) {
  $("health").hidden = !h || h.response_check === "ok";
}

const stream = new Stream({
  onStatus: showNet,
  onOther: (msg) => { if (msg.type === "health") health(msg.health); },
  onHello: (hello) => {
    health(hello.health);
    rail.reset(hello.open_incidents || []);
    quiet(); // an alarm for an incident closed meanwhile stops
    if (detail.id) detail.reload();
  },
  onResync: () => { /* the fresh hello that follows replaces everything */ },
  onEvent: (ev) => {
    if (ev.type === "camera.online" || ev.type === "camera.offline") {
      tiles.setStatus(ev.data?.camera_id ?? ev.data?.id, ev.type === "camera.online" ? "online" : ev.data?.status || "offline");
      return;
    }
    if (!ev.incident) return;
    rail.upsert(ev.incident);
    detail.changed(ev.incident);
    if (!$("plan").hidden) showPlan();
    if (alarming(ev)) alarm(ev.incident, ev.type);
    else if (!isOpen(ev.incident)) quiet();
  },
});
stream.start();
window.gwWall = { stream, tiles, rail, detail };

onChange(() => {
  tiles.relabel();
  rail.relabel();
  detail.render();
  if (!$("report").hidden) showReport();
});
