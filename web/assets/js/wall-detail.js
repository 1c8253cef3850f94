// One incident on the wall: who called (name, phone to call back, address), where (in words,
// with a map link and the plan), the nearest cameras playing, whether the post's console
// received the dispatch, the timeline, and the duty officer's actions — only those the
// incident's state allows (`allowed_actions`, from the hub's state machine; a camera's motion
// alert also offers "false alarm", one click), and its evidence
// clips side by side, each with its download (every download is on the incident's timeline).
import { api, get, act } from "./api.js";
import { t } from "./i18n.js";
import { el, kindLabel, stateLabel, eventLabel, clock, dateTime, place, mapLink, nearest, isOpen } from "./format.js";
import { errorText } from "./errors.js";
import { setIncident } from "./countdown.js";
import { FocusPlayer } from "./focus.js";

/** Why an evidence clip did not load, said in the page's words (`err.<code>`). */
const CLIP_ERRORS = ["clip_missing", "export_not_recorded", "network", "unauthorized", "forbidden", "not_found", "unavailable"];

const $ = (id) => document.getElementById(id);
const pictureUrl = (incident, picture) =>
  `/api/v1/incidents/${encodeURIComponent(incident)}/snapshots/${encodeURIComponent(picture)}`;

/** The form that offers each action. */
const FORMS = { dispatch: "f-dispatch", resolve: "f-resolve", cancel: "f-cancel" };

export class IncidentDetail {
  constructor({ names, posts, places, onClose, onPlan }) {
    this.names = names;
    this.posts = posts; // () => [{id, name}]
    this.places = places; // () => [{name, lat, lon}]: posts and cameras, to say "near …"
    this.onClose = onClose;
    this.onPlan = onPlan;
    this.id = null;
    this.incident = null;
    this.timeline = [];
    this.players = [];
    $("detail-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && this.id) this.close(); });
    $("f-dispatch").addEventListener("submit", (e) => { e.preventDefault(); this.run("dispatch", { post_id: $("d-post").value }); });
    $("f-resolve").addEventListener("submit", (e) => { e.preventDefault(); this.run("resolve", { note: e.target.note.value }, e.target); });
    $("f-cancel").addEventListener("submit", (e) => { e.preventDefault(); this.run("cancel", { reason: e.target.reason.value }, e.target); });
    // A camera's false alarm: one click, no reason to type (the hub records the standard one).
    $("d-dismiss").addEventListener("click", () => this.run("dismiss", {}));
  }

  async open(id) {
    if (this.id !== id) { this.stopVideo(); this.incident = null; }
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
      this.loadClips();
    } catch (e) {
      this.error(e);
    }
  }

