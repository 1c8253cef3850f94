// The wall of camera tiles: 1, 4, 9 or 16 per page, each playing live (sub stream), with its
// name and status. A click on a tile enlarges it (main stream), another goes back. A new call
// for help brings its nearest cameras to the front (`spotlight`). The stopwatch button of a tile
// shows how old its picture is (from the camera's frame reaching the hub to the screen);
// `latency()` gives every tile's figures, for tests and for a look in the console. A focused
// tile gets a timeline of its recordings (wall-timeline.js) to play back from and return to live,
// and plays over WebRTC, falling back to the live socket (focus.js); its caption says which.
import { LivePlayer } from "./live.js";
import { FocusPlayer } from "./focus.js";
import { PlaybackPlayer } from "./playback.js";
import { CameraTimeline } from "./wall-timeline.js";
import { attachDewarp, detachDewarp, relabelDewarp } from "./wall-dewarp.js";
import { t } from "./i18n.js";
import { el } from "./format.js";
import { svg } from "./svg.js";

/** A stopwatch icon (fonts may lack the emoji). */
const stopwatch = () => svg("svg", { viewBox: "0 0 16 16", width: "14", height: "14", "aria-hidden": "true" },
  svg("circle", { cx: "8", cy: "9", r: "5.5", fill: "none", stroke: "currentColor", "stroke-width": "1.5" }),
  svg("path", { d: "M8 9V6M6.5 1.5h3M12.5 4l-1 1", fill: "none", stroke: "currentColor", "stroke-width": "1.5", "stroke-linecap": "round" }));

/** What the hub says of a camera with no video coming: each has a `cam.*` text. */
const TROUBLE = ["offline", "stalled", "auth_failed", "unsupported"];

export class TileWall {
  constructor(root) {
    this.root = root;
    this.cameras = [];
    this.layout = Number(localStorage.getItem("gw.layout")) || 4;
    this.page = 0;
    this.focus = null;
    this.tiles = new Map(); // camera id -> {tile, player, badge, state}
  }

  setCameras(list) {
    this.cameras = [...list].sort((a, b) => a.name.localeCompare(b.name));
    this.spot = null;
    this.render();
  }

  setLayout(n) {
    this.layout = n;
    localStorage.setItem("gw.layout", String(n));
    this.focus = null;
    this.page = 0;
    this.render();
  }

  turn(delta) {
    const pages = this.pages();
    this.page = (this.page + delta + pages) % pages;
    this.render();
  }

  pages() { return Math.max(1, Math.ceil(this.cameras.length / this.layout)); }

  /** The cameras on screen now. */
  visible() {
    if (this.focus) return this.cameras.filter((c) => c.id === this.focus);
    const from = this.page * this.layout;
    return this.cameras.slice(from, from + this.layout);
  }

  render() {
    this.root.dataset.layout = this.focus ? "1" : String(this.layout);
    const show = this.visible();
    const ids = new Set(show.map((c) => c.id));
    for (const [id, tile] of this.tiles) {
      if (!ids.has(id)) {
        this.showLatency(tile, false);
        tile.timeline?.stop();
        detachDewarp(tile); tile.player.stop(); tile.tile.remove(); this.tiles.delete(id);
      }
    }
    if (!this.cameras.length) {
      this.root.replaceChildren(el("p", { class: "muted empty", text: t("cam.none") }));
      return;
    }
    this.root.querySelector(".empty")?.remove();
    for (const cam of show) {
      let tile = this.tiles.get(cam.id);
      if (!tile) tile = this.make(cam);
      if (this.focus !== cam.id && tile.timeline) this.closeTimeline(tile);
      const focused = this.focus === cam.id;
      if (focused && tile.player instanceof LivePlayer && !(tile.player instanceof PlaybackPlayer)) {
        this.swapPlayer(tile, this.livePlayer(tile));
      } else if (!focused && tile.player instanceof FocusPlayer) {
        this.swapPlayer(tile, this.livePlayer(tile));
      } else tile.player.setQuality(this.focus ? "main" : "sub");
      if (this.focus === cam.id && !tile.timeline) this.openTimeline(tile);
      tile.camera = cam;
      tile.tile.classList.toggle("spot", !!this.spot?.has(cam.id));
      this.badge(tile);
      this.root.append(tile.tile); // keeps the order of `show`
    }
    document.dispatchEvent(new CustomEvent("gw:tiles", { detail: { pages: this.pages(), page: this.page } }));
  }

