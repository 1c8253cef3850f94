// What the pages do when things go wrong, in a real Chromium against its own `gridwatch demo`:
// the wall cut off while an SOS is raised, a dispatch that no console receives, a second tap on
// a console button, a failed resolve, an alarm for an incident closed while the console was
// away, a phone that cannot get its SOS through, camera video that stops or cannot play, an
// expired session, a hub that does not answer /api/v1/me for a moment.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../lib/hub.js";
import { launch, loginAs, shot, holdSos, ringing, cutOff, back, raiseSos, residentCancels as cancelSos, PHONE, DESKTOP, GEO } from "../lib/browser.js";

let hub, browser, wall, console_, resident;
const timeout = { timeout: 10000 };

/** Cancels the resident's current call for help from their page. */
const residentCancels = () => cancelSos(resident);

/** The resident raises a new SOS; resolves when the console of grid 1's first post has it. */
async function newSos() {
  const id = await raiseSos(resident);
  await resident.page.locator("#status[data-state=dispatched]").waitFor(timeout);
  await console_.page.locator("#job[data-state=dispatched]").waitFor(timeout);
  return id;
}

/** The wall acknowledges its alarm and closes the incident view. The alarm may stop by
 *  itself meanwhile (its incident was just cancelled, and the wall hears of it after it was
 *  seen showing): then there is nothing left to acknowledge. */
async function wallSeen() {
  const w = wall.page;
  if (await w.locator("#alarm").isVisible()) {
    await w.click("#alarm-seen", { timeout: 5000 }).catch(async (e) => {
      if (await w.locator("#alarm").isVisible()) throw e;
    });
  }
  if (await w.locator("#detail").isVisible()) await w.click("#detail-close");
}

