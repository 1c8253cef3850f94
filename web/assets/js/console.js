// The police post console: the incidents dispatched to this post, live from the stream, with a
// receipt for every dispatch, big buttons acknowledge → en route → on scene → resolve, the
// countdown to the deadline, and a log that shows what happened while the console was offline.
import { get, act } from "./api.js";
import { onChange, t } from "./i18n.js";
import { enter, showNet } from "./page.js";
import { Stream } from "./stream.js";
import { el, kindLabel, stateLabel, eventLabel, clock, place, isOpen } from "./format.js";
import { setIncident } from "./countdown.js";
import { locate } from "./geo.js";
import * as sound from "./sound.js";

const $ = (id) => document.getElementById(id);
const me = await enter(["responder"]);
const myPost = me.user.post_id;
const mine = new Map();     // open incidents with this post
const grids = new Map();
let currentId = null;
const fresh = new Set();    // dispatched here, not yet taken in hand
const TAKEN = ["incident.acknowledged", "incident.en_route", "incident.on_scene", "incident.resolved", "incident.cancelled"];

get(`/api/v1/posts/${encodeURIComponent(myPost)}`).then((p) => { $("post-name").textContent = p.name; }).catch(() => {});
get("/api/v1/grids").then((gs) => { gs.forEach((g) => grids.set(g.id, g)); render(); }).catch(() => {});

function keep(incident) {
  if (isOpen(incident) && incident.post_id === myPost) mine.set(incident.id, incident);
  else { mine.delete(incident.id); fresh.delete(incident.id); }
  if (!mine.has(currentId)) currentId = null;
}

