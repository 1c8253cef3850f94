// The plan of the community, drawn from the grid polygons (SVG, no map tiles): grids with
// their names, posts and cameras with theirs (a camera opens on the wall when clicked; green,
// red when offline), open incidents (click to open) — and, beside it, the open incidents that
// have no position, which a map alone would hide.
import { svg } from "./svg.js";
import { t } from "./i18n.js";
import { el, kindLabel, stateLabel, age } from "./format.js";

const W = 1000;

export function drawPlan(box, noGps, { grids, posts, cameras, incidents, highlight, names, onIncident, onCamera }) {
  noGps.replaceChildren(...incidents.filter((i) => i.lat == null || i.lon == null).map((i) =>
    el("li", { "data-id": i.id }, el("button", { type: "button", class: "link", onclick: () => onIncident(i.id),
      text: `${kindLabel(i.kind)} · ${stateLabel(i.state)} · ${names.grid(i.grid_id) || "–"} · ${age(i.created_at)}` }))));
  const pts = [];
  for (const g of grids) for (const ring of g.polygon?.coordinates || []) for (const [lon, lat] of ring) pts.push([lon, lat]);
  for (const x of [...posts, ...cameras, ...incidents]) if (x.lat != null && x.lon != null) pts.push([x.lon, x.lat]);
  if (!pts.length) { box.replaceChildren(); return; }
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y); }
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);  // metres per degree of longitude shrink
  const pad = 0.08;
  const spanX = Math.max((maxX - minX) * k, 1e-6);
  const spanY = Math.max(maxY - minY, 1e-6);
  const scale = W / (spanX * (1 + 2 * pad));
  const H = spanY * (1 + 2 * pad) * scale;
  const px = (lon) => ((lon - minX) * k + spanX * pad) * scale;
  const py = (lat) => H - ((lat - minY) + spanY * pad) * scale;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H.toFixed(0)}`, role: "group", "aria-label": t("plan.title"), preserveAspectRatio: "xMidYMid meet" });
  for (const g of grids) {
    const ring = g.polygon?.coordinates?.[0];
    if (!ring) continue;
    root.append(svg("polygon", { class: "plan-grid", points: ring.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ") }));
    const cx = ring.slice(0, -1).reduce((s, [x]) => s + x, 0) / Math.max(1, ring.length - 1);
    const cy = ring.slice(0, -1).reduce((s, [, y]) => s + y, 0) / Math.max(1, ring.length - 1);
    const label = svg("text", { class: "plan-label", x: px(cx), y: py(cy), "text-anchor": "middle" });
    label.textContent = g.name;
    root.append(label);
  }
  const titled = (node, text) => { const title = svg("title"); title.textContent = text; node.append(title); return node; };
  const label = (x, y, text, cls) => {
    const l = svg("text", { class: cls, x: x + 12, y: y + 5 });
    l.textContent = text;
    return l;
  };
  for (const p of posts) {
    if (p.lat == null) continue;
    root.append(titled(svg("rect", { class: "plan-post", x: px(p.lon) - 9, y: py(p.lat) - 9, width: 18, height: 18, rx: 3 }), p.name));
    root.append(label(px(p.lon), py(p.lat), p.name, "plan-post-label"));
  }
  for (const c of cameras) {
    if (c.lat == null) continue;
    const dot = titled(svg("circle", { class: "plan-cam", "data-camera": c.id, "data-status": c.status || "unknown",
      cx: px(c.lon), cy: py(c.lat), r: 8, tabindex: "0", role: "button", "aria-label": c.name }), c.name);
    dot.addEventListener("click", () => onCamera(c.id));
    dot.addEventListener("keydown", (e) => { if (e.key === "Enter") onCamera(c.id); });
    root.append(dot, label(px(c.lon), py(c.lat), c.name, "plan-cam-label"));
  }
  for (const i of incidents) {
    if (i.lat == null) continue;
    const dot = titled(svg("circle", { class: "plan-inc" + (i.id === highlight ? " highlight" : ""), "data-id": i.id,
      cx: px(i.lon), cy: py(i.lat), r: 14, tabindex: "0", role: "button", "aria-label": kindLabel(i.kind) }), kindLabel(i.kind));
    dot.addEventListener("click", () => onIncident(i.id));
    dot.addEventListener("keydown", (e) => { if (e.key === "Enter") onIncident(i.id); });
    root.append(dot);
  }
  box.replaceChildren(root);
}