  /** An event of the incident on screen arrived on the stream. */
  changed(incident) {
    if (incident.id !== this.id || !this.incident) return;
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
    const dl = $("d-facts");
    dl.replaceChildren();
    const fact = (key, value, attrs = {}) => dl.append(el("dt", { text: t(key) }), el("dd", attrs, value));
    const caller = i.caller || {};
    fact("detail.created", dateTime(i.created_at));
    fact("detail.caller", caller.name ? `${caller.name} · ${t("caller." + (caller.kind || "resident"))}` : t("detail.none"), { id: "d-caller" });
    fact("detail.phone", caller.phone ? el("a", { href: `tel:${caller.phone.replace(/\s+/g, "")}`, text: caller.phone }) : t("detail.none"), { id: "d-phone" });
    const near = nearest(i, this.places());
    const where = place(i, { address: caller.address, grid: this.names.grid(i.grid_id), near });
    const map = mapLink(i);
    fact("detail.place", el("span", {}, el("span", { id: "d-address", text: where }),
      map ? el("a", { id: "d-map", class: "inline-link", href: map, text: t("detail.map") }) : null,
      map ? el("button", { id: "d-plan", type: "button", class: "link", text: t("detail.on_plan"), onclick: () => this.onPlan?.(i) }) : null));
    fact("detail.grid", this.names.grid(i.grid_id) || t("detail.none"));
    fact("detail.post", i.post_id ? this.names.post(i.post_id) : t("detail.none"));
    fact("detail.note", i.note || t("detail.none"));
    fact("detail.escalation", String(i.escalation_level ?? 0));
    if (i.post_id && isOpen(i)) {
      const got = i.delivery?.delivery || "waiting";
      const ok = got === "delivered";
      const text = ok ? "✓" : t(got === "undelivered" ? "event.incident.undelivered" : "detail.not_delivered");
      dl.append(el("dt", { text: t("detail.delivered") }),
        el("dd", { class: ok ? "ok" : got === "undelivered" ? "error" : "warn", id: "d-delivered", "data-delivered": String(ok), text }));
    }
    // Only what the hub will accept now.
    const allowed = i.allowed_actions || [];
    for (const [action, form] of Object.entries(FORMS)) $(form).hidden = !allowed.includes(action);
    $("d-dismiss").hidden = !allowed.includes("dismiss");
    if (i.false_alarm) fact("history.state", t("detail.false_alarm"), { id: "d-false-alarm" });
    const sel = $("d-post");
    const current = sel.value;
    sel.replaceChildren(...this.posts().map((p) => el("option", { value: p.id, text: p.name })));
    sel.value = current && current !== i.post_id ? current : (this.posts().find((p) => p.id !== i.post_id)?.id ?? "");
    $("d-dispatch").textContent = t(i.post_id ? "action.redirect" : "action.dispatch");
    $("d-timeline").replaceChildren(...this.timeline.map((e) => {
      // The post an event names: a dispatch's `post_id`, an escalation's `to_post`.
      const to = e.data?.post_id || e.data?.to_post;
      // A camera's picture of the moment (a motion alert's first keyframe after detection).
      const picture = e.type === "incident.snapshot_taken" && e.data?.snapshot_id
        ? el("a", { href: pictureUrl(i.id, e.data.snapshot_id), target: "_blank", rel: "noopener" },
          el("img", { class: "timeline-picture", loading: "lazy", src: pictureUrl(i.id, e.data.snapshot_id),
            alt: this.names.camera(e.data.camera_id), "data-snapshot": e.data.snapshot_id }))
        : null;
      return el("li", { "data-type": e.type },
        el("time", { datetime: e.at, text: clock(e.at) }), " ", el("span", { text: eventLabel(e.type) }),
        to ? el("span", { class: "muted", text: ` → ${this.names.post(to)}` }) : null,
        picture);
    }));
  }

  /** The incident's evidence clips: sealed ones to play and download, and how many are still
   *  to be sealed. The videos load nothing until played (`preload=none`): playing a clip is a
   *  download the timeline records (once: the player's later ranges join it, for ten minutes). */
  async loadClips() {
    const id = this.id;
    let r;
    try {
      r = await get(`/api/v1/incidents/${encodeURIComponent(id)}/clips`);
    } catch {
      return; // not allowed or not there: no clips section
    }
    if (this.id !== id) return;
    const box = $("d-clips");
    const shown = new Set([...box.querySelectorAll("[data-clip]")].map((f) => f.dataset.clip));
    const wanted = r.clips.map((c) => c.id);
    if (wanted.length === shown.size && wanted.every((c) => shown.has(c)) && box.dataset.pending === String(r.not_sealed.length)) return;
    box.dataset.pending = String(r.not_sealed.length);
    const url = (c) => `/api/v1/incidents/${encodeURIComponent(id)}/clips/${encodeURIComponent(c.id)}`;
    const items = r.clips.map((c) => {
      const name = this.names.camera(c.camera_id);
      const file = `${id}-${c.camera_id}-${c.from.replace(/[:.]/g, "")}.mp4`;
      const video = el("video", { controls: true, preload: "none", playsInline: true, muted: true, src: url(c), "aria-label": name });
      video.addEventListener("error", () => this.clipFailed(video, url(c)));
      return el("figure", { class: "clip", "data-clip": c.id }, video,
        el("figcaption", {},
          el("span", { text: `${name} · ${clock(c.from)}–${clock(c.to)}` }),
          el("a", { class: "inline-link", href: url(c), download: file, "data-download": c.id, "data-i18n": "clips.download", text: t("clips.download") }),
          // To hand over with the clip: `gridwatch evidence check` checks one against the other.
          el("a", { class: "inline-link", href: `${url(c)}/manifest`, download: file.replace(/\.mp4$/, "-manifest.json"), "data-manifest": c.id, "data-i18n": "clips.manifest", text: t("clips.manifest") }),
          el("span", { class: "muted sha", title: "SHA-256", text: c.sha256.slice(0, 12) })),
        this.clipGaps(c));
    });
    const pending = r.not_sealed.length
      ? el("p", { class: "muted", id: "d-clips-pending", text: t("clips.pending", { n: String(r.not_sealed.length) }) }) : null;
    if (!items.length && !pending) { box.replaceChildren(); return; }
    // Everything to hand over as one file: the clips, their manifests, the sums, how to check.
    const all = items.length
      ? el("p", {}, el("a", { class: "inline-link", id: "d-clips-package", href: `/api/v1/incidents/${encodeURIComponent(id)}/evidence.zip`,
        download: `evidence-${id}.zip`, "data-i18n": "clips.package", text: t("clips.package") })) : null;
    box.replaceChildren(...[el("h3", { "data-i18n": "clips.title", text: t("clips.title") }),
      items.length ? el("div", { class: "clips" }, ...items) : null, all, pending].filter(Boolean));
  }

