// The console of a police post or a grid workers' team: the incidents dispatched to it, live
// from the stream, with a receipt for every dispatch, big buttons acknowledge → en route → on
// scene → resolve, who called (name, phone to call back, address, map), the countdown to the
// deadline, and a log that shows what happened while the console was offline.
//
// Incidents closed here (resolved or cancelled) in the last seven days stay listed, so that a
// responder can open one again after the job to take its evidence clips away: the police often
// come for them hours later.
//
// A dispatch not yet taken in hand rings and takes the screen until someone acknowledges it
// here (the banner, or any step): from the stream as it happens, and from the hello when the
// console is opened or reloaded — what was acknowledged here is remembered (alarms.js).
import { get, act } from "./api.js";
import { onChange, t } from "./i18n.js";
import { enter, showNet } from "./page.js";
import { Stream } from "./stream.js";
import { el, kindLabel, stateLabel, eventLabel, clock, dateTime, place, mapLink, isOpen } from "./format.js";
import { errorText } from "./errors.js";
import { setIncident } from "./countdown.js";
import { locate } from "./geo.js";
import { Seen, deliveryAfter } from "./alarms.js";
import * as sound from "./sound.js";

const $ = (id) => document.getElementById(id);
const me = await enter(["responder"]);
const myPost = me.user.post_id;
const mine = new Map();     // open incidents with this post
const closed = new Map();   // incidents of this post closed lately, the last closed first when listed
const grids = new Map();
const callers = new Map();  // incident id -> caller, from GET /incidents/{id}
const seen = new Seen("console");
let currentId = null;
/** A closed incident opened again from the list, shown instead of the current job until the
 *  responder goes back, or a new dispatch rings. */
let reviewId = null;
/** The incident on screen now: the current job, or the closed one opened again. */
let shownId = null;

/** How far back the closed list reaches (by when they were closed), and how long it is at most. */
const CLOSED_DAYS = 7;
const CLOSED_MAX = 50;
/** The closed list as last read: "loading", "ok" or "error" (then it is read again at the next
 *  connection); the number of the latest read; the incidents closed from the stream while it
 *  ran, which its answer (read before them) must not drop. */
let closedState = "loading";
let closedReads = 0;
const closedMeanwhile = new Set();
const closedTime = (i) => i.closed_at || i.updated_at || i.created_at;
/** Where the closed list starts: `CLOSED_DAYS` ago. */
const closedAfter = () => new Date(Date.now() - CLOSED_DAYS * 86400000).toISOString();
let post = null;

get(`/api/v1/posts/${encodeURIComponent(myPost)}`).then((p) => { post = p; $("post-name").textContent = p.name; }).catch(() => {});
get("/api/v1/grids").then((gs) => { gs.forEach((g) => grids.set(g.id, g)); render(); }).catch(() => {});

/** The key of the dispatch that handed `incident` to this post: acknowledging it here is
 *  remembered under it, so a new dispatch of the same incident rings again. */
const dispatchKey = (i) => `${i.id}:dispatch:${i.delivery?.dispatch_seq ?? i.dispatched_at}`;

/** Dispatched here and not yet taken in hand on this screen. */
const fresh = (i) => i.state === "dispatched" && !seen.has(dispatchKey(i));

function keep(incident) {
  const ours = incident.post_id === myPost;
  if (isOpen(incident) && ours) mine.set(incident.id, { ...mine.get(incident.id), ...incident });
  else mine.delete(incident.id);
  if (!isOpen(incident) && ours) {
    keepClosed(incident);
    closedMeanwhile.add(incident.id);
  }
  if (!mine.has(currentId)) currentId = null;
}

function keepClosed(incident) {
  closed.set(incident.id, { ...closed.get(incident.id), ...incident });
  if (closed.size > CLOSED_MAX) {
    const oldest = [...closed.values()].sort((a, b) => closedTime(a).localeCompare(closedTime(b)))[0];
    closed.delete(oldest.id);
    if (reviewId === oldest.id) reviewId = null;
  }
}

/** The incidents of this post closed in the last days, read again at every (re)connection:
 *  closed while the console was away, or before it was opened. */
