// One camera's live video through Media Source Extensions, from the hub's live WebSocket:
// a text frame {"type":"init","mime":...}, then binary frames (init segment, media segments).
// It stays at the live edge without stutter: a little behind the newest frame it plays at
// normal speed; further behind (a slow moment, a burst of frames) it plays up to 25 % faster
// until it is back; only when far behind (a hidden tab, a long freeze) does it jump, and not
// again for a few seconds. It reconnects by itself. A picture that stops changing (no segment
// for STALL ms) is reported as "stalled". `latency` (latency.js) knows how old the frame on
// screen is, from the arrival time the hub writes into each fragment.

import { wsUrl, checkSession, CHECK_SESSION_AFTER } from "./api.js";
import { LatencyMeter } from "./latency.js";

const TARGET_LAG = 0.12;  // seconds behind the newest frame aimed at: a few frames of slack
const FAST_LAG = 0.2;     // behind by more: play faster, proportionally to the excess
const FAR_LAG = 1.0;      // behind by more: jump to live (a 25 % speed-up would take 4 s)
const MAX_RATE = 1.25;    // fastest catching-up speed
const JUMP_COOLDOWN = 3000; // ms after a jump before the next one
const KEEP = 20;          // seconds of past video kept in the buffer
const STALL = 5000;       // ms without a new segment before the picture counts as stalled

