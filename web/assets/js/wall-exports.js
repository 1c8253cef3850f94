// Who took video out of the centre (GET /api/v1/exports): every download of a camera's
// recordings and of an incident's evidence clips in the last 30 days, newest first — when,
// who (and from which address), which camera, what (the recorded time, or the incident's
// clip) and which bytes. Shown under the response report, for duty officers and admins.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el, clock, stamp } from "./format.js";

/** "2.4 MB" — bytes for people. */
function size(n) {
  if (n == null) return "";
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** What was taken: a camera's recorded time, or one of an incident's evidence clips. */
function what(x) {
  if (x.type === "incident.evidence_downloaded") return t("exports.clip", { id: x.incident_id });
  const sameDay = stamp(x.from).slice(0, 10) === stamp(x.to).slice(0, 10);
  return t("exports.recording", { from: stamp(x.from), to: sameDay ? clock(x.to) : stamp(x.to) });
}

/** Which bytes: all of it (alone, or in the incident's evidence package), or part (a player
 *  seeking asks for parts). */
function part(x) {
  const which = x.range === "all" ? t("exports.all")
    : x.range === "package" ? t("exports.package")
      : t("exports.part", { range: x.range.replace(/^bytes /, "") });
  return x.bytes != null ? `${which} · ${size(x.bytes)}` : which;
}

export async function drawExports(table, none, more, cameraName) {
  const answer = await get("/api/v1/exports");
  const rows = answer.exports;
  none.hidden = rows.length > 0;
  table.hidden = rows.length === 0;
  more.hidden = !answer.more;
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...["exports.at", "exports.who", "exports.camera", "exports.what", "exports.bytes"]
      .map((k) => el("th", { scope: "col", text: t(k) })))),
    el("tbody", {}, ...rows.map((x) => el("tr", { "data-seq": String(x.seq), "data-type": x.type, "data-camera": x.camera_id ?? "" },
      el("td", { text: stamp(x.at) }),
      el("td", { text: x.by ? x.by.display_name || x.by.username : x.actor, title: x.origin }),
      el("td", { text: cameraName(x.camera_id) }),
      el("td", { class: "what", text: what(x) }),
      el("td", { class: "bytes", text: part(x) })))));
}
