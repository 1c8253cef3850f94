// The plan of the community, drawn from the grid polygons (SVG, no map tiles): grids with
// their names, posts, cameras (green, red when offline) and open incidents (click to open).
import { svg } from "./svg.js";

const W = 1000;

export function drawPlan(box, { grids, posts, cameras, incidents, onIncident }) {
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
  const root = svg("svg", { viewBox: `0 0 ${W} ${H.toFixed(0)}`, role: "img", preserveAspectRatio: "xMidYMid meet" });
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
  const titled = (node, text) => { const t = svg("title"); t.textContent = text; node.append(t); return node; };
  for (const p of posts) {
    if (p.lat == null) continue;
    root.append(titled(svg("rect", { class: "plan-post", x: px(p.lon) - 9, y: py(p.lat) - 9, width: 18, height: 18, rx: 3 }), p.name));
  }
  for (const c of cameras) {
    if (c.lat == null) continue;
    root.append(titled(svg("circle", { class: "plan-cam", "data-status": c.status || "unknown", cx: px(c.lon), cy: py(c.lat), r: 8 }), c.name));
  }
  for (const i of incidents) {
    if (i.lat == null) continue;
    const dot = titled(svg("circle", { class: "plan-inc", "data-id": i.id, cx: px(i.lon), cy: py(i.lat), r: 14, tabindex: "0" }), i.kind);
    dot.addEventListener("click", () => onIncident(i.id));
    root.append(dot);
  }
  box.replaceChildren(root);
}
