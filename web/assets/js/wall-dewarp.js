// A panoramic camera's wall tile: the fisheye straightened (dewarp.js) into a canvas over the
// video, the panorama by default, with a small switcher (panorama / 2×180° / quad / PTZ /
// raw). The video keeps playing underneath (hidden), so latency and stall detection are those
// of any tile. Without WebGL2 on a GPU the tile stays the raw fisheye (see dewarpSupported).
import { Dewarper, VIEWS, dewarpSupported } from "./dewarp.js";
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./format.js";

/** The view chosen last for this camera on this screen, else the panorama. */
const savedView = (id) => {
  const v = localStorage.getItem("gw.dewarp." + id);
  return VIEWS.includes(v) ? v : "panorama";
};

/** Adds dewarping to a tile entry ({tile, camera, ...}) whose <video> is `video`. */
export function attachDewarp(entry, video) {
  if (!entry.camera.panoramic || !dewarpSupported({ software: localStorage.getItem("gw.dewarp.software") === "1" })) return;
  const id = entry.camera.id;
  const canvas = el("canvas", { class: "dewarp", role: "img", "aria-label": entry.camera.name });
  let dewarper;
  try {
    dewarper = new Dewarper(video, canvas, undefined, { view: savedView(id) });
  } catch {
    return; // no WebGL2 after all: the raw picture
  }
  const buttons = VIEWS.map((v) => {
    const b = el("button", { type: "button", "data-view": v, title: t("dewarp.view." + v), text: t("dewarp.short." + v) });
    b.addEventListener("click", (e) => { e.stopPropagation(); choose(v); });
    b.addEventListener("keydown", (e) => e.stopPropagation());
    return b;
  });
  const bar = el("div", { class: "dewarp-views", role: "group", "aria-label": t("dewarp.views") }, ...buttons);
  const choose = (v) => {
    dewarper.setView(v);
    localStorage.setItem("gw.dewarp." + id, v);
    entry.tile.dataset.view = v;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.view === v));
  };
  video.after(canvas);
  entry.tile.append(bar);
  entry.tile.classList.add("panoramic");
  choose(dewarper.view);
  dewarper.start();
  entry.dewarp = dewarper;
  entry.dewarpBar = bar;
  get(`/api/v1/cameras/${encodeURIComponent(id)}/dewarp`)
    .then((c) => dewarper.setCalibration(c))
    .catch(() => { /* the default circle until the hub answers */ });
}

/** Stops a tile's dewarping (the tile is leaving the wall). */
export function detachDewarp(entry) { entry.dewarp?.stop(); }

/** Labels again after a language switch. */
export function relabelDewarp(entry) {
  if (!entry.dewarpBar) return;
  entry.dewarpBar.setAttribute("aria-label", t("dewarp.views"));
  for (const b of entry.dewarpBar.querySelectorAll("button")) {
    b.title = t("dewarp.view." + b.dataset.view);
    b.textContent = t("dewarp.short." + b.dataset.view);
  }
}
