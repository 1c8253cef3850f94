// Playback of a camera's recordings through the live path (`/live?from=`): the same framing as
// live (init, then fMP4 segments), so the LivePlayer's Media Source plumbing plays it; what
// differs is that it must not chase a live edge (the hub sends a little ahead at the chosen
// speed), it plays at the speed asked for, it can pause, and it ends: on {"type":"end"} the
// hub closes the socket and `onEnd` is called (the wall goes back to live). A gap in the
// recordings ({"type":"gap"}) is skipped by the hub; `onGap` is told, for the timeline.
import { LivePlayer } from "./live.js";

export class PlaybackPlayer extends LivePlayer {
  /** `from`: a Date or an RFC 3339 string. */
  constructor(video, cameraId, from, { onState, onEnd = () => {}, onGap = () => {} } = {}) {
    super(video, cameraId, { quality: "main", onState });
    this.from = from instanceof Date ? from.toISOString() : from;
    this.speed = 1;
    this.paused = false;
    this.finished = false;
    this.onEnd = onEnd;
    this.onGap = onGap;
  }

  /** When the picture on screen was recorded (ms since 1970), from the `prft` the hub writes
   *  into each fragment with the frame's recorded time; null before the first frame. */
  shownAt() {
    const now = this.video.currentTime;
    let best = null;
    for (const a of this.latency.arrivals) if (a.media <= now + 0.001) best = a;
    return best ? best.arrival + (now - best.media) * 1000 : null;
  }

  /** A socket lost mid-way (not at the end) is opened again from the picture on screen, not
   *  from where the playback first started. */
  connect() {
    const at = this.shownAt?.();
    if (at != null) this.from = new Date(at).toISOString();
    super.connect();
  }

  socketPath() {
    return `/api/v1/cameras/${encodeURIComponent(this.cameraId)}/live?from=${encodeURIComponent(this.from)}`;
  }

  /** Text frames other than `init`. */
  message(msg) {
    if (msg.type === "gap") this.onGap(msg);
    else if (msg.type === "end") {
      this.finished = true;
      this.onEnd();
    }
  }

  /** The hub paces the video; the element only follows the speed. */
  catchUp() {
    const v = this.video;
    if (Math.abs(v.playbackRate - this.speed) > 0.01) v.playbackRate = this.speed;
    if (this.paused && !v.paused) v.pause();
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  setSpeed(n) {
    this.speed = n;
    this.send({ type: "speed", value: n });
    this.video.playbackRate = n;
  }

  pause() {
    this.paused = true;
    this.send({ type: "pause" });
    this.video.pause();
  }

  resume() {
    this.paused = false;
    this.send({ type: "resume" });
    this.video.play().catch(() => {});
  }
}