  /** Where a clip holds its picture because nothing was recorded (its manifest says so), or
   *  that its manifest cannot be read: said plainly, never left for the viewer to take a held
   *  picture for what happened. Nothing when the clip is whole. */
  clipGaps(c) {
    if (c.not_recorded == null) {
      return el("p", { class: "warn clip-gaps", "data-i18n": "clips.manifest_unreadable", text: t("clips.manifest_unreadable") });
    }
    if (!c.not_recorded.length) return null;
    const list = c.not_recorded.map((n) => `${clock(n.from)}–${clock(n.to)}`).join(", ");
    return el("p", { class: "warn clip-gaps", "data-not-recorded": String(c.not_recorded.length) },
      el("span", { "data-i18n": "clips.not_recorded", text: t("clips.not_recorded") }), " ", el("span", { text: list }));
  }

  /** A clip that would not load (its file gone, the download refused because it could not be
   *  audited, the hub away) says so, in words, with why and a way to try again — never a blank
   *  player taken for an empty scene. Why is asked of the hub with the clip's first byte: a
   *  <video> element does not tell the HTTP answer (and if the byte comes, that read is a
   *  range of the clip, on the timeline unless this person's access to it already is). */
  async clipFailed(video, url) {
    const figure = video.closest("figure");
    if (!figure || figure.querySelector(".clip-error")) return;
    let why = null;
    try {
      await api("GET", url, undefined, { Range: "bytes=0-0" });
    } catch (e) {
      why = e;
    }
    if (figure.querySelector(".clip-error")) return;
    const key = !why ? "clips.try_again" : CLIP_ERRORS.includes(why.code) ? `err.${why.code}` : null;
    const reason = key ? el("span", { "data-i18n": key, text: t(key) }) : el("span", { text: errorText(why) });
    const retry = el("button", { type: "button", class: "inline-link", "data-i18n": "clips.retry", text: t("clips.retry") });
    const said = el("p", { class: "warn clip-error", role: "alert", "data-code": why?.code ?? "" },
      el("span", { "data-i18n": "clips.unplayable", text: t("clips.unplayable") }), " ", reason, " ", retry);
    retry.addEventListener("click", () => {
      said.remove();
      video.load();
      video.play().catch(() => { /* an error fires on the element again */ });
    });
    figure.append(said);
  }

  playCameras() {
    const box = $("d-cameras");
    box.replaceChildren();
    for (const id of (this.incident?.cameras || []).slice(0, 2)) {
      const video = el("video", { muted: true, autoplay: true, playsInline: true, "aria-label": this.names.camera(id) });
      const label = el("figcaption", { text: this.names.camera(id) });
      const figure = el("figure", { class: "tile small", "data-camera": id }, video, label);
      box.append(figure);
      // WebRTC first (the least delay), the live socket's sub stream when it does not play.
      const onTransport = (how) => { figure.dataset.transport = how; };
      this.players.push(new FocusPlayer(video, id, { quality: "sub", onTransport }).start());
    }
    if (box.children.length) box.prepend(el("h3", { "data-i18n": "detail.cameras", text: t("detail.cameras") }));
  }

  stopVideo() {
    this.players.forEach((p) => p.stop());
    this.players = [];
    $("d-cameras").replaceChildren();
    $("d-clips").replaceChildren();
  }

  async run(action, body, form) {
    $("d-error").hidden = true;
    try {
      const incident = await act(this.id, action, body);
      form?.reset();
      this.changed(incident);
    } catch (e) {
      this.error(e);
      // The hub said where the incident stands: show that, not what the page believed.
      if (e.state) this.reload();
    }
  }

  error(e) {
    const p = $("d-error");
    p.textContent = t("action.failed") + errorText(e);
    p.hidden = false;
  }
}
