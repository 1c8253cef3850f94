// The resident's SOS page: hold the button for a second → POST /api/v1/sos (with the location
// when the phone allows, and an Idempotency-Key so that retries after a network error raise one
// incident only) → the state of the call for help in plain words, live from the stream, with
// cancel for a false alarm until someone is on scene. Residents never see video.
//
// The page tells the truth: "help is coming" only once someone has taken the call in hand
// (and who); until then whether the post has received it; when nobody received it, it was
// passed on, or the 15-minute promise is broken, it says so and offers 110 and the post's
// number at once. What it says follows the incident's state, its delivery and the help coming
// (GET /api/v1/incidents/{id}), re-read at every event of the call.
import { get, post, act, ApiError } from "./api.js";
import { onChange, t } from "./i18n.js";
import { enter, showNet } from "./page.js";
import { Stream } from "./stream.js";
import { setIncident } from "./countdown.js";
import { isOpen } from "./format.js";
import { errorText } from "./errors.js";
import { locate } from "./geo.js";
import { holdButton } from "./hold.js";

const $ = (id) => document.getElementById(id);
await enter(["resident"]);

let current = null;   // the incident shown
let info = null;      // its delivery and help, from GET /api/v1/incidents/{id}
let sending = false;
let located = null;

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long a call for help may fail to get through before the page says: phone 110. */
const CALL_POLICE_AFTER = 10000;

function show(view) {
  for (const id of ["press", "sending", "status"]) $(id).hidden = id !== view;
}

