// The hub's real-time stream (GET /api/v1/stream): hello, then events with a gap-free seq.
// Reconnects by itself with ?since=<last seq>, so nothing is missed; a resync starts over.
//
// A socket can die without closing (Wi-Fi or NAT drop: half-open) and then looks connected
// for minutes. So the page sends `ping` every `heartbeat_seconds` (the hello says; 3), the
// hub answers `pong`, and a socket that has brought nothing for DEAD_AFTER_PINGS of them is
// taken for dead: the page says "offline" and connects anew at once, within 10 s of the drop.

import { wsUrl, checkSession, CHECK_SESSION_AFTER } from "./api.js";

/** Heartbeats without a word from the hub after which the socket is dead. */
const DEAD_AFTER_PINGS = 2.5;

export class Stream {
  /**
   * handlers: onHello(hello, {reconnect}), onEvent(event, {replayed}), onResync(),
   * onStatus("connecting" | "online" | "offline")
   */
  constructor(handlers) {
    this.h = handlers;
    this.seq = null;
    this.ws = null;
    this.retry = 500;
    this.stopped = false;
    this.lastMessage = 0;
    this.lastPing = 0;
    this.heartbeat = 3000;
    this.helloSeq = null;
    this.failures = 0;      // connections in a row that ended before a hello
  }

  start() {
    this.connect();
    this.timer = setInterval(() => this.beat(), 1000);
    return this;
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.again);
    this.ws?.close();
  }

  connect() {
    const since = this.seq == null ? "" : `?since=${this.seq}`;
    const ws = new WebSocket(wsUrl("/api/v1/stream" + since));
    this.ws = ws;
    this.opened = Date.now();
    this.lastMessage = 0;
    this.reconnecting = this.seq != null;
    // Once it has been online, a reconnect attempt still shows "offline" until a hello.
    if (this.helloSeq == null) this.h.onStatus?.("connecting");
    ws.onmessage = (m) => { if (this.ws === ws) this.message(m.data); };
    ws.onclose = () => { if (this.ws === ws) this.lost(); };
  }

  /** The socket is gone (closed, or found dead): say so and connect again. */
  lost() {
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onmessage = null; ws.onclose = null; }
    try { ws?.close(); } catch { /* a dead socket may refuse */ }
    this.h.onStatus?.("offline");
    if (this.stopped) return;
    // An expired session makes the upgrade fail with 401, which a script cannot see: after a
    // few failures, ask; checkSession goes to the login page on 401.
    if (++this.failures % CHECK_SESSION_AFTER === 0) checkSession();
    clearTimeout(this.again);
    this.again = setTimeout(() => this.connect(), this.retry);
    this.retry = Math.min(this.retry * 2, 5000);
  }

  message(text) {
    this.lastMessage = Date.now();
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    switch (msg.type) {
      case "hello":
        this.retry = 500;
        this.failures = 0;
        this.helloSeq = msg.seq;
        if (msg.heartbeat_seconds > 0) this.heartbeat = msg.heartbeat_seconds * 1000;
        // A fresh start takes the hello's seq; a reconnect keeps its own, so that the replay
        // of what it missed is not mistaken for duplicates.
        if (this.seq == null) this.seq = msg.seq;
        this.h.onStatus?.("online");
        this.h.onHello?.(msg, { reconnect: this.reconnecting });
        return;
      case "resync":
        this.seq = null;
        this.reconnecting = false;
        this.h.onResync?.(msg);
        return;
      case "pong":
      case "error":
      case "health":
        this.h.onOther?.(msg);
        return;
      default:
        if (typeof msg.seq !== "number") { this.h.onOther?.(msg); return; }
        if (this.seq != null && msg.seq <= this.seq) return;
        this.seq = msg.seq;
        this.h.onEvent?.(msg, { replayed: this.helloSeq != null && msg.seq <= this.helloSeq && this.reconnecting });
    }
  }

  send(obj) {
    if (this.ws?.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  /** Confirms that a dispatch (event `seq`) reached this console. */
  receipt(seq) { return this.send({ type: "receipt", seq }); }

  /** Every second: ping when due, and give up on a socket that has gone quiet (or that has
   *  not opened at all in as long). */
  beat() {
    const ws = this.ws;
    if (!ws) return;
    const now = Date.now();
    const quiet = now - (this.lastMessage || this.opened);
    if (quiet > this.heartbeat * DEAD_AFTER_PINGS) { this.lost(); return; }
    if (ws.readyState === WebSocket.OPEN && now - this.lastPing >= this.heartbeat) {
      this.lastPing = now;
      this.send({ type: "ping" });
    }
  }
}
