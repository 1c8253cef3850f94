// The admin's motion zones page (/zones?camera=ID): the camera's snapshot with its zones drawn
// over it as polygons, in fractions of the picture (so they fit the sub stream the detector
// decodes). "Draw a zone", then click points and close it (on the first point, or the button);
// a click on a zone selects it and its points can be dragged; each zone has a name and a
// delete button. Beside the zones: on/off, the schedule (day and night, or a window that may
// cross midnight, e.g. 22:00–06:00), the minimum area, duration and the cooldown. Saving PUTs
// /api/v1/cameras/{id}/motion; a 400 names its field, said in the page's language and marked
// on the zone at fault.
import { api, get } from "./api.js";
import { t, onChange } from "./i18n.js";
import { enter } from "./page.js";
import { svg } from "./svg.js";
import { el } from "./format.js";
import { errorText } from "./errors.js";
import { showSnapshot } from "./snapshot.js";

const $ = (id) => document.getElementById(id);
/** Pixels within which a click on the first point closes the zone being drawn. */
const CLOSE_PX = 12;
const state = { camera: null, settings: null, zones: [], selected: null, drawing: null, invalid: null };

await enter(["admin"]);

/** The status line: a key (relabelled on a language switch) or a text made now. */
function say(key, text) {
  const s = $("status");
  delete s.dataset.saved;
  delete s.dataset.error;
  delete s.dataset.field;
  if (key) { s.dataset.i18n = key; s.textContent = t(key); } else { delete s.dataset.i18n; s.textContent = text || ""; }
}

const cameras = await get("/api/v1/cameras");
const wanted = new URLSearchParams(location.search).get("camera");
$("camera").replaceChildren(...cameras.map((c) => el("option", { value: c.id, text: c.name })));
if (wanted && cameras.some((c) => c.id === wanted)) $("camera").value = wanted;
$("camera").addEventListener("change", () => load($("camera").value));

/** A pointer position as fractions of the picture, within 0..1. */
function at(e) {
  const b = $("overlay").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((e.clientX - b.left) / b.width), clamp((e.clientY - b.top) / b.height)];
}

function draw() {
  const img = $("snapshot");
  const w = img.clientWidth, h = img.clientHeight;
  const px = ([x, y]) => [x * w, y * h];
  const pts = (points) => points.map((p) => px(p).join(",")).join(" ");
  const shapes = [];
  state.zones.forEach((z, i) => {
    const selected = state.selected === i;
    shapes.push(svg("polygon", { class: "zone", points: pts(z.points), "data-zone": i, "data-selected": String(selected),
      "data-invalid": String(state.invalid === i) }));
    const [lx, ly] = px(z.points[0]);
    const label = svg("text", { class: "zone-label", x: lx + 6, y: ly - 6 });
    label.textContent = z.name;
    shapes.push(label);
    if (selected) z.points.forEach((p, k) => {
      const [x, y] = px(p);
      shapes.push(svg("circle", { class: "vertex", cx: x, cy: y, r: 7, "data-zone": i, "data-vertex": k }));
    });
  });
  if (state.drawing) {
    const d = state.drawing;
    if (d.length > 1) shapes.push(svg("polyline", { class: "draft", points: pts(d) }));
    d.forEach((p, k) => {
      const [x, y] = px(p);
      shapes.push(svg("circle", { class: "draft-point" + (k === 0 ? " first" : ""), cx: x, cy: y, r: k === 0 ? 9 : 5 }));
    });
  }
  $("overlay").setAttribute("viewBox", `0 0 ${w} ${h}`);
  $("overlay").dataset.drawing = String(!!state.drawing);
  $("overlay").replaceChildren(...shapes);
  list();
}

/** The zones beside the picture: name (editable), number of points, delete. */
function list() {
  $("no-zones").hidden = state.zones.length > 0;
  $("zone-list").replaceChildren(...state.zones.map((z, i) => {
    const name = el("input", { value: z.name, "aria-label": t("zones.name"), maxlength: "60",
      oninput: (e) => { z.name = e.target.value; drawLabelsOnly(); }, onfocus: () => select(i) });
    return el("li", { "data-zone": String(i), "data-selected": String(state.selected === i), "data-invalid": String(state.invalid === i) },
      name, el("span", { class: "muted", text: t("zones.points", { n: String(z.points.length) }) }),
      el("button", { type: "button", class: "danger", "data-delete": String(i), text: t("zones.delete"), onclick: () => remove(i) }));
  }));
  const drawing = !!state.drawing;
  $("add-zone").hidden = drawing;
  $("close-zone").hidden = !drawing;
  $("discard-zone").hidden = !drawing;
  const hint = $("hint");
  hint.dataset.i18n = drawing ? "zones.drawing" : "zones.help";
  hint.textContent = t(hint.dataset.i18n);
}

/** Typing a name redraws the labels, not the list (the input keeps its focus). */
function drawLabelsOnly() {
  const labels = $("overlay").querySelectorAll(".zone-label");
  state.zones.forEach((z, i) => { if (labels[i]) labels[i].textContent = z.name; });
}

function select(i) {
  if (state.selected === i) return;
  state.selected = i;
  draw();
}

function remove(i) {
  state.zones.splice(i, 1);
  state.selected = null;
  state.invalid = null;
  draw();
}