async function loadClosed() {
  const n = ++closedReads;
  closedMeanwhile.clear();
  const query = `state=closed&post_id=${encodeURIComponent(myPost)}&closed_since=${encodeURIComponent(closedAfter())}&limit=${CLOSED_MAX}`;
  try {
    const list = await get(`/api/v1/incidents?${query}`);
    if (n !== closedReads) return;
    const meanwhile = [...closedMeanwhile].map((id) => closed.get(id)).filter(Boolean);
    closed.clear();
    list.forEach(keepClosed);
    meanwhile.forEach(keepClosed);
    if (!closed.has(reviewId)) reviewId = null;
    closedState = "ok";
  } catch {
    if (n !== closedReads) return;
    closedState = "error"; // what was listed stays; read again at the next connection
  }
  render();
}

function pickCurrent() {
  if (reviewId && closed.has(reviewId)) return closed.get(reviewId);
  if (currentId && mine.has(currentId)) return mine.get(currentId);
  const list = [...mine.values()].sort((a, b) => Number(fresh(b)) - Number(fresh(a)) || a.created_at.localeCompare(b.created_at));
  currentId = list[0]?.id ?? null;
  return list[0];
}

/** Who called, for the incident on screen (read once per incident). */
async function loadCaller(id) {
  if (callers.has(id)) return;
  callers.set(id, null);
  try {
    const r = await get(`/api/v1/incidents/${encodeURIComponent(id)}`);
    callers.set(id, r.incident.caller || {});
    if (shownId === id) render();
  } catch { callers.delete(id); }
}

function render() {
  const ringing = [...mine.values()].some(fresh);
  if (ringing) reviewId = null; // a new dispatch takes the screen
  const i = pickCurrent();
  const shownBefore = shownId;
  shownId = i?.id ?? null;
  $("none").hidden = !!i;
  $("job").hidden = !i;
  document.body.classList.toggle("takeover", ringing);
  $("new-banner").hidden = !(i && fresh(i));
  if (ringing) {
    sound.start();
    if (sound.needsGesture()) $("sound").hidden = false;
  } else {
    sound.stop();
  }
  if (i) {
    loadCaller(i.id);
    loadClips(i.id);
    showClips(i.id);
    const caller = callers.get(i.id) || {};
    $("job").dataset.id = i.id;
    $("job").dataset.state = i.state;
    $("job-reviewing").hidden = isOpen(i);
    if (shownBefore !== i.id) $("job-error").hidden = true; // another incident's failure
    $("job-title").textContent = kindLabel(i.kind);
    $("job-state").textContent = stateLabel(i.state);
    $("job-state").dataset.state = i.state;
    setIncident($("job-countdown"), i);
    const map = mapLink(i);
    const facts = [
      ["detail.caller", caller.name || t("detail.none"), "f-caller"],
      ["detail.phone", caller.phone ? el("a", { href: `tel:${caller.phone.replace(/\s+/g, "")}`, class: "call", text: caller.phone }) : t("detail.none"), "f-phone"],
      ["detail.place", el("span", {}, place(i, { address: caller.address, grid: grids.get(i.grid_id)?.name }),
        map ? el("a", { id: "f-map", class: "inline-link", href: map, text: t("detail.map") }) : null), "f-place"],
      ["detail.note", i.note || t("detail.none")],
      ["detail.created", clock(i.created_at)],
    ];
    $("job-facts").replaceChildren(...facts.flatMap(([k, v, id]) => [el("dt", { text: t(k) }), el("dd", { id }, v)]));
    // The camera's picture now: for the job in hand, not for one closed (it would pass for
    // the incident's own).
    const cam = isOpen(i) ? i.cameras?.[0] : null;
    $("job-snapshot").hidden = !cam;
    if (cam && $("job-snapshot-img").dataset.camera !== cam) {
      $("job-snapshot-img").dataset.camera = cam;
      $("job-snapshot-img").src = `/api/v1/cameras/${encodeURIComponent(cam)}/snapshot.jpg`;
    }
    // The steps the hub allows now (its state machine), in the console's order.
    const allowed = i.allowed_actions || [];
    $("b-ack").hidden = !allowed.includes("acknowledge");
    $("b-enroute").hidden = !allowed.includes("en_route");
    $("b-arrive").hidden = !allowed.includes("arrive");
    $("f-resolve").hidden = !allowed.includes("resolve");
  }
  // The lists are drawn again at every event: the button that had the focus gets it back.
  const focused = document.activeElement?.closest("#others li, #closed li");
  const refocus = focused && `#${focused.parentElement.id} li[data-id="${CSS.escape(focused.dataset.id)}"] button`;
  $("others").replaceChildren(...[...mine.values()].filter((o) => o.id !== shownId).map((o) =>
    el("li", { "data-id": o.id }, el("button", { type: "button", onclick: () => { reviewId = null; currentId = o.id; render(); } },
      `${kindLabel(o.kind)} · ${stateLabel(o.state)} · ${clock(o.created_at)}`))));
  const after = closedAfter();
  const done = [...closed.values()].filter((o) => closedTime(o) >= after)
    .sort((a, b) => closedTime(b).localeCompare(closedTime(a)));
  $("closed-none").hidden = !(closedState === "ok" && done.length === 0);
  $("closed-error").hidden = closedState !== "error";
  $("closed").replaceChildren(...done.map((o) =>
    el("li", { "data-id": o.id, class: o.id === shownId ? "shown" : null },
      el("button", { type: "button", "aria-current": o.id === shownId ? "true" : null,
        onclick: () => { reviewId = o.id; render(); $("job-back").focus(); } },
        `${kindLabel(o.kind)} · ${stateLabel(o.state)} · ${dateTime(closedTime(o))}`))));
  if (refocus) document.querySelector(refocus)?.focus();
}