  make(cam) {
    const video = el("video", { muted: true, autoplay: true, playsInline: true });
    const name = el("span", { class: "name", text: cam.name });
    const badge = el("span", { class: "badge" });
    const transport = el("span", { class: "transport", hidden: true });
    const latency = el("span", { class: "latency", hidden: true });
    const meter = el("button", { class: "latency-toggle", type: "button", title: t("cam.latency"), "aria-label": t("cam.latency") },
      stopwatch());
    const tile = el("figure", { class: "tile", "data-camera": cam.id, tabindex: "0", title: t("cam.focus") },
      video, latency, el("figcaption", {}, name, transport, meter, badge));
    const entry = { tile, badge, latency, meter, transport, camera: cam, state: "connecting" };
    // The stopwatch is inside the tile: its click must not also enlarge the tile.
    meter.addEventListener("click", (e) => { e.stopPropagation(); this.showLatency(entry, latency.hidden); });
    meter.addEventListener("keydown", (e) => e.stopPropagation());
    entry.video = video;
    entry.onState = (s) => { entry.state = s; this.badge(entry); };
    entry.player = this.livePlayer(entry);
    const toggle = () => { this.focus = this.focus === cam.id ? null : cam.id; this.render(); };
    tile.addEventListener("click", toggle);
    tile.addEventListener("keydown", (e) => { if (e.key === "Enter") toggle(); });
    this.tiles.set(cam.id, entry);
    attachDewarp(entry, video);
    entry.player.start();
    return entry;
  }

  /** The focused tile's timeline of recordings. */
  openTimeline(entry) {
    const id = entry.camera.id;
    entry.timeline = new CameraTimeline(id, {
      player: () => entry.player,
      onPlay: (at) => this.swapPlayer(entry, new PlaybackPlayer(entry.video, id, at, {
        onState: entry.onState,
        onEnd: () => this.backToLive(entry),
        onGap: (gap) => entry.timeline?.gapSkipped(gap),
      })),
      onLive: () => this.backToLive(entry),
    });
    entry.tile.append(entry.timeline.root);
  }

  closeTimeline(entry) {
    if (entry.player instanceof PlaybackPlayer) this.backToLive(entry);
    entry.timeline.stop();
    entry.timeline = null;
  }

  backToLive(entry) {
    this.swapPlayer(entry, this.livePlayer(entry));
    entry.timeline?.live();
  }

  /** The live player a tile needs now: WebRTC first when focused, else the sub stream. */
  livePlayer(entry) {
    const id = entry.camera.id;
    if (this.focus !== id) {
      this.showTransport(entry, null);
      return new LivePlayer(entry.video, id, { quality: "sub", onState: entry.onState });
    }
    return new FocusPlayer(entry.video, id, {
      quality: "main",
      onState: entry.onState,
      onTransport: (how, why) => this.showTransport(entry, how, why),
    });
  }

  /** The focused tile's caption says how its picture comes: WebRTC, or MSE and why. */
  showTransport(entry, how, why) {
    entry.transport.hidden = !how;
    entry.tile.dataset.transport = how || "mse";
    if (!how) return;
    entry.transport.dataset.transport = how;
    entry.transport.dataset.why = why || "";
    entry.transport.textContent = how === "webrtc" ? "WebRTC" : "MSE";
    entry.transport.title = how === "webrtc" ? t("cam.webrtc") : t("cam.mse_fallback", { why: why || "-" });
  }

