// The admin's fisheye calibration page (/calibrate?camera=ID): the camera's snapshot with the
// image circle over it; dragging the centre moves the circle, dragging its edge resizes it;
// the red line shows where the panorama starts (orientation). A panorama preview under it
// shows what the wall will show. Saving PUTs /api/v1/cameras/{id}/dewarp; a bad value comes
// back as a 400 naming its field, shown as it is.
import { api, get } from "./api.js";
import { t } from "./i18n.js";
import { enter } from "./page.js";
import { svg } from "./svg.js";
import { Dewarper, DEFAULT_CALIBRATION, dewarpSupported } from "./dewarp.js";
import { errorText } from "./errors.js";
import { showSnapshot } from "./snapshot.js";

const $ = (id) => document.getElementById(id);
const state = { camera: null, cal: { ...DEFAULT_CALIBRATION }, calibrated: false };
let preview = null;

await enter(["admin"]);
/** The status line in the page's language: a key (relabelled by a language switch, see
 *  i18n.js's data-i18n) or, for an error, its text. */
function say(key, text) {
  const s = $("status");
  if (key) { s.dataset.i18n = key; s.textContent = t(key); } else { delete s.dataset.i18n; s.textContent = text || ""; }
}

const cameras = (await get("/api/v1/cameras")).filter((c) => c.panoramic);
const wanted = new URLSearchParams(location.search).get("camera");
$("camera").replaceChildren(...cameras.map((c) => {
  const o = document.createElement("option");
  o.value = c.id; o.textContent = c.name;
  return o;
}));
if (wanted && cameras.some((c) => c.id === wanted)) $("camera").value = wanted;
$("camera").addEventListener("change", () => load($("camera").value));

/** The snapshot's size on screen, to turn pointer positions into fractions of the frame. */
const stage = () => $("overlay").getBoundingClientRect();

function draw() {
  const img = $("snapshot");
  const w = img.clientWidth, h = img.clientHeight;
  const { center_x: cx, center_y: cy, radius: r, orientation } = state.cal;
  const px = cx * w, py = cy * h, pr = r * w;
  const a = (orientation || 0) * Math.PI / 180;
  $("overlay").setAttribute("viewBox", `0 0 ${w} ${h}`);
  $("overlay").replaceChildren(
    svg("circle", { class: "circle", cx: px, cy: py, r: pr, "data-handle": "edge" }),
    svg("line", { class: "north", x1: px, y1: py, x2: px + pr * Math.cos(a), y2: py + pr * Math.sin(a) }),
    svg("circle", { class: "centre", cx: px, cy: py, r: 8, "data-handle": "centre" }));
  $("radius").value = r.toFixed(3);
  $("orientation").value = String(orientation);
  $("mount").value = state.cal.mount;
  preview?.setCalibration(state.cal);
}

async function load(id) {
  state.camera = id;
  say(null);
  const c = await get(`/api/v1/cameras/${encodeURIComponent(id)}/dewarp`);
  state.cal = { mount: c.mount, center_x: c.center_x, center_y: c.center_y, radius: c.radius, orientation: c.orientation };
  state.calibrated = c.calibrated;
  if (!c.calibrated) say("dewarp.uncalibrated");
  const img = $("snapshot");
  img.onload = () => {
    say(state.calibrated ? null : "dewarp.uncalibrated");
    draw();
    if (dewarpSupported({ software: true })) { // one drawing per snapshot
      preview?.stop();
      preview = new Dewarper(img, $("preview"), state.cal, { view: "panorama" });
      preview.draw();
    }
  };
  showSnapshot(img, id, { onMissing: () => say("dewarp.no_snapshot"), stillWanted: () => state.camera === id });
}

// Dragging: the centre moves the circle, the edge sets the radius.
let drag = null;
$("overlay").addEventListener("pointerdown", (e) => {
  const handle = e.target.dataset?.handle;
  if (!handle) return;
  drag = handle;
  $("overlay").setPointerCapture(e.pointerId);
  e.preventDefault();
});
$("overlay").addEventListener("pointermove", (e) => {
  if (!drag) return;
  const b = stage();
  const x = Math.min(1, Math.max(0, (e.clientX - b.left) / b.width));
  const y = Math.min(1, Math.max(0, (e.clientY - b.top) / b.height));
  if (drag === "centre") { state.cal.center_x = x; state.cal.center_y = y; }
  else {
    const dx = x - state.cal.center_x, dy = (y - state.cal.center_y) * b.height / b.width;
    state.cal.radius = Math.min(1, Math.max(0.05, Math.hypot(dx, dy)));
  }
  draw();
});
const end = () => { drag = null; };
$("overlay").addEventListener("pointerup", end);
$("overlay").addEventListener("pointercancel", end);
for (const [id, key] of [["radius", "radius"], ["orientation", "orientation"]]) {
  $(id).addEventListener("input", () => { const v = Number($(id).value); if (Number.isFinite(v)) { state.cal[key] = v; draw(); } });
}
$("mount").addEventListener("change", () => { state.cal.mount = $("mount").value; draw(); });
addEventListener("resize", draw);

$("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api("PUT", `/api/v1/cameras/${encodeURIComponent(state.camera)}/dewarp`, state.cal);
    say("dewarp.saved");
    state.calibrated = true;
    $("status").dataset.saved = "true";
  } catch (err) {
    say(null, errorText(err));
    delete $("status").dataset.saved;
  }
});

if (cameras.length) await load($("camera").value);
