// One incident on the wall: its facts, the nearest cameras playing, whether the post's console
// received the dispatch, the timeline, and the duty officer's actions (dispatch or redirect,
// resolve, cancel).
import { get, act } from "./api.js";
import { t } from "./i18n.js";
import { el, kindLabel, stateLabel, eventLabel, clock, place, isOpen } from "./format.js";
import { setIncident } from "./countdown.js";
import { LivePlayer } from "./live.js";

const $ = (id) => document.getElementById(id);

export class IncidentDetail {
  constructor({ names, posts, onClose }) {
    this.names = names;
    this.posts = posts; // () => [{id, name}]
    this.onClose = onClose;
    this.id = null;
    this.incident = null;
    this.timeline = [];
    this.players = [];
    $("detail-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && this.id) this.close(); });
    $("f-dispatch").addEventListener("submit", (e) => { e.preventDefault(); this.run("dispatch", { post_id: $("d-post").value }); });
    $("f-resolve").addEventListener("submit", (e) => { e.preventDefault(); this.run("resolve", { note: e.target.note.value }, e.target); });
    $("f-cancel").addEventListener("submit", (e) => { e.preventDefault(); this.run("cancel", { reason: e.target.reason.value }, e.target); });
  }

  async open(id) {
    if (this.id !== id) this.stopVideo();
    this.id = id;
    $("detail").hidden = false;
    $("d-error").hidden = true;
    await this.reload();
    if (!this.players.length) this.playCameras();
  }

  close() {
    this.stopVideo();
    this.id = null;
    $("detail").hidden = true;
    this.onClose?.();
  }

  async reload() {
    const id = this.id;
    if (!id) return;
    try {
      const r = await get(`/api/v1/incidents/${encodeURIComponent(id)}`);
      if (this.id !== id) return;
      this.timeline = r.incident.timeline || [];
      this.incident = r.incident;
      this.render();
    } catch (e) {
      this.error(e);
    }
  }

  /** An event of the incident on screen arrived on the stream. */
  changed(incident) {
    if (incident.id !== this.id) return;
    this.incident = { ...this.incident, ...incident };
    this.render();
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 150);
  }

  render() {
    const i = this.incident;
    if (!i) return;
    const state = $("d-state");
    state.textContent = `${kindLabel(i.kind)} · ${stateLabel(i.state)}`;
    state.dataset.state = i.state;
    setIncident($("d-countdown"), i);
    const facts = [
      ["detail.created", clock(i.created_at)],
      ["detail.grid", this.names.grid(i.grid_id) || t("detail.none")],
      ["detail.post", i.post_id ? this.names.post(i.post_id) : t("detail.none")],
      ["detail.place", place(i)],
      ["detail.source", i.source],
      ["detail.note", i.note || t("detail.none")],
      ["detail.escalation", String(i.escalation_level ?? 0)],
    ];
    const dl = $("d-facts");
    dl.replaceChildren();
    for (const [k, v] of facts) dl.append(el("dt", { text: t(k) }), el("dd", { text: v }));
    if (i.post_id) {
      const got = this.delivered();
      const ok = got === "delivered";
      const text = ok ? "✓" : t(got === "undelivered" ? "event.incident.undelivered" : "detail.not_delivered");
      dl.append(el("dt", { text: t("detail.delivered") }),
        el("dd", { class: ok ? "ok" : got === "undelivered" ? "error" : "warn", id: "d-delivered", "data-delivered": String(ok), text }));
    }
    const open = isOpen(i);
    const sel = $("d-post");
    const current = sel.value;
    sel.replaceChildren(...this.posts().map((p) => el("option", { value: p.id, text: p.name })));
    sel.value = current && current !== i.post_id ? current : (this.posts().find((p) => p.id !== i.post_id)?.id ?? "");
    $("d-dispatch").textContent = t(i.post_id ? "action.redirect" : "action.dispatch");
    $("f-dispatch").hidden = !open || i.state === "on_scene";
    $("f-resolve").hidden = !open || i.state === "raised";
    $("f-cancel").hidden = !open;
    $("d-timeline").replaceChildren(...this.timeline.map((e) => {
      // The post an event names: a dispatch's `post_id`, an escalation's `to_post`.
      const to = e.data?.post_id || e.data?.to_post;
      return el("li", { "data-type": e.type },
        el("time", { datetime: e.at, text: clock(e.at) }), " ", el("span", { text: eventLabel(e.type) }),
        to ? el("span", { class: "muted", text: ` → ${this.names.post(to)}` }) : null);
    }));
  }

  /** Whether the post's console confirmed the latest dispatch: delivered, undelivered (the
   *  hub found no console of the post to take it) or waiting. */
  delivered() {
    let since = -1;
    this.timeline.forEach((e, n) => { if (e.type === "incident.dispatched" || e.type === "incident.escalated") since = n; });
    const after = this.timeline.slice(since + 1).map((e) => e.type);
    if (after.includes("incident.delivered")) return "delivered";
    return after.includes("incident.undelivered") ? "undelivered" : "waiting";
  }

  playCameras() {
    const box = $("d-cameras");
    box.replaceChildren();
    for (const id of (this.incident?.cameras || []).slice(0, 2)) {
      const video = el("video", { muted: true, autoplay: true, playsInline: true });
      const label = el("figcaption", { text: this.names.camera(id) });
      box.append(el("figure", { class: "tile small", "data-camera": id }, video, label));
      this.players.push(new LivePlayer(video, id, { quality: "sub" }).start());
    }
    if (box.children.length) box.prepend(el("h3", { "data-i18n": "detail.cameras", text: t("detail.cameras") }));
  }

  stopVideo() {
    this.players.forEach((p) => p.stop());
    this.players = [];
    $("d-cameras").replaceChildren();
  }

  async run(action, body, form) {
    $("d-error").hidden = true;
    try {
      const incident = await act(this.id, action, body);
      form?.reset();
      this.changed(incident);
    } catch (e) {
      this.error(e);
    }
  }

  error(e) {
    const p = $("d-error");
    p.textContent = t("action.failed") + (e.message || e.code);
    p.hidden = false;
  }
}
