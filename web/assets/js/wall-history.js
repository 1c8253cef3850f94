// The incident history: every incident, open or closed, filtered by state, grid, kind and
// time (GET /api/v1/incidents), newest first; a row opens the incident with its full
// timeline.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el, kindLabel, stateLabel, dateTime } from "./format.js";
import { errorText } from "./errors.js";

const $ = (id) => document.getElementById(id);

export class History {
  constructor({ names, grids, onSelect }) {
    this.names = names;
    this.grids = grids;
    this.onSelect = onSelect;
    this.rows = null;
    $("history-filter").addEventListener("submit", (e) => { e.preventDefault(); this.load(); });
  }

  show() {
    const sel = $("h-grid");
    const was = sel.value;
    sel.replaceChildren(el("option", { value: "", "data-i18n": "history.any", text: t("history.any") }),
      ...this.grids().map((g) => el("option", { value: g.id, text: g.name })));
    sel.value = was;
    this.load();
  }

  query() {
    const f = new FormData($("history-filter"));
    const q = new URLSearchParams({ limit: "200" });
    for (const k of ["state", "grid_id", "kind"]) if (f.get(k)) q.set(k, f.get(k));
    // The inputs are local times; the hub takes RFC 3339.
    for (const k of ["since", "until"]) if (f.get(k)) q.set(k, new Date(f.get(k)).toISOString());
    return q;
  }

  async load() {
    $("history-error").hidden = true;
    try {
      this.rows = await get(`/api/v1/incidents?${this.query()}`);
      this.render();
    } catch (e) {
      $("history-error").textContent = t("action.failed") + errorText(e);
      $("history-error").hidden = false;
    }
  }

  /** An incident changed on the stream: its row follows. */
  changed(incident) {
    if (!this.rows || $("history").hidden) return;
    const n = this.rows.findIndex((r) => r.id === incident.id);
    if (n >= 0) { this.rows[n] = { ...this.rows[n], ...incident }; this.render(); }
  }

  render() {
    if (!this.rows) return;
    const head = ["history.when", "history.kind", "history.state", "detail.grid", "detail.post"];
    $("history-table").replaceChildren(
      el("caption", { class: "muted", text: t("history.count", { n: this.rows.length }) }),
      el("thead", {}, el("tr", {}, ...head.map((k) => el("th", { scope: "col", text: t(k) })))),
      el("tbody", {}, ...this.rows.map((i) => el("tr", { "data-id": i.id, "data-state": i.state },
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => this.onSelect(i.id), text: dateTime(i.created_at) })),
        el("td", { text: kindLabel(i.kind) }),
        el("td", { text: stateLabel(i.state) }),
        el("td", { text: this.names.grid(i.grid_id) || "–" }),
        el("td", { text: i.post_id ? this.names.post(i.post_id) : "–" })))));
  }
}