describe("gridwatch in the browser, when things go wrong", { timeout: 300000 }, () => {
  before(async () => {
    hub = await startDemo();
    browser = await launch();
    wall = await loginAs(browser, hub, "duty", DESKTOP);
    console_ = await loginAs(browser, hub, "worker", { ...DESKTOP, ...GEO });
    resident = await loginAs(browser, hub, "resident", { ...PHONE, ...GEO });
    for (const { page } of [wall, console_, resident]) {
      await page.locator("#net[data-state=online]").waitFor(timeout);
    }
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it("the wall, cut off while an SOS is raised, rings for it when it is back", async () => {
    const w = wall.page;
    await cutOff(wall, "gwWall");
    const id = await newSos();
    await w.waitForTimeout(300);
    assert.equal(await w.locator("#alarm").isVisible(), false, "offline: nothing yet");
    await back(wall);
    // The SOS comes back as a replayed event; it is still open, so the wall alarms.
    await w.locator("#alarm").waitFor(timeout);
    await w.locator(`#alerts li.new[data-id="${id}"]`).waitFor(timeout);
    assert.equal(await w.locator("#alarm-title").getAttribute("data-i18n"), "wall.new_sos");
    assert.equal(await ringing(w), true, "the alarm sounds");
    await wallSeen();
    assert.equal(await ringing(w), false);
  });

  it("the wall rings when a dispatch reaches no console", async () => {
    const w = wall.page;
    // Nobody is logged in at the Qingjiang police post: redirecting there is not received.
    await w.locator("#alerts li[data-kind=sos] button").first().click();
    await w.locator("#d-state[data-state=dispatched]").waitFor(timeout);
    const police = await w.locator("#d-post option", { hasText: "Qingjiang police post" }).getAttribute("value");
    await w.selectOption("#d-post", police);
    await w.click("#d-dispatch");
    await w.locator("#alarm").waitFor(timeout);
    assert.equal(await w.locator("#alarm-title").getAttribute("data-i18n"), "wall.alarm.undelivered");
    assert.match(await w.locator("#alarm-title").textContent(), /接警台不在线/);
    await w.locator("#alerts li.new[data-kind=sos]").waitFor(timeout);
    assert.equal(await ringing(w), true, "the alarm sounds");
    await w.locator("#d-delivered[data-delivered=false]").waitFor(timeout);
    // The timeline names the post of each dispatch.
    await w.locator("#d-timeline li[data-type='incident.dispatched']", { hasText: "Qingjiang police post" }).waitFor(timeout);
    await shot(w, "wall-undelivered-desktop");
    await console_.page.locator("#none").waitFor(timeout);
    await wallSeen();
    await residentCancels();
    await w.locator("#alerts li[data-kind=sos]").waitFor({ state: "detached", ...timeout });
  });

  it("a second tap on a console button while its request runs does nothing", async () => {
    const c = console_.page;
    await newSos();
    // Two taps in a row, faster than the hub answers.
    await c.locator("#b-ack").evaluate((b) => { b.click(); b.click(); });
    await resident.page.locator("#status[data-state=acknowledged]").waitFor(timeout);
    await c.locator("#job[data-state=acknowledged]").waitFor(timeout);
    await c.waitForTimeout(500);
    assert.equal(await c.locator("#job-error").isVisible(), false, await c.locator("#job-error").textContent());
    await c.locator("#b-enroute").evaluate((b) => { b.click(); b.click(); });
    await c.locator("#job[data-state=en_route]").waitFor(timeout);
    await c.waitForTimeout(500);
    assert.equal(await c.locator("#job-error").isVisible(), false, await c.locator("#job-error").textContent());
    await wallSeen();
  });

  it("the console keeps the resolve note when resolving fails", async () => {
    const c = console_.page;
    await c.click("#b-arrive");
    await c.locator("#job[data-state=on_scene]").waitFor(timeout);
    await console_.context.setOffline(true);
    await c.fill("#f-resolve input[name=note]", "已调解 settled");
    await c.click("#b-resolve");
    await c.locator("#job-error").waitFor(timeout);
    assert.equal(await c.inputValue("#f-resolve input[name=note]"), "已调解 settled", "the note is kept");
    await console_.context.setOffline(false);
    await c.click("#b-resolve");
    await resident.page.locator("#status[data-state=resolved]").waitFor(timeout);
    await c.locator("#none").waitFor(timeout);
    assert.equal(await c.inputValue("#f-resolve input[name=note]"), "", "cleared once resolved");
    await c.locator("#net[data-state=online]").waitFor({ timeout: 15000 });
  });

  it("the console's alarm stops for an incident closed while it was away (resync)", async () => {
    const c = console_.page;
    await newSos();
    await c.locator("#new-banner").waitFor(timeout);
    assert.equal(await ringing(c), true, "a new dispatch rings");
    await cutOff(console_, "gwConsole");
    await residentCancels();
    // Ahead of the log: the hub cannot replay, it sends a resync and a fresh hello.
    await c.evaluate(() => { window.gwConsole.stream.seq = 1e9; });
    await back(console_);
    await c.locator("#none").waitFor(timeout);
    assert.equal(await c.evaluate(() => document.body.classList.contains("takeover")), false);
    assert.equal(await ringing(c), false, "nothing left to ring for");
    await wallSeen();
  });

  it("an SOS that cannot get through offers to call 110, and keeps trying", async () => {
    const r = resident.page;
    if (await r.locator("#again").isVisible()) await r.click("#again");
    await resident.context.setOffline(true);
    await holdSos(r);
    await r.locator("#sending-text[data-i18n='sos.retrying']").waitFor(timeout);
    assert.equal(await r.locator("#call-police").isVisible(), false, "not at once");
    await r.locator("#call-police").waitFor({ timeout: 15000 });
    assert.equal(await r.locator("#call-110").getAttribute("href"), "tel:110");
    assert.equal((await r.locator("#call-110").textContent()).trim(), "请直接拨打 110");
    await shot(r, "sos-call-110-phone");
    await resident.context.setOffline(false);
    await r.locator("#status[data-state=dispatched]").waitFor({ timeout: 15000 });
    assert.equal(await r.locator("#call-police").isVisible(), false);
    await residentCancels();
    await wallSeen();
  });

  it("the SOS page says help is coming only once someone has taken the call", async () => {
    const r = resident.page;
    await newSos();
    // The post's console has it, nobody has acknowledged: received, not "coming".
    await r.locator("#headline[data-i18n='sos.received']").waitFor(timeout);
    assert.match(await r.locator("#headline").textContent(), /网格员一队/);
    assert.equal(await r.locator("#coming").isVisible(), false);
    assert.equal(await r.locator("#help-call").getAttribute("data-urgent"), "false");
    await console_.page.click("#b-ack");
    await r.locator("#headline[data-i18n='sos.coming']").waitFor(timeout);
    assert.equal(await r.locator("#headline").textContent(), "救援正在赶来");
    await residentCancels();
    await r.locator("#headline[data-i18n='sos.cancelled']").waitFor(timeout);
    await wallSeen();
  });

  it("camera video: a stall, an offline camera, a full buffer, a new init, a format it cannot play", async (t) => {
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (camera simulator not available)"); return; }
    const w = wall.page;
    const playing = await w.waitForFunction(() => {
      for (const [id, e] of window.gwWall.tiles.tiles) if (e.state === "playing") return id;
      return false;
    }, null, { timeout: 30000, polling: 500 });
    const id = await playing.jsonValue();
    const badge = w.locator(`#tiles [data-camera="${id}"] .badge`);
    const status = () => badge.getAttribute("data-status");
    const online = async () => {
      await w.waitForFunction((id) => window.gwWall.tiles.tiles.get(id).player.state === "playing", id, { timeout: 15000 });
      await w.locator(`#tiles [data-camera="${id}"] .badge[data-status=online]`).waitFor(timeout);
    };
    await online();
    const starve = () => w.evaluate((id) => { window.gwWall.tiles.tiles.get(id).player.ws.onmessage = null; }, id);
    const reconnect = async () => {
      await w.evaluate((id) => window.gwWall.tiles.tiles.get(id).player.ws.close(), id);
      // While it reconnects the tile does not say "online".
      await w.locator(`#tiles [data-camera="${id}"] .badge[data-status=connecting]`).waitFor(timeout);
      await online();
    };

    // The camera stops sending: the frozen picture is marked stalled, in words.
    await starve();
    await w.locator(`#tiles [data-camera="${id}"] .badge[data-status=stalled]`).waitFor({ timeout: 10000 });
    assert.equal(await badge.textContent(), "画面中断");
    await reconnect();

    // The hub says the camera is offline: that wins over the last picture still on screen.
    await starve();
    await w.waitForTimeout(300); // an append under way finishes
    await w.evaluate((id) => window.gwWall.stream.h.onEvent(
      { type: "camera.offline", data: { camera_id: id, status: "offline" } }, { replayed: false }), id);
    assert.equal(await status(), "offline");
    await w.evaluate((id) => window.gwWall.stream.h.onEvent(
      { type: "camera.online", data: { camera_id: id } }, { replayed: false }), id);
    await reconnect();

    // A full buffer: the segment that did not fit is appended again, not dropped.
    const retried = await w.evaluate((id) => new Promise((resolve) => {
      const sb = window.gwWall.tiles.tiles.get(id).player.sb;
      let rejected = null;
      sb.appendBuffer = function (segment) {
        if (!rejected) { rejected = segment; throw new DOMException("buffer full", "QuotaExceededError"); }
        delete sb.appendBuffer;
        resolve(segment === rejected);
        return SourceBuffer.prototype.appendBuffer.call(sb, segment);
      };
      setTimeout(() => resolve("no append in 10 s"), 10000);
    }), id);
    assert.equal(retried, true);
    await online();

    // A new init segment: the old MediaSource is ended and its address revoked.
    const init = await w.evaluate(async (id) => {
      const { LivePlayer } = await import("/assets/js/live.js");
      let mime = null;
      const add = MediaSource.prototype.addSourceBuffer;
      MediaSource.prototype.addSourceBuffer = function (m) { mime = m; return add.call(this, m); };
      const revoke = URL.revokeObjectURL;
      const revoked = [];
      URL.revokeObjectURL = (u) => { revoked.push(u); revoke.call(URL, u); };
      const video = document.createElement("video");
      document.body.append(video);
      const states = [];
      const p = new LivePlayer(video, id, { onState: (s) => states.push(s) }).start();
      try {
        for (let n = 0; n < 100 && !states.includes("playing"); n++) await new Promise((r) => setTimeout(r, 100));
        const oldUrl = p.url, oldMs = p.ms;
        p.control(JSON.stringify({ type: "init", mime }));
        return { playing: states.includes("playing"), revoked: revoked.includes(oldUrl), oldOpen: oldMs.readyState === "open", fresh: p.url !== oldUrl && p.ms !== oldMs };
      } finally {
        p.stop();
        video.remove();
        MediaSource.prototype.addSourceBuffer = add;
        URL.revokeObjectURL = revoke;
      }
    }, id);
    assert.deepEqual(init, { playing: true, revoked: true, oldOpen: false, fresh: true });

    // A format this browser cannot play: it says so, and stays so (not "offline").
    const states = await w.evaluate(async (id) => {
      const { LivePlayer } = await import("/assets/js/live.js");
      const supported = MediaSource.isTypeSupported;
      MediaSource.isTypeSupported = () => false;
      const states = [];
      const p = new LivePlayer(document.createElement("video"), id, { onState: (s) => states.push(s) }).start();
      for (let n = 0; n < 50 && !states.includes("unsupported"); n++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 1500)); // the socket's close has come and gone
      MediaSource.isTypeSupported = supported;
      p.stop();
      return states;
    }, id);
    assert.equal(states.at(-1), "unsupported", `states: ${states}`);
    // The tile's words for it: this browser, not the camera.
    const label = await w.evaluate((id) => {
      const e = window.gwWall.tiles.tiles.get(id);
      const was = e.state;
      e.state = "unsupported";
      window.gwWall.tiles.badge(e);
      const text = [e.badge.dataset.status, e.badge.textContent];
      e.state = was;
      window.gwWall.tiles.badge(e);
      return text;
    }, id);
    assert.deepEqual(label, ["unplayable", "浏览器不支持此视频格式"]);
  });

  it("a page whose /api/v1/me fails for a moment retries instead of leaving", async () => {
    const ctx = await browser.newContext({ baseURL: hub.base, locale: "zh-CN", ...DESKTOP, storageState: await console_.context.storageState() });
    let calls = 0;
    await ctx.route("**/api/v1/me", (route) => (++calls <= 2
      ? route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"unavailable","message":"restarting"}}' })
      : route.continue()));
    const page = await ctx.newPage();
    await page.goto("/console");
    await page.locator("#net[data-state=online]").waitFor({ timeout: 15000 });
    assert.equal(new URL(page.url()).pathname, "/console");
    assert.ok(calls >= 3, `/api/v1/me asked ${calls} times`);
    await ctx.close();
  });

  it("after the session ends, the wall's stream gives up and goes to the login page", async () => {
    const other = await loginAs(browser, hub, "duty", DESKTOP);
    const p = other.page;
    await p.waitForURL("**/wall", timeout);
    await p.locator("#net[data-state=online]").waitFor(timeout);
    const out = await other.context.request.post("/api/v1/auth/logout");
    assert.equal(out.status(), 204);
    await p.evaluate(() => window.gwWall.stream.ws.close());
    await p.waitForURL((url) => url.pathname === "/", { timeout: 20000 });
    await p.locator("#login").waitFor(timeout);
    await other.context.close();
  });
});
