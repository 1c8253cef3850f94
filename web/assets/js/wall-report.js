// The response report (GET /api/v1/reports/response?group_by=grid): a chart of arrival times
// per grid (median and 90th percentile against the 15-minute line) and the table of figures.
// Incidents still within their deadline with nobody on scene are "pending": counted apart,
// neither kept nor broken yet.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./format.js";
import { svg } from "./svg.js";

const LIMIT = 15 * 60;

// "console 3 · sms 2": how the counted incidents reached people (a console's receipt, or a
// notification channel by its configured name), in the page's language where it has a word.
function reachedBy(ways) {
  return Object.entries(ways || {})
    .map(([way, n]) => `${way === "console" ? t("report.by_console") : way} ${n}`)
    .join(" · ") || "—";
}

export async function drawReport(chart, table, gridName) {
  const rows = await get("/api/v1/reports/response?group_by=grid");
  const name = (key) => gridName(key) || key;
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...["report.grid", "report.incidents", "report.on_scene", "report.within", "report.ratio", "report.median", "report.p90", "report.pending", "report.reached_by"]
      .map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows.map((r) => el("tr", { "data-key": r.key },
      el("td", { text: name(r.key) }), el("td", { text: String(r.incidents) }), el("td", { text: String(r.on_scene) }),
      el("td", { text: String(r.within_deadline) }), el("td", { text: percent(r.within_deadline_ratio) }),
      el("td", { text: mins(r.median_seconds) }), el("td", { text: mins(r.p90_seconds) }),
      el("td", { text: String(r.pending ?? 0) }), el("td", { text: reachedBy(r.reached_by) })))));
  const rowH = 34;
  const left = 180;
  const width = 900;
  const max = Math.max(LIMIT * 1.2, ...rows.map((r) => r.p90_seconds || 0));
  const x = (s) => left + (s / max) * (width - left - 20);
  const H = rows.length * rowH + 40;
  const root = svg("svg", { viewBox: `0 0 ${width} ${H}`, role: "img", "aria-label": t("report.chart") });
  rows.forEach((r, n) => {
    const y = 10 + n * rowH;
    const label = svg("text", { class: "chart-text", x: left - 10, y: y + 18, "text-anchor": "end" });
    label.textContent = name(r.key);
    root.append(label);
    if (r.p90_seconds != null) root.append(svg("rect", { class: "bar-p90", x: left, y: y + 4, width: x(r.p90_seconds) - left, height: rowH - 10 }));
    if (r.median_seconds != null) root.append(svg("rect", { class: "bar-ok", x: left, y: y + 8, width: Math.max(2, x(r.median_seconds) - left), height: rowH - 18 }));
  });
  root.append(svg("line", { class: "chart-limit", x1: x(LIMIT), x2: x(LIMIT), y1: 0, y2: H - 24 }));
  const lim = svg("text", { class: "chart-text", x: x(LIMIT), y: H - 6, "text-anchor": "middle" });
  lim.textContent = t("report.limit");
  root.append(lim);
  chart.replaceChildren(root);
}

// No ratio while every incident of the row is still within its deadline: "–", not "0%".
export function percent(ratio) {
  return ratio == null ? "–" : `${Math.round(ratio * 100)}%`;
}

function mins(s) {
  if (s == null) return "–";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, "0")}`;
}
