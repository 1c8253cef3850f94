// The player of a focused tile and of an incident's cameras: WebRTC first (the least delay),
// the live socket (MSE) when WebRTC does not play within 3 s or is refused. `transport` says
// which one plays ("webrtc" or "mse"), and so does `onTransport`, for the page to show it.

import { LivePlayer } from "./live.js";
import { WebRtcPlayer } from "./webrtc.js";

export class FocusPlayer {
  constructor(video, cameraId, { quality = "main", onState = () => {}, onTransport = () => {} } = {}) {
    this.video = video;
    this.cameraId = cameraId;
    this.quality = quality;
    this.onState = onState;
    this.onTransport = onTransport;
    this.inner = null;
    this.why = null; // why WebRTC was given up, if it was
  }

  start() {
    this.inner = new WebRtcPlayer(this.video, this.cameraId, {
      onState: this.onState,
      fail: (why) => this.fallBack(why),
    }).start();
    this.onTransport("webrtc");
    return this;
  }

  fallBack(why) {
    if (this.stopped) return;
    this.why = why;
    this.inner = new LivePlayer(this.video, this.cameraId, { quality: this.quality, onState: this.onState }).start();
    this.onTransport("mse", why);
  }

  get transport() { return this.inner?.transport || "mse"; }
  get latency() { return this.inner.latency; }
  get state() { return this.inner?.state; }

  setQuality(q) {
    this.quality = q;
    if (this.inner instanceof LivePlayer) this.inner.setQuality(q);
  }

  lag() { return this.inner?.lag(); }

  stop() {
    this.stopped = true;
    this.inner?.stop();
  }
}