function pickCurrent() {
  if (currentId && mine.has(currentId)) return mine.get(currentId);
  const list = [...mine.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  currentId = list[0]?.id ?? null;
  return list[0];
}

function render() {
  const i = pickCurrent();
  $("none").hidden = !!i;
  $("job").hidden = !i;
  document.body.classList.toggle("takeover", fresh.size > 0);
  $("new-banner").hidden = !(i && fresh.has(i.id));
  if (fresh.size === 0) sound.stop();
  if (i) {
    $("job").dataset.id = i.id;
    $("job").dataset.state = i.state;
    $("job-title").textContent = kindLabel(i.kind);
    $("job-state").textContent = stateLabel(i.state);
    $("job-state").dataset.state = i.state;
    setIncident($("job-countdown"), i);
    const facts = [
      ["detail.grid", grids.get(i.grid_id)?.name || t("detail.none")],
      ["detail.place", place(i)],
      ["detail.note", i.note || t("detail.none")],
      ["detail.created", clock(i.created_at)],
    ];
    $("job-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })]));
    const cam = i.cameras?.[0];
    $("job-snapshot").hidden = !cam;
    if (cam && $("job-snapshot-img").dataset.camera !== cam) {
      $("job-snapshot-img").dataset.camera = cam;
      $("job-snapshot-img").src = `/api/v1/cameras/${encodeURIComponent(cam)}/snapshot.jpg`;
    }
    $("b-ack").hidden = i.state !== "dispatched";
    $("b-enroute").hidden = !["dispatched", "acknowledged"].includes(i.state);
    $("b-arrive").hidden = !["dispatched", "acknowledged", "en_route"].includes(i.state);
    $("f-resolve").hidden = i.state !== "on_scene";
  }
  $("others").replaceChildren(...[...mine.values()].filter((o) => o.id !== currentId).map((o) =>
    el("li", {}, el("button", { type: "button", onclick: () => { currentId = o.id; render(); } },
      `${kindLabel(o.kind)} · ${stateLabel(o.state)} · ${clock(o.created_at)}`))));
}

$("job-snapshot-img").addEventListener("error", () => { $("job-snapshot").hidden = true; });

function log(ev, replayed) {
  const item = el("li", { "data-type": ev.type, class: replayed ? "missed" : null },
    el("time", { datetime: ev.at, text: clock(ev.at) }), " ",
    el("span", { text: eventLabel(ev.type) }),
    ev.incident ? el("span", { class: "muted", text: ` · ${kindLabel(ev.incident.kind)}` }) : null,
    replayed ? el("span", { class: "tag", "data-i18n": "console.missed", text: t("console.missed") }) : null);
  $("log").prepend(item);
  while ($("log").children.length > 50) $("log").lastChild.remove();
}

function takeOver(incident) {
  fresh.add(incident.id);
  currentId = incident.id;
  sound.start();
  if (sound.needsGesture()) $("sound").hidden = false;
}

/** The step buttons: disabled while a step's request runs, so that a second tap does not
 *  send it again (and get a 409 although the first one worked). */
const STEP_BUTTONS = ["b-ack", "b-enroute", "b-arrive", "b-resolve"];
let busy = false;

/** Runs one step; resolves to true when the hub took it. */
async function step(action, body = {}) {
  const id = currentId;
  if (!id || busy) return false;
  busy = true;
  $("job-error").hidden = true;
  fresh.delete(id);
  STEP_BUTTONS.forEach((b) => { $(b).disabled = true; });
  let ok = false;
  try {
    if (action === "arrive") {
      const here = await locate(3000);
      if (here) body = here;
    }
    keep(await act(id, action, body));
    ok = true;
  } catch (e) {
    $("job-error").textContent = t("action.failed") + (e.message || e.code);
    $("job-error").hidden = false;
  } finally {
    busy = false;
    STEP_BUTTONS.forEach((b) => { $(b).disabled = false; });
  }
  render();
  return ok;
}

$("b-ack").addEventListener("click", () => step("ack"));
$("b-enroute").addEventListener("click", () => step("en-route"));
$("b-arrive").addEventListener("click", () => step("arrive"));
// The note is kept when resolving failed, to send again.
$("f-resolve").addEventListener("submit", (e) => {
  e.preventDefault();
  step("resolve", { note: e.target.note.value }).then((ok) => { if (ok) e.target.reset(); });
});
$("new-banner").addEventListener("click", () => { fresh.clear(); render(); });
$("sound").addEventListener("click", () => { $("sound").hidden = true; });
sound.unlockOnGesture(() => { $("sound").hidden = true; });

/** Dispatches that reached this console before it had a chance to confirm them. */
async function confirmPending(stream, incidents) {
  for (const i of incidents.filter((x) => x.state === "dispatched" && x.post_id === myPost)) {
    try {
      const r = await get(`/api/v1/incidents/${encodeURIComponent(i.id)}`);
      const tl = r.incident.timeline || [];
      const last = tl.filter((e) => e.type === "incident.dispatched" || e.type === "incident.escalated").pop();
      if (last && !tl.some((e) => e.seq > last.seq && e.type === "incident.delivered")) stream.receipt(last.seq);
    } catch { /* the next dispatch event will be confirmed */ }
  }
}

let resynced = false; // the hub could not replay what was missed: the next hello is all there is
const stream = new Stream({
  onStatus: (s) => { showNet(s); document.body.dataset.net = s; },
  onHello: (hello, { reconnect }) => {
    const known = new Set(mine.keys());
    mine.clear();
    (hello.open_incidents || []).forEach(keep);
    // What still waits to be taken in hand: an alarm for an incident closed or taken meanwhile
    // stops. After a resync (nothing is replayed), a dispatch that came meanwhile takes over.
    for (const id of [...fresh]) if (mine.get(id)?.state !== "dispatched") fresh.delete(id);
    if (resynced) {
      for (const i of mine.values()) if (i.state === "dispatched" && !known.has(i.id)) takeOver(i);
    }
    resynced = false;
    if (!reconnect) confirmPending(stream, hello.open_incidents || []);
    render();
  },
  onResync: () => { resynced = true; },
  onEvent: (ev, { replayed }) => {
    if (!ev.incident) { log(ev, replayed); return; }
    const wasMine = mine.has(ev.incident.id);
    keep(ev.incident);
    const toUs = ev.incident.post_id === myPost;
    if ((ev.type === "incident.dispatched" || ev.type === "incident.escalated") && toUs) {
      stream.receipt(ev.seq);
      if (isOpen(ev.incident)) takeOver(ev.incident);
    } else if (!wasMine && toUs && isOpen(ev.incident)) {
      takeOver(ev.incident);
    }
    if (TAKEN.includes(ev.type)) fresh.delete(ev.incident.id);
    log(ev, replayed);
    render();
  },
});
stream.start();
window.gwConsole = { stream, mine };
onChange(render);