/** Ends the zone being drawn: a zone of at least three points, named "Zone n". */
function closeZone() {
  const d = state.drawing;
  if (!d || d.length < 3) { say("zones.too_few"); return; }
  const used = new Set(state.zones.map((z) => z.name));
  let n = state.zones.length + 1;
  while (used.has(t("zones.default_name", { n: String(n) }))) n++;
  state.zones.push({ name: t("zones.default_name", { n: String(n) }), points: d });
  state.selected = state.zones.length - 1;
  state.drawing = null;
  say(null);
  draw();
}

$("add-zone").addEventListener("click", () => { state.drawing = []; state.selected = null; say("zones.drawing"); draw(); });
$("close-zone").addEventListener("click", closeZone);
$("discard-zone").addEventListener("click", () => { state.drawing = null; say(null); draw(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.drawing) { state.drawing = null; say(null); draw(); } });

// Drawing: each click adds a point; a click on the first point closes the zone. Otherwise a
// click on a zone selects it, and a selected zone's points are dragged.
let drag = null;
$("overlay").addEventListener("pointerdown", (e) => {
  if (state.drawing) {
    const p = at(e);
    const first = state.drawing[0];
    const b = $("overlay").getBoundingClientRect();
    if (first && state.drawing.length >= 3 && Math.hypot((p[0] - first[0]) * b.width, (p[1] - first[1]) * b.height) <= CLOSE_PX) {
      closeZone();
    } else {
      state.drawing.push(p);
      draw();
    }
    e.preventDefault();
    return;
  }
  const v = e.target.dataset?.vertex;
  if (v != null) {
    drag = { zone: Number(e.target.dataset.zone), vertex: Number(v) };
    $("overlay").setPointerCapture(e.pointerId);
    e.preventDefault();
    return;
  }
  const z = e.target.dataset?.zone;
  select(z == null ? null : Number(z));
});
$("overlay").addEventListener("pointermove", (e) => {
  if (!drag) return;
  state.zones[drag.zone].points[drag.vertex] = at(e);
  draw();
});
const end = () => { drag = null; };
$("overlay").addEventListener("pointerup", end);
$("overlay").addEventListener("pointercancel", end);
addEventListener("resize", draw);
onChange(() => { list(); if ($("status").dataset.error) showError(JSON.parse($("status").dataset.error)); });

function showSchedule() { $("form").dataset.schedule = $("schedule").value; }
$("schedule").addEventListener("change", showSchedule);

/** The form's values into the hub's settings (the time zone kept as loaded). */
function settings() {
  const number = (id) => ($(id).value.trim() === "" ? NaN : Number($(id).value));
  const schedule = $("schedule").value === "window"
    ? { kind: "window", start: $("start").value, end: $("end").value } : { kind: "always" };
  return {
    enabled: $("enabled").checked,
    zones: state.zones.map((z) => ({ name: z.name, points: z.points.map(([x, y]) => [round(x), round(y)]) })),
    schedule,
    utc_offset_minutes: state.settings?.utc_offset_minutes ?? 480,
    min_area: round(number("min-area") / 100),
    min_duration_ms: Math.round(number("min-duration") * 1000),
    cooldown_seconds: Math.round(number("cooldown")),
  };
}

/** Fractions to four decimals: a tenth of a pixel on a 1080p picture, and short JSON. */
const round = (v) => Math.round(v * 10000) / 10000;

/** The field the hub named, in the page's words: a zone's by its name, else the field's own. */
function fieldText(field) {
  const m = /^zones\[(\d+)\]\.(name|points)/.exec(field || "");
  if (m) return t("field.zone_" + m[2], { zone: state.zones[Number(m[1])]?.name || String(Number(m[1]) + 1) });
  const key = "field." + field;
  return t(key) === key ? t("field.other") : t(key);
}

function showError(err) {
  const s = $("status");
  delete s.dataset.i18n;
  delete s.dataset.saved;
  s.dataset.error = JSON.stringify({ code: err.code, field: err.field, status: err.status, state: err.state });
  s.dataset.field = err.field || "";
  s.textContent = err.code === "invalid" ? t("err.invalid", { field: fieldText(err.field) }) : errorText(err);
  const m = /^zones\[(\d+)\]/.exec(err.field || "");
  state.invalid = m ? Number(m[1]) : null;
  draw();
}

function fill(s) {
  state.settings = s;
  state.zones = s.zones.map((z) => ({ name: z.name, points: z.points.map((p) => [...p]) }));
  state.selected = null;
  state.invalid = null;
  state.drawing = null;
  $("enabled").checked = s.enabled;
  $("schedule").value = s.schedule.kind;
  if (s.schedule.kind === "window") { $("start").value = s.schedule.start; $("end").value = s.schedule.end; }
  $("min-area").value = String(round(s.min_area * 100));
  $("min-duration").value = String(s.min_duration_ms / 1000);
  $("cooldown").value = String(s.cooldown_seconds);
  showSchedule();
}

async function load(id) {
  state.camera = id;
  say(null);
  fill(await get(`/api/v1/cameras/${encodeURIComponent(id)}/motion`));
  const img = $("snapshot");
  img.onload = () => { if ($("status").dataset.i18n === "zones.no_snapshot") say(null); draw(); };
  draw();
  showSnapshot(img, id, { onMissing: () => say("zones.no_snapshot"), stillWanted: () => state.camera === id });
}

$("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (state.drawing) closeZone();
  if (state.drawing) return;
  try {
    const saved = await api("PUT", `/api/v1/cameras/${encodeURIComponent(state.camera)}/motion`, settings());
    fill(saved);
    draw();
    say("zones.saved");
    $("status").dataset.saved = "true";
  } catch (err) {
    showError(err);
  }
});

if (cameras.length) await load($("camera").value);