/** Back to the open incidents; focus stays where the responder was, on the closed list. */
$("job-back").addEventListener("click", () => {
  const was = reviewId;
  reviewId = null;
  render();
  $("closed").querySelector(`li[data-id="${CSS.escape(was)}"] button`)?.focus();
});

$("job-snapshot-img").addEventListener("error", () => { $("job-snapshot").hidden = true; });

const cameraNames = new Map();
get("/api/v1/cameras").then((cs) => { cs.forEach((c) => cameraNames.set(c.id, c.name)); render(); }).catch(() => {});
/** Incident id -> its sealed clips and how many are still to be sealed, as last read. */
const clipsOf = new Map();
/** Incident id -> the number of its latest read of clips: an older answer arriving last
 *  does not replace a newer one. */
const clipReads = new Map();

/** The incident's sealed evidence clips, for the officer to take away: each clip and its
 *  manifest, or all of it as one package (the hub records every download on the timeline).
 *  Read once, and again whenever one is sealed. */
async function loadClips(id, again = false) {
  if (clipsOf.has(id) && !again) return;
  if (!clipsOf.has(id)) clipsOf.set(id, { clips: [], pending: 0 });
  const n = (clipReads.get(id) || 0) + 1;
  clipReads.set(id, n);
  try {
    const r = await get(`/api/v1/incidents/${encodeURIComponent(id)}/clips`);
    if (clipReads.get(id) !== n) return;
    clipsOf.set(id, { clips: r.clips, pending: r.not_sealed.length });
  } catch {
    if (clipReads.get(id) === n && !clipsOf.get(id).clips.length) clipsOf.delete(id); // tried again at the next render
    return;
  }
  if (shownId === id) showClips(id);
}

function showClips(id) {
  const { clips, pending } = clipsOf.get(id) || { clips: [], pending: 0 };
  $("job-evidence").hidden = !clips.length;
  $("job-clips-pending").hidden = !pending;
  $("job-clips-pending").textContent = pending ? t("clips.pending", { n: String(pending) }) : "";
  const base = `/api/v1/incidents/${encodeURIComponent(id)}`;
  $("job-clips").replaceChildren(...clips.map((c) => {
    const url = `${base}/clips/${encodeURIComponent(c.id)}`;
    const name = cameraNames.get(c.camera_id) || c.camera_id;
    return el("li", { "data-clip": c.id },
      el("a", { class: "inline-link", href: url, download: `evidence-${id}-${c.camera_id}.mp4`, "data-download": c.id,
        text: `${name} · ${clock(c.from)}–${clock(c.to)}` }),
      el("a", { class: "inline-link", href: `${url}/manifest`, download: `evidence-${id}-${c.camera_id}-manifest.json`,
        "data-manifest": c.id, "data-i18n": "clips.manifest", text: t("clips.manifest") }));
  }));
  $("job-package").href = `${base}/evidence.zip`;
  $("job-package").download = `evidence-${id}.zip`;
}

