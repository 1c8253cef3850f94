// The timeline under a focused camera on the wall: its recordings over the last 10 minutes to
// 24 hours (recorded spans, the gaps between them, the incidents that named it), earlier and
// later by as much, a click to play back from that moment through the live path
// (`live?from=`), a date and time to play back from any moment still kept (the bar then shows
// the hours around it), 1×/2×/4×, pause, and back to live. Playback ends by itself at the end
// of what is recorded (the hub says "end") and the tile is live again. What playback skips (the
// hub says "gap": an outage, recording off, frames lost) is told when the picture gets there,
// so that an officer never takes the jump for continuous video.
import { get } from "./api.js";
import { t, getLang } from "./i18n.js";
import { el, clock } from "./format.js";

/** How much of the past the bar can show, in minutes; an hour at first. */
const WINDOWS = [10, 60, 360, 1440];
const FIRST_WINDOW = 60;
/** At most this many incident marks on the bar (the newest of its range). */
const MAX_MARKS = 1000;
/** An incident mark plays from this long before it was raised. */
const BEFORE_INCIDENT_MS = 30 * 1000;
const SPEEDS = [1, 2, 4];
/** How long the notice of a skipped gap stays, in ms. */
const SKIPPED_NOTICE_MS = 8000;

export class CameraTimeline {
  /** `onPlay(Date)`: play back from there; `onLive()`; `player()`: the tile's player now. */
  constructor(cameraId, { onPlay, onLive, player }) {
    this.cameraId = cameraId;
    this.onPlay = onPlay;
    this.onLive = onLive;
    this.player = player;
    this.playingFrom = null;
    this.windowMs = FIRST_WINDOW * 60 * 1000;
    /** The bar's end: `null` for now, else a moment in the past the officer went to. */
    this.until = null;
    this.cursor = el("div", { class: "tl-cursor", hidden: true });
    this.bar = el("div", { class: "tl-bar", role: "button", tabindex: "0", "data-i18n-aria": "timeline.bar", "aria-label": t("timeline.bar") });
    this.start = el("span", { class: "tl-start" });
    this.end = el("span", { class: "tl-end" });
    this.mode = el("span", { class: "tl-mode", role: "status" });
    this.skipped = el("span", { class: "tl-skipped", role: "status", hidden: true });
    /** Gaps the hub said it skips, not yet reached by the picture on screen. */
    this.gapsAhead = [];
    this.speedButtons = SPEEDS.map((n) => el("button", { type: "button", class: "tl-speed", "data-speed": String(n), text: `${n}×`, onclick: () => this.speed(n) }));
    this.pauseButton = el("button", { type: "button", class: "tl-pause", onclick: () => this.togglePause() });
    this.liveButton = el("button", { type: "button", class: "tl-live", onclick: () => this.onLive() });
    this.windowButtons = WINDOWS.map((m) => el("button", { type: "button", class: "tl-window", "data-minutes": String(m), onclick: () => this.setWindow(m) }));
    this.earlierButton = el("button", { type: "button", class: "tl-earlier", onclick: () => this.page(-1) });
    this.laterButton = el("button", { type: "button", class: "tl-later", onclick: () => this.page(1) });
    this.gotoAt = el("input", { type: "datetime-local", class: "tl-goto-at", step: "1" });
    this.gotoButton = el("button", { type: "button", class: "tl-goto", onclick: () => this.goTo() });
    this.root = el("div", { class: "cam-timeline" },
      el("div", { class: "tl-scale" }, this.start, el("span", { class: "tl-windows" }, this.earlierButton, ...this.windowButtons, this.laterButton), this.end), this.bar,
      el("div", { class: "tl-controls" }, this.mode, this.skipped, ...this.speedButtons, this.pauseButton, this.liveButton,
        el("span", { class: "tl-goto-box" }, this.gotoAt, this.gotoButton)));
    // Inside the tile: its clicks must not also shrink the tile.
    for (const kind of ["click", "keydown"]) this.root.addEventListener(kind, (e) => e.stopPropagation());
    this.bar.addEventListener("click", (e) => {
      if (e.target.closest(".tl-mark")) return;
      const r = this.bar.getBoundingClientRect();
      const at = this.from + ((e.clientX - r.left) / r.width) * this.windowMs;
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
    clearTimeout(this.skippedTimer);
    this.root.remove();
  }

  /** The hub skips `gap` ({from, to}: nothing recorded there); told once the picture is there
   *  (the hub sends a little ahead of it). */
  gapSkipped(gap) {
    this.gapsAhead.push(gap);
    this.showPosition();
  }

  /** Says that the recordings from `gap.from` to `gap.to` were skipped, for a few seconds. */
  showSkipped(gap) {
    this.skipped.dataset.from = gap.from;
    this.skipped.dataset.to = gap.to;
    this.skipped.dataset.seconds = String(Math.round((Date.parse(gap.to) - Date.parse(gap.from)) / 1000));
    this.skipped.hidden = false;
    this.relabelSkipped();
    clearTimeout(this.skippedTimer);
    this.skippedTimer = setTimeout(() => this.hideSkipped(), SKIPPED_NOTICE_MS);
  }

  hideSkipped() {
    this.skipped.hidden = true;
    clearTimeout(this.skippedTimer);
  }

  relabelSkipped() {
    const d = this.skipped.dataset;
    if (!d.from) return;
    this.skipped.textContent = t("timeline.skipped", { from: clock(d.from), to: clock(d.to), seconds: d.seconds });
  }

  /** Where the bar places `ms` (0..100 %). */
  x(ms) { return Math.max(0, Math.min(100, ((ms - this.from) / this.windowMs) * 100)); }

  /** Shows the last `minutes` (or as many around the moment gone to). */
  setWindow(minutes) {
    this.windowMs = minutes * 60 * 1000;
    this.relabel();
    this.refresh();
  }

  /** Moves the bar a whole window earlier (-1) or later (1); never past now, and back to now
   * when it would end within a tenth of a window of it (the time spent looking meanwhile). */
  page(direction) {
    const now = Date.now();
    const until = (this.until ?? now) + direction * this.windowMs;
    this.until = until >= now - this.windowMs / 10 ? null : until;
    this.relabel();
    this.refresh();
  }

  /** Plays back from the date and time typed in; the bar moves to show the hours around it. */
  goTo() {
    const at = Date.parse(this.gotoAt.value); // a local date and time
    if (Number.isNaN(at)) { this.gotoAt.setAttribute("aria-invalid", "true"); return; }
    this.gotoAt.removeAttribute("aria-invalid");
    const now = Date.now();
    const from = Math.min(at, now);
    // The moment a quarter into the bar: some of what came before, most of what followed.
    const until = from + (this.windowMs * 3) / 4;
    this.until = until >= now ? null : until;
    this.refresh();
    this.play(new Date(from));
  }

  /** Back to live: the bar ends at now again. */
  showNow() {
    this.until = null;
    this.refresh();
  }

  /** A bar end or start: the time, with the date when it is not today's. */
  edge(ms) {
    const d = new Date(ms);
    if (d.toDateString() === new Date().toDateString()) return clock(d.toISOString());
    return d.toLocaleString(getLang(), { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  }

  async refresh() {
    // Only the newest refresh draws: an older one still waiting (the 30 s timer's) must not
    // put back the range the officer just moved away from.
    const seq = (this.refreshes = (this.refreshes ?? 0) + 1);
    const to = this.until ?? Date.now();
    this.from = to - this.windowMs;
    const [fromIso, toIso] = [new Date(this.from).toISOString(), new Date(to).toISOString()].map(encodeURIComponent);
    let rec = { spans: [], gaps: [] };
    let marks = [];
    try {
      [rec, marks] = await Promise.all([
        get(`/api/v1/cameras/${encodeURIComponent(this.cameraId)}/recordings?from=${fromIso}&to=${toIso}`),
        // The incidents that named this camera, raised within the bar's range (up to now
        // without an end: this browser's clock may be behind the hub's).
        get(`/api/v1/incidents?state=all&camera_id=${encodeURIComponent(this.cameraId)}&since=${fromIso}${this.until == null ? "" : `&until=${toIso}`}&limit=${MAX_MARKS}`),
      ]);
    } catch { /* the bar stays as it was; the next refresh tries again */ }
    if (seq !== this.refreshes) return;
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
      ...marks.map((i) => el("button", {
        type: "button", class: "tl-mark", "data-incident": i.id, style: `left:${this.x(Date.parse(i.created_at))}%`,
        title: `${t("timeline.incident")} ${clock(i.created_at)}`, "aria-label": `${t("timeline.incident")} ${clock(i.created_at)}`,
        onclick: () => this.play(new Date(Date.parse(i.created_at) - BEFORE_INCIDENT_MS)),
      })),
    );
    this.bar.append(this.cursor);
    this.bar.dataset.spans = String(rec.spans.length);
    this.bar.dataset.from = new Date(this.from).toISOString();
    this.start.textContent = this.edge(this.from);
    this.end.textContent = this.until == null ? t("timeline.now") : this.edge(this.until);
    this.laterButton.disabled = this.until == null;
  }

  play(at) {
    this.playingFrom = at;
    this.gapsAhead = [];
    this.hideSkipped();
    this.onPlay(at);
    this.relabel();
    clearInterval(this.clock);
    this.clock = setInterval(() => this.showPosition(), 500);
  }

  /** The tile is live again (back to live, or the recording ended). */
  live() {
    this.playingFrom = null;
    this.gapsAhead = [];
    this.hideSkipped();
    if (this.until != null) this.showNow();
    clearInterval(this.clock);
    this.cursor.hidden = true;
    this.relabel();
  }

  /** Where the picture on screen was recorded: a cursor on the bar and the time; and the gap
   *  it has just jumped, if any. */
  showPosition() {
    const at = this.player()?.shownAt?.();
    if (at == null || !this.playingFrom) return;
    const reached = this.gapsAhead.filter((g) => Date.parse(g.from) <= at + 500);
    if (reached.length) {
      this.gapsAhead = this.gapsAhead.filter((g) => !reached.includes(g));
      this.showSkipped(reached[reached.length - 1]);
    }
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
    const shown = this.windowMs / 60000;
    for (const b of this.windowButtons) {
      const m = Number(b.dataset.minutes);
      b.textContent = t(`timeline.window.${m}`);
      b.title = t("timeline.window", { span: b.textContent });
      b.setAttribute("aria-pressed", String(m === shown));
    }
    const span = t(`timeline.window.${shown}`);
    this.earlierButton.textContent = t("timeline.earlier");
    this.earlierButton.title = t("timeline.earlier.title", { span });
    this.laterButton.textContent = t("timeline.later");
    this.laterButton.title = t("timeline.later.title", { span });
    this.laterButton.disabled = this.until == null;
    this.gotoAt.title = t("timeline.goto_at");
    this.gotoAt.setAttribute("aria-label", t("timeline.goto_at"));
    this.gotoButton.textContent = t("timeline.goto");
    if (this.from) {
      this.start.textContent = this.edge(this.from);
      this.end.textContent = this.until == null ? t("timeline.now") : this.edge(this.until);
    }
    this.relabelSkipped();
    if (back) this.showPosition();
  }
}
