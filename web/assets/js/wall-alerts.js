// The alert rail: every open incident, newest first, with its state, age and the countdown to
// its deadline. An incident with an alarm not yet acknowledged on this screen flashes. A
// camera's motion alert carries a "false alarm" button beside its card.
import { el, kindLabel, stateLabel, age, isOpen } from "./format.js";
import { t } from "./i18n.js";
import { countdown } from "./countdown.js";
import { deliveryAfter } from "./alarms.js";

export class AlertRail {
  constructor(list, empty, { onSelect, onDismiss, names }) {
    this.list = list;
    this.empty = empty;
    this.onSelect = onSelect;
    this.onDismiss = onDismiss;
    this.names = names; // {grid(id), post(id)}
    this.incidents = new Map();
    this.unseen = new Set();
    this.selected = null;
    setInterval(() => this.list.querySelectorAll("[data-age]").forEach((e) => {
      e.textContent = age(e.dataset.age);
    }), 1000);
  }

  /** Replaces everything (hello: the incidents carry `delivery`). */
  reset(open) {
    this.incidents = new Map(open.map((i) => [i.id, i]));
    this.render();
  }

  /** An event's incident; where its dispatch stands follows from the event. */
  apply(event) {
    const before = this.incidents.get(event.incident.id);
    const incident = { ...event.incident, delivery: deliveryAfter(event, before?.delivery ?? event.incident.delivery) };
    this.upsert(incident);
    return incident;
  }

  upsert(incident) {
    if (isOpen(incident)) this.incidents.set(incident.id, { ...this.incidents.get(incident.id), ...incident });
    else this.incidents.delete(incident.id);
    this.render();
  }

  /** The incidents with an alarm not yet acknowledged on this screen. */
  setUnseen(ids) {
    const same = ids.size === this.unseen.size && [...ids].every((id) => this.unseen.has(id));
    this.unseen = ids;
    if (!same) this.render();
  }

  render() {
    const items = [...this.incidents.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    this.empty.hidden = items.length > 0;
    this.list.replaceChildren(...items.map((i) => this.item(i)));
  }

  item(i) {
    const where = [this.names.grid(i.grid_id), i.post_id && `→ ${this.names.post(i.post_id)}`].filter(Boolean).join(" ");
    const b = el("button", { type: "button", class: "alert-card", onclick: () => this.onSelect(i.id) },
      el("span", { class: "kind", text: kindLabel(i.kind) }),
      el("span", { class: "state", "data-state": i.state, text: stateLabel(i.state) }),
      el("span", { class: "where", text: where }),
      el("span", { class: "age", "data-age": i.created_at, text: age(i.created_at) }),
      countdown(i));
    // A camera's motion alert with nothing there: dismissed from the rail in one click.
    const dismiss = (i.allowed_actions || []).includes("dismiss")
      ? el("button", { type: "button", class: "dismiss danger", "data-i18n": "action.dismiss", title: t("action.dismiss_title"),
        text: t("action.dismiss"), onclick: () => this.onDismiss?.(i.id) })
      : null;
    return el("li", {
      "data-id": i.id,
      "data-state": i.state,
      "data-kind": i.kind,
      class: [this.unseen.has(i.id) && "new", this.selected === i.id && "selected"].filter(Boolean).join(" ") || null,
    }, b, dismiss);
  }

  relabel() { this.render(); }
}