function log(ev, replayed) {
  const item = el("li", { "data-type": ev.type, class: replayed ? "missed" : null },
    el("time", { datetime: ev.at, text: clock(ev.at) }), " ",
    el("span", { text: eventLabel(ev.type) }),
    ev.incident ? el("span", { class: "muted", text: ` · ${kindLabel(ev.incident.kind)}` }) : null,
    replayed ? el("span", { class: "tag", "data-i18n": "console.missed", text: t("console.missed") }) : null);
  $("log").prepend(item);
  while ($("log").children.length > 50) $("log").lastChild.remove();
}

/** The incident is in hand here: its dispatch stops ringing. */
function taken(id) {
  const i = mine.get(id);
  if (i) seen.add(dispatchKey(i));
}

/** The step buttons: disabled while a step's request runs, so that a second tap does not
 *  send it again (and get a 409 although the first one worked). */
const STEP_BUTTONS = ["b-ack", "b-enroute", "b-arrive", "b-resolve"];
let busy = false;

/** Runs one step; resolves to true when the hub took it. Focus stays on the job: the next
 *  step, or its new state. */
async function step(action, body = {}) {
  const id = currentId;
  if (!id || busy) return false;
  busy = true;
  $("job-error").hidden = true;
  taken(id);
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
    $("job-error").textContent = t("action.failed") + errorText(e);
    $("job-error").hidden = false;
  } finally {
    busy = false;
    STEP_BUTTONS.forEach((b) => { $(b).disabled = false; });
  }
  render();
  if (ok) (STEP_BUTTONS.map($).find((b) => b.offsetParent !== null) || $("job-state")).focus?.();
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
$("new-banner").addEventListener("click", () => { for (const i of mine.values()) if (fresh(i)) taken(i.id); render(); });
$("sound").addEventListener("click", () => { $("sound").hidden = true; });
sound.unlockOnGesture(() => { $("sound").hidden = true; });

/** Confirms the dispatches to this post that no console of it has confirmed yet (they came
 *  while this console was closed, or before it could answer). */
function confirmPending(stream, incidents) {
  for (const i of incidents) {
    const d = i.delivery;
    if (i.state === "dispatched" && d?.post_id === myPost && d.delivery !== "delivered") stream.receipt(d.dispatch_seq);
  }
}

const stream = new Stream({
  onStatus: (s) => { showNet(s); document.body.dataset.net = s; },
  onHello: (hello) => {
    const open = hello.open_incidents || [];
    mine.clear();
    open.forEach(keep);
    seen.keep(open.map((i) => i.id));
    confirmPending(stream, open);
    render();
    loadClosed();
  },
  onEvent: (ev, { replayed }) => {
    if (!ev.incident) { log(ev, replayed); return; }
    const before = mine.get(ev.incident.id);
    keep({ ...ev.incident, delivery: deliveryAfter(ev, before?.delivery) });
    const toUs = ev.incident.post_id === myPost;
    if ((ev.type === "incident.dispatched" || ev.type === "incident.escalated") && toUs && ev.data?.[ev.type === "incident.dispatched" ? "post_id" : "to_post"] === myPost) {
      stream.receipt(ev.seq);
      if (isOpen(ev.incident) && !replayed) { currentId = ev.incident.id; reviewId = null; }
    }
    if (ev.type === "incident.evidence_sealed" && clipsOf.has(ev.incident.id)) loadClips(ev.incident.id, true);
    log(ev, replayed);
    render();
  },
});
stream.start();
window.gwConsole = { stream, mine, closed, seen };
onChange(render);
