// How live the live wall is, in Chromium: a 16-tile wall against the demo hub, for
// LATENCY_SECONDS (60 by default). Every fragment carries a prft with the instant its frame
// reached the hub; the page knows, for each frame it shows (requestVideoFrameCallback), how
// old it is (web/assets/js/latency.js). The test prints the median and 95th percentile of that
// age per tile and over the wall, and the stalls; it asserts what must hold whatever the
// machine: every tile was measured, the figures are real ages (positive, finite), and the
// stopwatch overlay shows one. The demo's four simulated cameras are each registered four times: 16
// camera sessions to the hub, 4 encoders.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { loadavg, cpus } from "node:os";
import { startDemo } from "../lib/hub.js";
import { launch, loginAs, DESKTOP, shot } from "../lib/browser.js";

const SECONDS = Number(process.env.LATENCY_SECONDS || 60);
const TILES = 16;

const ms = (v) => (v == null ? "-" : `${Math.round(v)}`);

describe("live wall latency over MSE", () => {
  let hub;
  let browser;
  before(async () => {
    hub = await startDemo();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it("reads the prft the hub writes", async () => {
    const { page, context } = await loginAs(browser, hub, "duty", DESKTOP);
    await page.waitForURL("**/wall");
    const read = await page.evaluate(async () => {
      const { readPrft, quantile } = await import("/assets/js/latency.js");
      // prft v1, flags 2, track 1, NTP 2023-11-14T22:13:20.250Z, media time 3600 (40 ms).
      const box = new DataView(new ArrayBuffer(40));
      box.setUint32(0, 32);
      [0x70, 0x72, 0x66, 0x74].forEach((b, i) => box.setUint8(4 + i, b));
      box.setUint32(8, 0x01000002);
      box.setUint32(12, 1);
      box.setUint32(16, 1700000000 + 2208988800);
      box.setUint32(20, 2 ** 30); // a quarter of a second
      box.setUint32(24, 0);
      box.setUint32(28, 3600);
      const moof = new DataView(new ArrayBuffer(16));
      moof.setUint32(0, 16);
      [0x6d, 0x6f, 0x6f, 0x66].forEach((b, i) => moof.setUint8(4 + i, b));
      return {
        prft: readPrft(box.buffer),
        none: readPrft(moof.buffer),
        q: [quantile([1, 2, 3, 4], 0.5), quantile([1, 2, 3, 4], 0.95), quantile([], 0.5)],
      };
    });
    assert.deepEqual(read.prft, { media: 0.04, arrival: 1700000000250 });
    assert.equal(read.none, null, "a segment without prft");
    assert.deepEqual(read.q, [2, 4, null]);
    await context.close();
  });

  it("a tile a little behind catches up by playing faster, not by jumping", async () => {
    const { page, context } = await loginAs(browser, hub, "duty", DESKTOP);
    await page.waitForURL("**/wall");
    const id = await page.evaluate(async () => {
      for (;;) {
        const tiles = window.gwWall?.tiles.tiles ?? new Map();
        const playing = [...tiles].find(([, e]) => e.player.state === "playing");
        if (playing) return playing[0];
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    await page.waitForTimeout(3500); // past the start's jump and its cooldown
    const seen = await page.evaluate(async (id) => {
      const p = window.gwWall.tiles.tiles.get(id).player;
      const jumps = p.lastJump;
      // A network hiccup: nothing for 600 ms, then all of it at once.
      const handler = p.ws.onmessage;
      const held = [];
      p.ws.onmessage = (m) => held.push(m);
      await new Promise((r) => setTimeout(r, 600));
      p.ws.onmessage = handler;
      for (const m of held) handler(m);
      let fastest = 1;
      const lags = [];
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 100));
        fastest = Math.max(fastest, p.video.playbackRate);
        lags.push(p.lag());
      }
      return { jumped: p.lastJump !== jumps, fastest, rate: p.video.playbackRate, first: lags[0], last: lags.at(-1) };
    }, id);
    console.log(`a tile ${seen.first.toFixed(2)} s behind after a hiccup: up to ${seen.fastest.toFixed(2)}x, ${seen.last.toFixed(2)} s behind 6 s later, rate ${seen.rate}`);
    assert.equal(seen.jumped, false, "no jump for half a second");
    assert.ok(seen.fastest > 1 && seen.fastest <= 1.25, `played faster, within 1.25x: ${seen.fastest}`);
    assert.ok(seen.last < seen.first, `closer to live: ${seen.first} -> ${seen.last}`);
    await context.close();
  });

  it(`measures every tile of a ${TILES}-tile wall for ${SECONDS} s`, { timeout: (SECONDS + 180) * 1000 }, async () => {
    const admin = await loginAs(browser, hub, "admin", DESKTOP);
    await admin.page.waitForURL("**/wall"); // logged in
    const cameras = await (await admin.context.request.get("/api/v1/cameras")).json();
    assert.equal(cameras.length, 4, "the demo's cameras");
    for (let copy = 2; copy <= TILES / cameras.length; copy++) {
      for (const c of cameras) {
        const res = await admin.context.request.post("/api/v1/cameras", {
          data: { name: `${c.name} #${copy}`, rtsp_url: c.rtsp_url, grid_id: c.grid_id },
        });
        assert.equal(res.status(), 201, await res.text());
      }
    }
    const wall = await (await admin.context.request.get("/api/v1/cameras")).json();
    assert.equal(wall.length, TILES);
    await admin.context.close();

    const { page } = await loginAs(browser, hub, "duty", DESKTOP);
    await page.waitForURL("**/wall");
    await page.locator(`.layouts [data-layout="${TILES}"]`).click();
    await page.waitForFunction((n) => {
      const tiles = [...window.gwWall.tiles.tiles.values()];
      return tiles.length === n && tiles.every((e) => e.player.state === "playing");
    }, TILES, { timeout: 60000 });

    // The overlay, on demand: one tile's stopwatch button.
    const first = page.locator("#tiles .tile").first();
    await first.locator(".latency-toggle").click();
    await first.locator(".latency").filter({ hasText: /^\d+ ms$/ }).waitFor({ timeout: 10000 });

    await page.waitForTimeout(5000); // settle at the live edge
    await page.evaluate(() => window.gwWall.tiles.resetLatency());
    const started = Date.now();
    await page.waitForTimeout(SECONDS * 1000);
    const measured = await page.evaluate(() => {
      const tiles = window.gwWall.tiles;
      const all = [...tiles.tiles.values()].flatMap((e) => e.player.latency.samples);
      return { tiles: tiles.latency(), all };
    });
    const seconds = (Date.now() - started) / 1000;
    const load = loadavg()[0].toFixed(1);
    await shot(page, "wall-16-latency-desktop");

    const all = measured.all.sort((a, b) => a - b);
    const q = (p) => all[Math.min(all.length - 1, Math.ceil(p * all.length) - 1)];
    const rows = Object.entries(measured.tiles);
    console.log(`\nMSE glass-to-glass latency (frame reaches the hub -> on screen), ${rows.length} tiles, ${seconds.toFixed(0)} s, load average ${load} on ${cpus().length} CPUs:`);
    console.log(`${"tile".padEnd(36)}  frames  shown/s  measured  p50 ms  p95 ms  stalls  waits`);
    for (const [id, s] of rows) {
      const name = wall.find((c) => c.id === id)?.name ?? id;
      console.log(`${name.slice(0, 36).padEnd(36)} ${String(s.frames).padStart(7)} ${(s.frames / seconds).toFixed(1).padStart(8)} ${String(s.measured).padStart(9)} ${ms(s.p50).padStart(7)} ${ms(s.p95).padStart(7)} ${String(s.stalls).padStart(7)} ${String(s.waits).padStart(6)}`);
    }
    const stalls = rows.reduce((n, [, s]) => n + s.stalls, 0);
    const waits = rows.reduce((n, [, s]) => n + s.waits, 0);
    console.log(`wall: ${all.length} frames measured (${(all.length / seconds / rows.length).toFixed(1)} per tile per second of the cameras' 25), p50 ${ms(q(0.5))} ms, p95 ${ms(q(0.95))} ms, ${stalls} stalls (no new frame for 0.5 s), ${waits} waits for data\n`);

    assert.equal(rows.length, TILES, "every tile reported");
    for (const [id, s] of rows) {
      assert.ok(s.frames > 0 && s.measured > 0, `tile ${id} was measured: ${JSON.stringify(s)}`);
      assert.ok(Number.isFinite(s.p50) && Number.isFinite(s.p95), `tile ${id}: ${JSON.stringify(s)}`);
      // A frame is shown after it reached the hub: an age of zero or less would mean the
      // prft and the frames are paired wrongly.
      assert.ok(s.p50 > 0 && s.p95 >= s.p50, `tile ${id}: ${JSON.stringify(s)}`);
    }
  });
});