function error(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

async function raise() {
  if (sending) return;
  sending = true;
  error("");
  show("sending");
  $("sending-text").dataset.i18n = "sos.sending";
  $("sending-text").textContent = t("sos.sending");
  navigator.vibrate?.(200);
  located = await locate(3000);
  const body = located ? { lat: located.lat, lon: located.lon } : {};
  const key = uuid();
  // Still not through after a while: tell them to phone 110, and keep trying meanwhile.
  $("call-police").hidden = true;
  const fallback = setTimeout(() => { $("call-police").hidden = false; }, CALL_POLICE_AFTER);
  let wait = 500;
  try {
    for (;;) {
      try {
        const r = await post("/api/v1/sos", body, { "Idempotency-Key": key });
        sending = false;
        display(r.incident);
        // The result is where the eyes (and a screen reader) go next.
        $("headline").focus();
        return;
      } catch (e) {
        const retryable = !(e instanceof ApiError) || e.status === 0 || e.status >= 500 || e.status === 408;
        if (!retryable) {
          sending = false;
          show("press");
          error(t("sos.failed") + errorText(e));
          return;
        }
        $("sending-text").dataset.i18n = "sos.retrying";
        $("sending-text").textContent = t("sos.retrying");
        await sleep(wait);
        wait = Math.min(wait * 2, 5000);
      }
    }
  } finally {
    clearTimeout(fallback);
    $("call-police").hidden = true;
  }
}

const STEPS = ["raised", "dispatched", "coming", "arrived", "resolved"];
const STEP_OF = {
  raised: "raised", dispatched: "dispatched", acknowledged: "coming", en_route: "coming",
  on_scene: "arrived", resolved: "resolved",
};

/** Whether `incident` is older than the call shown: a read answered after a newer change
 *  (a snapshot taken before the resident's cancel, delivered after it) must not turn the
 *  page back to what no longer is. */
function stale(incident) {
  return !!current && current.id === incident.id && !!incident.updated_at && !!current.updated_at
    && Date.parse(incident.updated_at) < Date.parse(current.updated_at);
}

function display(incident) {
  if (stale(incident)) return;
  if (current && current.id === incident.id) incident = { ...current, ...incident };
  else info = null;
  current = incident;
  render();
  refresh();
}

/** Re-reads the call's delivery and the help coming (debounced: events come in bursts). */
function refresh() {
  clearTimeout(refresh.timer);
  refresh.timer = setTimeout(async () => {
    const id = current?.id;
    if (!id) return;
    try {
      const r = await get(`/api/v1/incidents/${encodeURIComponent(id)}`);
      if (current?.id !== id || stale(r.incident)) return;
      info = { delivery: r.incident.delivery, help: r.incident.help || {} };
      current = { ...current, ...r.incident };
      render();
    } catch { /* the next event tries again */ }
  }, 100);
}

/** Where the call stands, in the resident's terms. */
function situation(i) {
  const awaiting = ["raised", "dispatched", "acknowledged", "en_route"].includes(i.state);
  const overdue = awaiting && (!!i.breached_at || Date.parse(i.deadline_at) <= Date.now());
  const notReceived = i.state === "dispatched"
    && (info?.delivery === "undelivered" || (i.escalation_level > 0 && info?.delivery !== "delivered"));
  return { awaiting, overdue, notReceived, trouble: overdue || notReceived };
}

function render() {
  const i = current;
  if (!i) { if (!sending) show("press"); return; }
  show("status");
  document.body.dataset.state = i.state;
  $("status").dataset.state = i.state;
  $("status").dataset.id = i.id;
  const s = situation(i);
  const postName = info?.help?.post?.name || t("sos.the_post");
  const now = STEP_OF[i.state];
  const at = STEPS.indexOf(now);
  document.querySelectorAll("#steps li").forEach((li) => {
    const n = STEPS.indexOf(li.dataset.step);
    li.classList.toggle("done", at >= 0 && n < at || i.state === "resolved" && n === at);
    li.classList.toggle("now", n === at && i.state !== "resolved");
    if (n === at && i.state !== "resolved") li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  });
  // The post's step says whether the post has it.
  const step = $("steps").querySelector("[data-step=dispatched]");
  step.dataset.trouble = String(s.notReceived);
  const stepKey = s.notReceived ? "sos.step.undelivered" : info?.help?.post ? "sos.step.dispatched_to" : "sos.step.dispatched";
  step.dataset.i18n = stepKey;
  step.textContent = t(stepKey, { post: postName });
  let headline;
  if (s.overdue) headline = "sos.overdue";
  else if (s.notReceived) headline = "sos.undelivered";
  else if (i.state === "dispatched") headline = info?.delivery === "delivered" ? "sos.received" : "sos.sent_waiting";
  else {
    headline = {
      raised: "sos.dispatching", acknowledged: "sos.coming", en_route: "sos.coming",
      on_scene: "sos.step.arrived", resolved: "sos.resolved", cancelled: "sos.cancelled",
    }[i.state] || "sos.dispatching";
  }
  $("headline").dataset.i18n = headline;
  $("headline").textContent = t(headline, { post: postName });
  // Who is coming, once someone has it in hand.
  const who = info?.help?.responder;
  $("coming").hidden = !(who && ["acknowledged", "en_route", "on_scene"].includes(i.state));
  $("coming").textContent = who ? t("sos.coming_who", { name: who }) : "";
  // Whom to call: 110 at once when in trouble, the post's number while the call is open.
  const phone = info?.help?.post?.phone;
  const open = isOpen(i) && i.state !== "on_scene";
  $("help-call").hidden = !open || !(s.trouble || phone);
  $("help-call").dataset.urgent = String(s.trouble);
  $("help-text").textContent = t(s.trouble ? "sos.help_trouble" : "sos.help_calm");
  $("call-110-now").hidden = !s.trouble;
  $("call-post").hidden = !phone;
  if (phone) {
    $("call-post").href = `tel:${phone.replace(/\s+/g, "")}`;
    $("call-post").textContent = t("sos.call_post", { post: postName, phone });
  }
  setIncident($("countdown"), i);
  const hasPlace = located || (i.lat != null && i.lon != null);
  $("location").textContent = t(hasPlace ? "sos.location_yes" : "sos.location_no");
  const cancellable = (i.allowed_actions || []).includes("cancel");
  $("cancel").hidden = !cancellable;
  $("again").hidden = isOpen(i);
  if (!cancellable) resetCancel();
}

// The promise can break with nobody touching the call: look every few seconds.
setInterval(() => { if (current && situation(current).awaiting) render(); }, 5000);

let confirming = false;
function resetCancel() {
  confirming = false;
  $("cancel").textContent = t("sos.cancel");
  $("cancel").dataset.i18n = "sos.cancel";
}

$("cancel").addEventListener("click", async () => {
  if (!confirming) {
    confirming = true;
    $("cancel").dataset.i18n = "sos.confirm_cancel";
    $("cancel").textContent = t("sos.confirm_cancel");
    return;
  }
  resetCancel();
  try {
    display(await act(current.id, "cancel", { reason: "resident: false alarm" }));
  } catch (e) {
    error(t("action.failed") + errorText(e));
  }
});

$("again").addEventListener("click", () => { current = null; info = null; located = null; error(""); show("press"); $("sos").focus(); });
holdButton($("sos"), 1000, raise);

const stream = new Stream({
  onStatus: showNet,
  onHello: (hello) => {
    const open = (hello.open_incidents || []).filter(isOpen).sort((a, b) => b.created_at.localeCompare(a.created_at));
    if (current) {
      const again = (hello.open_incidents || []).find((x) => x.id === current.id);
      if (again) display(again);
    } else if (open.length && !sending) {
      display(open[0]);
    }
  },
  onEvent: (ev) => {
    if (!ev.incident) return;
    if (current && ev.incident.id === current.id) display(ev.incident);
    else if (!current && !sending && isOpen(ev.incident)) display(ev.incident);
  },
});
stream.start();
window.gwSos = { stream, get current() { return current; } };
onChange(render);
render();