export class LivePlayer {
  /** onState("connecting" | "playing" | "stalled" | "offline" | "unsupported" | "forbidden") */
  constructor(video, cameraId, { quality = "sub", onState = () => {} } = {}) {
    this.video = video;
    this.cameraId = cameraId;
    this.quality = quality;
    this.onState = onState;
    this.transport = "mse";
    this.state = null;
    this.stopped = false;
    this.retry = 1000;
    this.failures = 0;      // connections in a row that ended without a picture
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    this.latency = new LatencyMeter(video);
    this.lastJump = 0;
    this.onVisible = () => { if (!document.hidden) this.catchUp(true); };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  start() { this.connect(); return this; }

  stop() {
    this.stopped = true;
    document.removeEventListener("visibilitychange", this.onVisible);
    this.latency.stop();
    this.teardown();
  }

  /** Switches between the sub and main stream (small tile vs. focused). */
  setQuality(q) {
    if (q === this.quality) return;
    this.quality = q;
    this.teardown();
    if (!this.stopped) this.connect();
  }

  /** The socket's path (playback adds `from`: see playback.js). */
  socketPath() {
    return `/api/v1/cameras/${encodeURIComponent(this.cameraId)}/live?quality=${this.quality}`;
  }

  report(state) {
    this.state = state;
    this.onState(state);
  }

  connect() {
    this.report("connecting");
    this.queue = [];
    this.sb = null;
    this.lastEnd = null;
    this.fragDur = 0;
    this.lastData = Date.now();
    const ws = new WebSocket(wsUrl(this.socketPath()));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (m) => {
      if (typeof m.data === "string") this.control(m.data);
      else { this.queue.push(m.data); this.pump(); }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.teardown();
      if (ev.code === 1008 || ev.code === 4003) { this.report("forbidden"); return; }
      if (this.finished) { this.report("ended"); return; } // a playback that reached the end
      this.report("offline");
      if (this.stopped) return;
      // A refused upgrade (an expired session: 401) looks like any failure: ask now and then.
      if (++this.failures % CHECK_SESSION_AFTER === 0) checkSession();
      this.reconnectTimer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
    // A camera that stops sending leaves the last picture on screen: say so.
    this.watchdog = setInterval(() => {
      if (this.ws === ws && ws.readyState === WebSocket.OPEN && this.state !== "stalled"
        && Date.now() - this.lastData > STALL) this.report("stalled");
    }, 1000);
  }

  control(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.type !== "init") { this.message?.(msg); return; }
    if (!window.MediaSource || !MediaSource.isTypeSupported(msg.mime)) {
      this.stopped = true;
      this.teardown(); // forgets the socket first: its close must not turn this into "offline"
      this.report("unsupported");
      return;
    }
    // A new init segment (the camera came back, or changed): a new MediaSource, the old one
    // ended and its address let go, and nothing queued for it appended to the new one.
    this.closeSource();
    this.lastEnd = null;
    this.fragDur = 0;
    this.latency.forget();
    const ms = new MediaSource();
    this.ms = ms;
    this.url = URL.createObjectURL(ms);
    this.video.src = this.url;
    ms.addEventListener("sourceopen", () => {
      if (this.ms !== ms) return;
      const sb = ms.addSourceBuffer(msg.mime);
      this.sb = sb;
      sb.addEventListener("updateend", () => { if (this.sb === sb) this.afterAppend(); });
      this.pump();
    }, { once: true });
  }

  pump() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.queue.length || this.ms?.readyState !== "open") return;
    const segment = this.queue.shift();
    try {
      this.latency.note(segment);
      sb.appendBuffer(segment);
      this.lastData = Date.now();
    } catch (e) {
      if (e.name !== "QuotaExceededError") { this.ws?.close(); return; }
      // The buffer is full: keep the segment (dropping it would break the picture until the
      // next keyframe), make room, and append it again once the room is made.
      this.queue.unshift(segment);
      this.catchUp(true);
      if (!this.trim(true)) {
        clearTimeout(this.pumpTimer);
        this.pumpTimer = setTimeout(() => this.pump(), 500);
      }
    }
  }

  afterAppend() {
    const sb = this.sb;
    if (!sb) return;
    const b = sb.buffered;
    if (b.length) {
      const end = b.end(b.length - 1);
      if (this.lastEnd != null && end > this.lastEnd) this.fragDur = end - this.lastEnd;
      this.lastEnd = end;
      this.catchUp();
      if (this.video.paused && !this.paused) this.video.play().catch(() => {});
      this.retry = 1000;
      this.failures = 0;
      this.report("playing");
    }
    if (!this.trim(false)) this.pump();
  }

  /**
   * Keeps playback near the live edge: normal speed up to FAST_LAG behind the newest frame,
   * faster (up to MAX_RATE) beyond, a jump beyond FAR_LAG (or outside the buffer, or when
   * `force`d) unless one happened within JUMP_COOLDOWN.
   */
  catchUp(force = false) {
    const b = this.sb?.buffered;
    if (!b || !b.length) return;
    const end = b.end(b.length - 1);
    const v = this.video;
    const lag = end - v.currentTime;
    const outside = v.currentTime < b.start(b.length - 1);
    const now = performance.now();
    if (outside || ((force || lag > FAR_LAG + this.fragDur) && now - this.lastJump > JUMP_COOLDOWN)) {
      v.currentTime = Math.max(b.start(b.length - 1), end - TARGET_LAG);
      v.playbackRate = 1;
      this.lastJump = now;
      return;
    }
    let rate = v.playbackRate;
    if (lag > FAST_LAG + this.fragDur) rate = Math.min(MAX_RATE, 1 + (lag - TARGET_LAG) / 2);
    else if (lag <= TARGET_LAG + this.fragDur) rate = 1;
    if (Math.abs(rate - v.playbackRate) > 0.01) v.playbackRate = rate;
  }

  /** Drops old video from the buffer; true when a removal is under way. */
  trim(force) {
    const sb = this.sb;
    if (!sb || sb.updating || !sb.buffered.length) return false;
    const start = sb.buffered.start(0);
    const keepFrom = this.video.currentTime - (force ? 2 : KEEP);
    if (keepFrom - start > (force ? 0 : 10)) {
      sb.remove(start, keepFrom);
      return true;
    }
    return false;
  }

  /** How far behind the newest frame playback is, in seconds (for tests and display). */
  lag() {
    const b = this.sb?.buffered;
    return b && b.length ? b.end(b.length - 1) - this.video.currentTime : null;
  }

  teardown() {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.pumpTimer);
    clearInterval(this.watchdog);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close();
    this.closeSource();
  }

  /** Ends the MediaSource, lets go of its address and of what was queued for it. */
  closeSource() {
    this.sb = null;
    this.queue = [];
    if (this.ms && this.ms.readyState === "open") {
      try { this.ms.endOfStream(); } catch { /* closing anyway */ }
    }
    this.ms = null;
    if (this.url) { URL.revokeObjectURL(this.url); this.url = null; }
  }
}
