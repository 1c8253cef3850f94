// Alarms come from where incidents stand, not only from events seen live: a wall or console
// opened (or reloaded) on an SOS nobody has looked at, a dispatch nobody received, an
// escalation, a broken promise, rings as if it had seen it happen. Each reason has a key
// (which escalation, which dispatch, which repeat press); once someone acknowledges it on
// this screen the key is remembered (localStorage), so that a reload does not ring again for
// what was seen — and a new reason rings, since its key is new.

/** Why an incident rings, most urgent first: the banner names the first. */
export const REASONS = ["undelivered", "breached", "escalated", "at_risk", "new_sos"];

/** The reasons `incident` rings for now, as {reason, key}. `delivery` is where its latest
 *  dispatch stands ({dispatch_seq, delivery}) when known. */
export function reasonsOf(incident, delivery = incident.delivery) {
  const i = incident;
  if (!["raised", "dispatched", "acknowledged", "en_route", "on_scene"].includes(i.state)) return [];
  const out = [];
  const waiting = i.state !== "on_scene";
  if (delivery?.delivery === "undelivered" && i.state === "dispatched") {
    out.push({ reason: "undelivered", key: `${i.id}:undelivered:${delivery.dispatch_seq}` });
  }
  if (i.breached_at && waiting) out.push({ reason: "breached", key: `${i.id}:breached` });
  if (i.escalation_level > 0 && waiting) out.push({ reason: "escalated", key: `${i.id}:escalated:${i.escalation_level}` });
  if (i.at_risk_at && waiting && !i.breached_at) out.push({ reason: "at_risk", key: `${i.id}:at_risk` });
  if (i.kind === "sos" && (i.state === "raised" || i.state === "dispatched")) {
    out.push({ reason: "new_sos", key: `${i.id}:sos:${i.repeat_count || 0}` });
  }
  return out;
}

/** The keys acknowledged on this screen, kept across reloads. */
export class Seen {
  constructor(name) {
    this.name = `gw.seen.${name}`;
    try { this.keys = new Set(JSON.parse(localStorage.getItem(this.name) || "[]")); } catch { this.keys = new Set(); }
  }

  has(key) { return this.keys.has(key); }

  add(...keys) {
    keys.forEach((k) => this.keys.add(k));
    this.save();
  }

  /** Forgets the keys of incidents no longer open (`openIds`), so the list stays small. */
  keep(openIds) {
    const open = new Set(openIds);
    for (const k of this.keys) if (!open.has(k.split(":")[0])) this.keys.delete(k);
    this.save();
  }

  save() {
    try { localStorage.setItem(this.name, JSON.stringify([...this.keys].slice(-500))); } catch { /* private mode */ }
  }
}

/** Tracks where each incident's latest dispatch stands from the stream's events, starting
 *  from what the hello said: `incident.delivery` as {dispatch_seq, post_id, delivery}. */
export function deliveryAfter(event, before) {
  const d = event.data || {};
  switch (event.type) {
    case "incident.dispatched":
      return { dispatch_seq: event.seq, post_id: d.post_id, delivery: "waiting" };
    case "incident.escalated":
      return d.to_post ? { dispatch_seq: event.seq, post_id: d.to_post, delivery: "waiting" } : before;
    case "incident.delivered":
      return before && d.dispatch_seq === before.dispatch_seq ? { ...before, delivery: "delivered" } : before;
    case "incident.undelivered":
      return before && d.dispatch_seq === before.dispatch_seq && before.delivery !== "delivered"
        ? { ...before, delivery: "undelivered" } : before;
    default:
      return before;
  }
}
