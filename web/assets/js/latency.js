// How old the picture on a live tile is. The hub writes into every fragment a Producer
// Reference Time box (prft): the wall-clock instant the frame arrived from the camera, with the
// frame's media time. For every frame the video element presents (requestVideoFrameCallback),
// its age is the instant it is shown minus that arrival: the glass-to-glass latency, less what
// the camera spends encoding and sending (the hub's and the browser's clocks are one on the
// same machine, and NTP-synchronised in a centre).

const NTP_UNIX = 2208988800; // seconds from 1900 to 1970
const TIMESCALE = 90000;     // the hub's fragments are in 90 kHz units
const MATCH = 0.02;          // seconds between a frame's media time and its prft's, at most
const KEEP_ARRIVALS = 400;   // prft entries kept (16 s at 25 fps)
const KEEP_SAMPLES = 20000;  // latencies kept for the statistics
const GAP = 0.5;             // seconds without a new frame on screen that count as a stall

/** The prft at the start of a media segment: {media: seconds, arrival: ms since 1970}, or null. */
export function readPrft(segment) {
  if (segment.byteLength < 32) return null;
  const v = new DataView(segment);
  if (v.getUint32(4) !== 0x70726674) return null; // "prft"
  const version = v.getUint8(8);
  const ntpSeconds = v.getUint32(16);
  const ntpFraction = v.getUint32(20);
  const media = version === 1 ? v.getUint32(24) * 2 ** 32 + v.getUint32(28) : v.getUint32(24);
  return {
    media: media / TIMESCALE,
    arrival: (ntpSeconds - NTP_UNIX) * 1000 + (ntpFraction / 2 ** 32) * 1000,
  };
}

/** The q-quantile (0..1) of sorted numbers. */
export function quantile(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export class LatencyMeter {
  constructor(video) {
    this.video = video;
    this.arrivals = []; // {media, arrival}, in append order (media times increase)
    this.reset();
    this.onWaiting = () => { if (!this.video.paused) this.waits++; };
    video.addEventListener("waiting", this.onWaiting);
    this.watch();
  }

  /** Starts the statistics over (the prft entries stay). */
  reset() {
    this.samples = [];
    this.frames = 0;
    this.stalls = 0;
    this.waits = 0;
    this.last = null;
    this.lastShown = null;
  }

  /** A new MediaSource: the arrivals noted belong to the old one. */
  forget() {
    this.arrivals = [];
  }

  /** A media segment about to be appended. */
  note(segment) {
    const p = readPrft(segment);
    if (!p) return;
    this.arrivals.push(p);
    if (this.arrivals.length > KEEP_ARRIVALS) this.arrivals.splice(0, this.arrivals.length - KEEP_ARRIVALS / 2);
  }

  watch() {
    if (!this.video.requestVideoFrameCallback) return; // an old browser: no figures
    const each = (_now, meta) => {
      this.frame(meta);
      this.handle = this.video.requestVideoFrameCallback(each);
    };
    this.handle = this.video.requestVideoFrameCallback(each);
  }

  /**
   * WebRTC: the hub puts each frame's arrival into its first packet (the abs-capture-time
   * header extension); the receiver tells, for the latest packet, its RTP timestamp and that
   * time (`captureTimestamp`, NTP milliseconds). Noted often, they pair each frame shown
   * (its `rtpTimestamp`) with its arrival, exactly: a frame not noted is not measured.
   */
  useReceiver(receiver) {
    this.receiver = receiver;
    this.rtp = [];
    clearInterval(this.rtpTimer);
    this.rtpTimer = setInterval(() => this.noteSources(), 10);
  }

  noteSources() {
    for (const s of this.receiver.getSynchronizationSources?.() ?? []) {
      if (s.captureTimestamp == null) continue;
      if (this.rtp.at(-1)?.rtp === s.rtpTimestamp) continue;
      this.rtp.push({ rtp: s.rtpTimestamp, arrival: s.captureTimestamp - NTP_UNIX * 1000 });
      if (this.rtp.length > KEEP_ARRIVALS) this.rtp.splice(0, this.rtp.length - KEEP_ARRIVALS / 2);
    }
  }

  rtpArrivalOf(rtp) {
    this.noteSources();
    for (let i = this.rtp.length - 1; i >= 0; i--) if (this.rtp[i].rtp === rtp) return this.rtp[i].arrival;
    return null;
  }

  stop() {
    clearInterval(this.rtpTimer);
    this.video.removeEventListener("waiting", this.onWaiting);
    if (this.handle != null) this.video.cancelVideoFrameCallback?.(this.handle);
  }

  frame(meta) {
    const shown = performance.timeOrigin + meta.expectedDisplayTime;
    this.frames++;
    if (this.lastShown != null && shown - this.lastShown > GAP * 1000 && !document.hidden) this.stalls++;
    this.lastShown = shown;
    // MSE: the prft noted for the frame's media time. WebRTC: the abs-capture-time noted
    // for the frame's RTP timestamp (the instant the frame reached the hub).
    const arrival = this.receiver ? this.rtpArrivalOf(meta.rtpTimestamp) : this.arrivalOf(meta.mediaTime);
    if (arrival == null) return;
    this.last = shown - arrival;
    this.samples.push(this.last);
    if (this.samples.length > KEEP_SAMPLES) this.samples.splice(0, KEEP_SAMPLES / 2);
  }

  /** The arrival of the frame at media time `t` (seconds), by binary search. */
  arrivalOf(t) {
    const a = this.arrivals;
    let lo = 0;
    let hi = a.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid].media < t) lo = mid + 1;
      else hi = mid;
    }
    let best = null;
    for (const i of [lo - 1, lo]) {
      if (i >= 0 && i < a.length && Math.abs(a[i].media - t) <= MATCH
        && (best == null || Math.abs(a[i].media - t) < Math.abs(best.media - t))) best = a[i];
    }
    return best ? best.arrival : null;
  }

  /**
   * The figures since the last reset, in ms: frames shown, how many were measured, the
   * median and 95th percentile of their age, the latest, the stalls (no new frame for half a
   * second while visible) and the times the element waited for data.
   */
  summary() {
    const sorted = [...this.samples].sort((x, y) => x - y);
    return {
      frames: this.frames,
      measured: sorted.length,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      last: this.last,
      stalls: this.stalls,
      waits: this.waits,
    };
  }

  /** The median age over the last `n` frames, for the overlay. */
  recent(n = 25) {
    const tail = this.samples.slice(-n).sort((x, y) => x - y);
    return quantile(tail, 0.5);
  }
}