  swapPlayer(entry, player) {
    entry.player?.stop();
    entry.player = player.start();
    entry.tile.dataset.playback = String(player instanceof PlaybackPlayer);
    if (player instanceof PlaybackPlayer) this.showTransport(entry, null);
  }

  /** Shows or hides a tile's latency overlay: the median age of its last second of frames. */
  showLatency(entry, on) {
    clearInterval(entry.latencyTimer);
    entry.latency.hidden = !on;
    entry.meter.setAttribute("aria-pressed", String(on));
    if (!on) return;
    const update = () => {
      const ms = entry.player.latency.recent();
      entry.latency.textContent = ms == null ? "… ms" : `${Math.round(ms)} ms`;
    };
    update();
    entry.latencyTimer = setInterval(update, 500);
  }

  /** Every tile's latency figures (see LatencyMeter.summary), by camera id. */
  latency() {
    return Object.fromEntries([...this.tiles].map(([id, e]) => [id, e.player.latency.summary()]));
  }

  /** Starts every tile's latency figures over. */
  resetLatency() {
    for (const e of this.tiles.values()) e.player.latency.reset();
  }

  /** Status: what the hub says of the camera, unless the video itself says otherwise. */
  badge(entry) {
    let s = entry.camera.status || "unknown";
    if (entry.state === "playing") s = "online";
    else if (entry.state === "unsupported") s = "unplayable"; // this browser, not the camera
    else if (entry.state === "stalled" && !TROUBLE.includes(s)) s = "stalled";
    // Its socket is (re)connecting: no live picture, whatever the hub says of the camera.
    else if ((entry.state === "connecting" || entry.state === "offline") && !TROUBLE.includes(s)) s = "connecting";
    entry.tile.dataset.status = s;
    entry.badge.dataset.status = s;
    const label = t("cam." + s);
    entry.badge.textContent = label === "cam." + s ? s : label;
  }

  /** A camera.online / camera.offline event (with the hub's status: offline, stalled…). */
  setStatus(cameraId, status) {
    const cam = this.cameras.find((c) => c.id === cameraId);
    if (cam) cam.status = status;
    const entry = this.tiles.get(cameraId);
    if (!entry) return;
    // The hub knows first: the last picture may still be on screen. The next segment that
    // arrives says "playing" again.
    if (status !== "online" && entry.state === "playing") entry.state = "stalled";
    this.badge(entry);
  }

  /** Enlarges one camera (from the plan). */
  focusOn(id) {
    if (!this.cameras.some((c) => c.id === id)) return;
    this.focus = id;
    this.render();
  }

  /** Puts these cameras (an incident's nearest, nearest first) first on the wall, on its
   *  first page, marked; leaves a focused tile alone unless it is one of them. */
  spotlight(ids) {
    const wanted = ids.filter((id) => this.cameras.some((c) => c.id === id));
    if (!wanted.length) return;
    const rank = (c) => { const n = wanted.indexOf(c.id); return n < 0 ? wanted.length : n; };
    this.spot = new Set(wanted);
    this.cameras = [...this.cameras].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    if (this.focus && !this.spot.has(this.focus)) this.focus = null;
    this.page = 0;
    this.render();
  }

  relabel() {
    for (const entry of this.tiles.values()) {
      this.badge(entry);
      entry.tile.title = t("cam.focus");
      entry.meter.title = t("cam.latency");
      entry.meter.setAttribute("aria-label", t("cam.latency"));
      if (!entry.transport.hidden) this.showTransport(entry, entry.transport.dataset.transport, entry.transport.dataset.why);
      entry.timeline?.relabel();
      relabelDewarp(entry);
    }
    this.root.querySelector(".empty")?.replaceChildren(t("cam.none"));
  }

  /** Fills the screen with the wall. */
  fullscreen() {
    const target = document.documentElement;
    if (document.fullscreenElement) document.exitFullscreen();
    else target.requestFullscreen?.();
  }
}
