// The hub's real-time stream (GET /api/v1/stream): hello, then events with a gap-free seq.
// Reconnects by itself with ?since=<last seq>, so nothing is missed; a resync starts over.

import { wsUrl, checkSession, CHECK_SESSION_AFTER } from "./api.js";

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
    this.helloSeq = null;
    this.failures = 0;      // connections in a row that ended before a hello
  }

  start() {
    this.connect();
    this.timer = setInterval(() => this.keepAlive(), 15000);
    return this;
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws?.close();
  }

  connect() {
    const since = this.seq == null ? "" : `?since=${this.seq}`;
    const ws = new WebSocket(wsUrl("/api/v1/stream" + since));
    this.ws = ws;
    this.reconnecting = this.seq != null;
    // Once it has been online, a reconnect attempt still shows "offline" until a hello.
    if (this.helloSeq == null) this.h.onStatus?.("connecting");
    ws.onmessage = (m) => this.message(m.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.h.onStatus?.("offline");
      if (this.stopped) return;
      // An expired session makes the upgrade fail with 401, which a script cannot see: after a
      // few failures, ask; checkSession goes to the login page on 401.
      if (++this.failures % CHECK_SESSION_AFTER === 0) checkSession();
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 5000);
    };
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

  keepAlive() {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    if (this.lastMessage && Date.now() - this.lastMessage > 45000) { this.ws.close(); return; }
    this.send({ type: "ping" });
  }
}
