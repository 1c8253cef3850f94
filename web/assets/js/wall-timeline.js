// The timeline under a focused camera on the wall: the last hour of its recordings (recorded
// spans, the gaps between them, the incidents that named it), a click to play back from that
// moment through the live path (`live?from=`), 1×/2×/4×, pause, and back to live. Playback
// ends by itself at the end of what is recorded (the hub says "end") and the tile is live again.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { el, clock } from "./format.js";

/** How much of the past the bar shows. */
const WINDOW_MS = 60 * 60 * 1000;
/** An incident mark plays from this long before it was raised. */
const BEFORE_INCIDENT_MS = 30 * 1000;
const SPEEDS = [1, 2, 4];

export class CameraTimeline {
  /** `onPlay(Date)`: play back from there; `onLive()`; `player()`: the tile's player now. */
  constructor(cameraId, { onPlay, onLive, player }) {
    this.cameraId = cameraId;
    this.onPlay = onPlay;
    this.onLive = onLive;
    this.player = player;
    this.playingFrom = null;
    this.cursor = el("div", { class: "tl-cursor", hidden: true });
    this.bar = el("div", { class: "tl-bar", role: "button", tabindex: "0", "data-i18n-aria": "timeline.bar", "aria-label": t("timeline.bar") });
    this.start = el("span", { class: "tl-start" });
    this.end = el("span", { class: "tl-end" });
    this.mode = el("span", { class: "tl-mode", role: "status" });
    this.speedButtons = SPEEDS.map((n) => el("button", { type: "button", class: "tl-speed", "data-speed": String(n), text: `${n}×`, onclick: () => this.speed(n) }));
    this.pauseButton = el("button", { type: "button", class: "tl-pause", onclick: () => this.togglePause() });
    this.liveButton = el("button", { type: "button", class: "tl-live", onclick: () => this.onLive() });
    this.root = el("div", { class: "cam-timeline" },
      el("div", { class: "tl-scale" }, this.start, this.end), this.bar,
      el("div", { class: "tl-controls" }, this.mode, ...this.speedButtons, this.pauseButton, this.liveButton));
    // Inside the tile: its clicks must not also shrink the tile.
    for (const kind of ["click", "keydown"]) this.root.addEventListener(kind, (e) => e.stopPropagation());
    this.bar.addEventListener("click", (e) => {
      if (e.target.closest(".tl-mark")) return;
      const r = this.bar.getBoundingClientRect();
      const at = this.from + ((e.clientX - r.left) / r.width) * WINDOW_MS;
      this.play(new Date(Math.min(at, Date.now())));
    });
    this.bar.addEventListener("keydown", (e) => {
      // The keyboard's way in: Enter plays the last five minutes.
      if (e.key === "Enter") this.play(new Date(Date.now() - 5 * 60 * 1000));
    });
    this.relabel();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 30000);
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.clock);
    this.root.remove();
  }

  /** Where the bar places `ms` (0..100 %). */
  x(ms) { return Math.max(0, Math.min(100, ((ms - this.from) / WINDOW_MS) * 100)); }

  async refresh() {
    const to = Date.now();
    this.from = to - WINDOW_MS;
    const range = `from=${encodeURIComponent(new Date(this.from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
    let rec = { spans: [], gaps: [] };
    let incidents = [];
    try {
      [rec, incidents] = await Promise.all([
        get(`/api/v1/cameras/${encodeURIComponent(this.cameraId)}/recordings?${range}`),
        get(`/api/v1/incidents?state=all&since=${encodeURIComponent(new Date(this.from).toISOString())}&limit=200`),
      ]);
    } catch { /* the bar stays as it was; the next refresh tries again */ }
    const mine = incidents.filter((i) => i.camera_id === this.cameraId || (i.cameras || []).includes(this.cameraId));
    const box = (cls, a, b, extra = {}) => {
      const left = this.x(Date.parse(a));
      const width = Math.max(0.3, this.x(Date.parse(b)) - left);
      return el("div", { class: cls, style: `left:${left}%;width:${width}%`, ...extra });
    };
    this.bar.replaceChildren(
      // The span that ends with the segment being written is shown as recording, up to now.
      ...rec.spans.map((s) => box(s.in_progress ? "tl-span tl-recording" : "tl-span", s.from, s.to, {
        "data-from": s.from, "data-to": s.to,
        ...(s.in_progress ? { title: t("timeline.recording", { time: clock(s.to) }) } : {}),
      })),
      ...rec.gaps.map((g) => box("tl-gap", g.from, g.to, { title: `${t("timeline.gap")} ${clock(g.from)}–${clock(g.to)}` })),
      ...mine.map((i) => el("button", {
        type: "button", class: "tl-mark", "data-incident": i.id, style: `left:${this.x(Date.parse(i.created_at))}%`,
        title: `${t("timeline.incident")} ${clock(i.created_at)}`, "aria-label": `${t("timeline.incident")} ${clock(i.created_at)}`,
        onclick: () => this.play(new Date(Date.parse(i.created_at) - BEFORE_INCIDENT_MS)),
      })),
    );
    this.bar.append(this.cursor);
    this.bar.dataset.spans = String(rec.spans.length);
    this.start.textContent = clock(new Date(this.from).toISOString());
    this.end.textContent = t("timeline.now");
  }

  play(at) {
    this.playingFrom = at;
    this.onPlay(at);
    this.relabel();
    clearInterval(this.clock);
    this.clock = setInterval(() => this.showPosition(), 500);
  }

  /** The tile is live again (back to live, or the recording ended). */
  live() {
    this.playingFrom = null;
    clearInterval(this.clock);
    this.cursor.hidden = true;
    this.relabel();
  }

  /** Where the picture on screen was recorded: a cursor on the bar and the time. */
  showPosition() {
    const at = this.player()?.shownAt?.();
    if (at == null || !this.playingFrom) return;
    this.cursor.hidden = false;
    this.cursor.style.left = `${this.x(at)}%`;
    this.mode.dataset.at = new Date(at).toISOString();
    this.mode.textContent = t("timeline.playing", { time: clock(new Date(at).toISOString()) });
  }

  speed(n) {
    const p = this.player();
    if (!this.playingFrom || !p?.setSpeed) return;
    p.setSpeed(n);
    this.relabel();
  }

  togglePause() {
    const p = this.player();
    if (!this.playingFrom || !p?.pause) return;
    if (p.paused) p.resume(); else p.pause();
    this.relabel();
  }

  relabel() {
    const p = this.player();
    const back = !!this.playingFrom;
    this.root.dataset.mode = back ? "playback" : "live";
    this.mode.textContent = back ? t("timeline.playback", { time: clock(this.playingFrom.toISOString()) }) : t("timeline.live");
    for (const b of this.speedButtons) {
      b.disabled = !back;
      b.setAttribute("aria-pressed", String(back && p?.speed === Number(b.dataset.speed)));
      b.title = t("timeline.speed", { n: b.dataset.speed });
    }
    this.pauseButton.disabled = !back;
    this.pauseButton.textContent = t(back && p?.paused ? "timeline.resume" : "timeline.pause");
    this.pauseButton.dataset.paused = String(!!(back && p?.paused));
    this.liveButton.disabled = !back;
    this.liveButton.textContent = t("timeline.back_to_live");
    this.bar.setAttribute("aria-label", t("timeline.bar"));
    if (this.from) this.end.textContent = t("timeline.now");
    if (back) this.showPosition();
  }
}
