// The false-alarm table under the response report (GET /api/v1/reports/false-alarms): per
// camera, its motion alerts of the last 30 days, those still open, those dismissed as false
// alarms, and the rate among the closed ones ("–" while none is closed).
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el } from "./format.js";
import { percent } from "./wall-report.js";

export async function drawFalseAlarms(table, none) {
  const rows = await get("/api/v1/reports/false-alarms");
  none.hidden = rows.length > 0;
  table.hidden = rows.length === 0;
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...["false_alarms.camera", "false_alarms.alarms", "false_alarms.open", "false_alarms.count", "false_alarms.ratio"]
      .map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows.map((r) => el("tr", { "data-camera": r.camera_id },
      el("td", { text: r.camera }), el("td", { text: String(r.alarms) }), el("td", { text: String(r.open) }),
      el("td", { text: String(r.false_alarms) }), el("td", { class: "ratio", text: percent(r.false_alarm_ratio) })))));
}
