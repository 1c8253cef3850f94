// One camera's live video over WebRTC (WHEP): the browser's offer is POSTed to the hub, whose
// answer names its host candidates; the picture is played as each frame arrives, without the
// buffering of Media Source Extensions. `fail(why)` is called when no picture plays within
// CONNECT ms, the hub refuses (switched off, an H.265 camera, too many viewers), or the
// connection is lost: the caller then falls back to the live socket (focus.js).
// How old the picture is: the hub puts each frame's arrival from the camera into its packets
// (abs-capture-time), the receiver tells it per RTP timestamp (latency.js).

import { LatencyMeter } from "./latency.js";

export const CONNECT = 3000; // ms for a first picture before giving WebRTC up
// The header extension is named by a URI (…/rtp-hdrext/abs-capture-time): an identifier, not
// an address anything is loaded from.
const ABS_CAPTURE_TIME = "/rtp-hdrext/abs-capture-time";

export class WebRtcPlayer {
  /** onState("connecting" | "playing" | "stalled" | "offline"), fail(reason) once. */
  constructor(video, cameraId, { onState = () => {}, fail = () => {} } = {}) {
    this.video = video;
    this.cameraId = cameraId;
    this.onState = onState;
    this.failed = fail;
    this.transport = "webrtc";
    this.state = null;
    this.stopped = false;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    this.latency = new LatencyMeter(video);
  }

  start() { this.connect(); return this; }

  report(state) {
    this.state = state;
    this.onState(state);
  }

  async connect() {
    this.report("connecting");
    if (!window.RTCPeerConnection) { this.fail("no_webrtc"); return; }
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    // Ask for each frame's arrival at the hub in its packets (abs-capture-time): Chromium then
    // gives it as the frame's captureTime, and the page knows how old the picture is.
    if (transceiver.getHeaderExtensionsToNegotiate) {
      const wanted = transceiver.getHeaderExtensionsToNegotiate()
        .map((e) => (e.uri.endsWith(ABS_CAPTURE_TIME) ? { ...e, direction: "sendrecv" } : e));
      try { transceiver.setHeaderExtensionsToNegotiate(wanted); } catch { /* not offered: no figure */ }
    }
    pc.ontrack = (ev) => {
      if (this.pc !== pc) return;
      this.latency.useReceiver(ev.receiver);
      this.video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const s = pc.connectionState;
      if (s === "failed" || s === "closed" || (s === "disconnected" && this.state === "playing")) this.fail("lost");
    };
    this.timer = setTimeout(() => this.fail("timeout"), CONNECT);
    // The first frame on screen says it plays.
    this.video.requestVideoFrameCallback?.(() => {
      if (this.pc !== pc) return;
      clearTimeout(this.timer);
      this.report("playing");
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(`/api/v1/cameras/${encodeURIComponent(this.cameraId)}/whep`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (this.pc !== pc) return;
      if (!r.ok) {
        let code = "http_" + r.status;
        try { code = (await r.json()).error.code || code; } catch { /* not JSON */ }
        this.fail(code);
        return;
      }
      this.resource = r.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
    } catch (e) {
      if (this.pc === pc) this.fail(e.name || "error");
    }
  }

  fail(why) {
    if (this.stopped) return;
    this.why = why;
    this.stop();
    this.failed(why);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.latency.stop();
    const pc = this.pc;
    this.pc = null;
    pc?.close();
    // The hub ends the session by itself when the connection goes; saying so is quicker.
    if (this.resource) fetch(this.resource, { method: "DELETE", credentials: "same-origin" }).catch(() => {});
    this.resource = null;
    if (this.video.srcObject) this.video.srcObject = null;
  }

  setQuality() { /* WebRTC carries the main stream */ }

  lag() { return null; }
}
