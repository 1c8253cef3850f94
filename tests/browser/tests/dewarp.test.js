// 360° cameras straightened in the browser (web/assets/js/dewarp.js, WebGL2 through
// SwiftShader): a fisheye test pattern with known colours per quarter of the circle (and a
// white centre) is played through a <video> and dewarped; pixels are read back where each
// feature must land in the panorama, the two 180° strips, the quad and with another mount and
// orientation. Then the wall's panoramic tile (panorama by default, the view switcher) and the
// admin's calibration page (drag the centre, save, read it back), with screenshots in both
// languages.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../lib/hub.js";
import { launch, loginAs, shot, DESKTOP, WEBGL } from "../lib/browser.js";
import { assertAccessible } from "../lib/axe.js";

let hub, browser, admin;
const timeout = { timeout: 15000 };

/** In the page: a 1280×720 fisheye pattern (circle centred, radius 360 px = 0.28125 of the
 *  width: the default calibration) played as a video; the quarters, clockwise from the
 *  image's +x axis, red, green, blue, yellow; within 0.3 of the radius white. Returns, for
 *  each case, the colours read back at the given points of the dewarped canvas. */
async function dewarpPattern(page, cases, show = false) {
  return page.evaluate(async ({ cases, show }) => {
    const { Dewarper } = await import("/assets/js/dewarp.js");
    const src = document.createElement("canvas");
    src.width = 1280; src.height = 720;
    const g = src.getContext("2d");
    const paint = () => {
      g.fillStyle = "#000"; g.fillRect(0, 0, 1280, 720);
      const colours = ["#ff0000", "#00ff00", "#0000ff", "#ffff00"];
      colours.forEach((c, i) => {
        g.beginPath(); g.moveTo(640, 360); g.arc(640, 360, 360, i * Math.PI / 2, (i + 1) * Math.PI / 2); g.closePath();
        g.fillStyle = c; g.fill();
      });
      g.beginPath(); g.arc(640, 360, 108, 0, 2 * Math.PI); g.fillStyle = "#fff"; g.fill();
    };
    paint();
    const timer = setInterval(paint, 50);
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = src.captureStream(20);
    await video.play();
    while (!video.videoWidth) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const out = {};
    const holder = document.createElement("div");
    holder.id = "dewarp-test";
    holder.style.cssText = "position:fixed;inset:0;z-index:1000;background:#222;display:flex;flex-wrap:wrap;gap:8px;padding:8px;align-content:flex-start";
    if (show) document.body.append(holder);
    for (const c of cases) {
      const canvas = document.createElement("canvas");
      canvas.width = c.size[0]; canvas.height = c.size[1];
      if (show) { canvas.style.cssText = `width:${c.size[0]}px;height:${c.size[1]}px`; holder.append(canvas); }
      const d = new Dewarper(video, canvas, c.calibration, { view: c.view });
      if (!d.draw()) throw new Error("nothing drawn");
      const gl = canvas.getContext("webgl2");
      out[c.name] = c.points.map(([u, v]) => {
        const px = new Uint8Array(4);
        const x = Math.floor(u * canvas.width), y = Math.floor(v * canvas.height);
        gl.readPixels(x, canvas.height - 1 - y, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
        return [px[0], px[1], px[2]];
      });
    }
    clearInterval(timer);
    return out;
  }, { cases, show });
}

/** The name of the colour read back (video compression and filtering blur the values). */
function colour([r, g, b]) {
  const hi = (x) => x > 160, lo = (x) => x < 90;
  if (hi(r) && hi(g) && hi(b)) return "white";
  if (hi(r) && hi(g) && lo(b)) return "yellow";
  if (hi(r) && lo(g) && lo(b)) return "red";
  if (lo(r) && hi(g) && lo(b)) return "green";
  if (lo(r) && lo(g) && hi(b)) return "blue";
  if (lo(r) && lo(g) && lo(b)) return "black";
  return `rgb(${r},${g},${b})`;
}

/** The hue of a colour whatever its brightness (the pattern's squares are bright or dim). */
function hue([r, g, b]) {
  const m = Math.max(r, g, b);
  if (m < 40) return "black";
  const on = [r, g, b].map((x) => x > 0.6 * m);
  return { "100": "red", "010": "green", "001": "blue", "110": "yellow", "111": "white" }[on.map(Number).join("")] ?? `rgb(${r},${g},${b})`;
}

const ceiling = { mount: "ceiling", center_x: 0.5, center_y: 0.5, radius: 0.28125, orientation: 0 };

describe("fisheye dewarp", { timeout: 240000 }, () => {
  before(async () => {
    // Short recording segments: the focused tile's playback has something to play soon.
    hub = await startDemo({ GRIDWATCH_RECORDING__SEGMENT_SECONDS: "2" });
    browser = await launch(WEBGL);
    admin = await loginAs(browser, hub, "admin", { ...DESKTOP, locale: "zh-CN" });
    await admin.page.waitForURL("**/wall", timeout);
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it("the pattern lands where the lens model puts it, in every view", async () => {
    const q = [[0.125, 0.3], [0.375, 0.3], [0.625, 0.3], [0.875, 0.3], [0.5, 0.95], [0.125, 0.02]];
    const cells = [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]];
    const got = await dewarpPattern(admin.page, [
      // The panorama runs clockwise round the circle from the orientation: a quarter each,
      // the horizon at the top (the circle's edge), the white centre at the bottom.
      { name: "panorama", view: "panorama", size: [800, 200], calibration: ceiling, points: q },
      // Turned by 90°: the panorama starts at the green quarter.
      { name: "turned", view: "panorama", size: [800, 200], calibration: { ...ceiling, orientation: 90 }, points: q },
      // Looking up: the picture is mirrored, so the panorama goes the other way round.
      { name: "floor", view: "panorama", size: [800, 200], calibration: { ...ceiling, mount: "floor" }, points: [[0.125, 0.3], [0.375, 0.3]] },
      // Two strips of 180°: red then green above, blue then yellow below.
      { name: "dual", view: "dual", size: [800, 400], calibration: ceiling, points: [[0.25, 0.15], [0.75, 0.15], [0.25, 0.65], [0.75, 0.65]] },
      // Four straight views looking 35° down at 45°, 135°, 225°, 315°: one quarter each.
      { name: "quad", view: "quad", size: [400, 400], calibration: ceiling, points: cells },
      // The raw view is the fisheye as it is: the centre white, outside the circle black.
      { name: "raw", view: "raw", size: [640, 360], calibration: ceiling, points: [[0.5, 0.5], [0.05, 0.05], [0.6, 0.7]] },
    ]);
    const named = Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.map(colour)]));
    console.log("dewarped pattern:", JSON.stringify(named));
    assert.deepEqual(named.panorama, ["red", "green", "blue", "yellow", "white", named.panorama[5]]);
    assert.notEqual(named.panorama[5], "white", "the top row is the circle's edge, not its centre");
    assert.deepEqual(named.turned.slice(0, 4), ["green", "blue", "yellow", "red"]);
    assert.deepEqual(named.floor, ["yellow", "blue"]);
    assert.deepEqual(named.dual, ["red", "green", "blue", "yellow"]);
    assert.deepEqual(named.quad, ["red", "green", "blue", "yellow"]);
    assert.deepEqual(named.raw, ["white", "black", "red"]);
  });

  it("screenshots of the pattern dewarped into a panorama and a quad", async () => {
    const { page } = admin;
    await dewarpPattern(page, [
      { name: "raw", view: "raw", size: [480, 270], calibration: ceiling, points: [] },
      { name: "panorama", view: "panorama", size: [960, 240], calibration: ceiling, points: [] },
      { name: "quad", view: "quad", size: [400, 400], calibration: ceiling, points: [] },
      { name: "dual", view: "dual", size: [800, 400], calibration: ceiling, points: [] },
    ], true);
    await shot(page, "dewarp-pattern");
    await page.evaluate(() => document.getElementById("dewarp-test")?.remove());
  });

  it("a panoramic camera's wall tile opens on the panorama and switches views", async () => {
    const { page } = admin;
    // No GPU here: allow SwiftShader for this screen (see dewarpSupported).
    await page.evaluate(() => localStorage.setItem("gw.dewarp.software", "1"));
    await page.goto("/wall");
    // The east gate: the simulator's fisheye pattern, calibrated by the demo (orientation 45°).
    const tile = page.locator(".tile.panoramic", { hasText: "East gate" });
    await tile.waitFor(timeout);
    assert.equal(await tile.getAttribute("data-view"), "panorama");
    await tile.locator("canvas.dewarp").waitFor(timeout);
    // Video arrives, and the canvas gets drawn from it: a canvas never drawn is transparent,
    // the dewarped picture opaque everywhere (black outside the circle).
    const id = await tile.getAttribute("data-camera");
    await page.waitForFunction((id) => {
      const c = document.querySelector(`.tile[data-camera="${id}"] canvas.dewarp`);
      const v = document.querySelector(`.tile[data-camera="${id}"] video`);
      if (!c || !v || v.readyState < 2 || !c.width) return false;
      const gl = c.getContext("webgl2");
      const px = new Uint8Array(4 * c.width);
      gl.readPixels(0, Math.floor(c.height / 2), c.width, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
      return px.every((x, i) => i % 4 !== 3 || x === 255) && v.currentTime > 0.5;
    }, id, { timeout: 30000 });
    // The live fisheye pattern, turned by the calibration's 45°: red from -45° to 45° of
    // the panorama, then green, blue, yellow, a quarter each.
    const bands = await page.evaluate((id) => {
      const c = document.querySelector(`.tile[data-camera="${id}"] canvas.dewarp`);
      const gl = c.getContext("webgl2");
      return [0.0625, 0.25, 0.5, 0.75].map((u) => {
        const px = new Uint8Array(4 * 9);
        gl.readPixels(Math.floor(u * c.width), Math.floor(c.height * 0.45), 3, 3, gl.RGBA, gl.UNSIGNED_BYTE, px);
        const avg = [0, 1, 2].map((k) => px.filter((_, i) => i % 4 === k).reduce((a, b) => a + b, 0) / 9);
        return avg;
      });
    }, id);
    console.log("live panorama bands:", JSON.stringify(bands));
    assert.deepEqual(bands.map(hue), ["red", "green", "blue", "yellow"]);
    for (const lang of ["zh-CN", "en"]) {
      await page.evaluate((l) => { if (window.gwI18n.lang !== l) window.gwI18n.toggle(); }, lang);
      const suffix = lang === "en" ? "en" : "zh";
      await tile.locator('.dewarp-views button[data-view="panorama"]').click();
      await page.waitForTimeout(300);
      await shot(page, `dewarp-wall-panorama-${suffix}`);
      await tile.locator('.dewarp-views button[data-view="quad"]').click();
      assert.equal(await tile.getAttribute("data-view"), "quad");
      await page.waitForTimeout(300);
      await shot(page, `dewarp-wall-quad-${suffix}`);
      const label = await tile.locator('.dewarp-views button[data-view="ptz"]').getAttribute("title");
      assert.match(label, lang === "en" ? /PTZ/ : /云台/);
    }
    // A click on a switcher button did not enlarge the tile.
    assert.notEqual(await page.locator(".tiles").getAttribute("data-layout"), "1");
    // PTZ: dragging pans.
    await tile.locator('.dewarp-views button[data-view="ptz"]').click();
    assert.equal(await tile.locator("canvas.dewarp").getAttribute("data-view"), "ptz");
    const box = await tile.locator("canvas.dewarp").boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 80, box.y + box.height / 2 + 20, { steps: 4 });
    await page.mouse.up();
    // The last view is remembered for the camera: back to the panorama for the next run.
    await tile.locator('.dewarp-views button[data-view="panorama"]').click();
    await page.evaluate(() => { if (window.gwI18n.lang !== "zh-CN") window.gwI18n.toggle(); });
  });

  it("the focused 360° tile's playback is dewarped as its live picture", async () => {
    const { page, context } = admin;
    await page.evaluate(() => localStorage.setItem("gw.dewarp.software", "1"));
    await page.goto("/wall");
    const tile = page.locator(".tile.panoramic", { hasText: "East gate" });
    await tile.waitFor(timeout);
    const id = await tile.getAttribute("data-camera");
    for (let n = 0; ; n++) {
      const r = await (await context.request.get(`/api/v1/cameras/${id}/recordings`)).json();
      if (r.spans.length && Date.parse(r.spans[0].to) - Date.parse(r.spans[0].from) > 6000) break;
      assert.ok(n < 60, `no recordings after 30 s: ${JSON.stringify(r)}`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
    await tile.locator(".name").click(); // enlarge (the canvas itself is the picture)
    const tl = tile.locator(".cam-timeline");
    await tl.locator(".tl-span").first().waitFor(timeout);
    const span = await tl.locator(".tl-span").last().boundingBox();
    await page.mouse.click(span.x + span.width - 3, span.y + span.height / 2);
    await page.locator(`.tile[data-camera="${id}"][data-playback=true][data-status=online]`).waitFor(timeout);
    assert.equal(await tile.getAttribute("data-view"), "panorama");
    // Wipe the canvas: only frames of the playback can paint it again.
    const bands = await page.evaluate(async (id) => {
      const c = document.querySelector(`.tile[data-camera="${id}"] canvas.dewarp`);
      const v = document.querySelector(`.tile[data-camera="${id}"] video`);
      const gl = c.getContext("webgl2");
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT);
      const t0 = v.currentTime;
      const opaque = () => {
        const px = new Uint8Array(4 * c.width);
        gl.readPixels(0, Math.floor(c.height / 2), c.width, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
        return px.every((x, i) => i % 4 !== 3 || x === 255);
      };
      for (let n = 0; n < 150 && !(opaque() && v.currentTime > t0); n++) await new Promise((r) => setTimeout(r, 100));
      return [0.0625, 0.25, 0.5, 0.75].map((u) => {
        const px = new Uint8Array(4 * 9);
        gl.readPixels(Math.floor(u * c.width), Math.floor(c.height * 0.45), 3, 3, gl.RGBA, gl.UNSIGNED_BYTE, px);
        return [0, 1, 2].map((k) => px.filter((_, i) => i % 4 === k).reduce((a, b) => a + b, 0) / 9);
      });
    }, id);
    console.log("playback panorama bands:", JSON.stringify(bands));
    assert.deepEqual(bands.map(hue), ["red", "green", "blue", "yellow"]);
    // The view switcher works on the recording as on live.
    await tile.locator('.dewarp-views button[data-view="quad"]').click();
    assert.equal(await tile.getAttribute("data-view"), "quad");
    await page.waitForTimeout(300);
    await shot(page, "dewarp-playback-quad-zh");
    await tile.locator('.dewarp-views button[data-view="panorama"]').click();
    await tl.locator(".tl-live").click();
    await page.locator(`.tile[data-camera="${id}"][data-playback=false]`).waitFor(timeout);
  });

  it("the admin calibrates a camera over its snapshot and saves", async () => {
    const { page, context } = admin;
    const cameras = await (await context.request.get("/api/v1/cameras")).json();
    const cam = cameras.find((c) => c.panoramic);
    await page.goto(`/calibrate?camera=${cam.id}`);
    await page.evaluate(() => { if (window.gwI18n.lang !== "zh-CN") window.gwI18n.toggle(); });
    await page.waitForFunction(() => document.getElementById("snapshot").naturalWidth > 0, null, { timeout: 30000 });
    await page.locator("#overlay .centre").waitFor(timeout);
    const before = await (await context.request.get(`/api/v1/cameras/${cam.id}/dewarp`)).json();
    const c = await page.locator("#overlay .centre").boundingBox();
    await page.mouse.move(c.x + c.width / 2, c.y + c.height / 2);
    await page.mouse.down();
    await page.mouse.move(c.x + c.width / 2 + 40, c.y + c.height / 2 + 20, { steps: 5 });
    await page.mouse.up();
    await page.fill("#orientation", "30");
    await page.click("#save");
    await page.locator("#status[data-saved=true]").waitFor(timeout);
    const after = await (await context.request.get(`/api/v1/cameras/${cam.id}/dewarp`)).json();
    assert.equal(after.calibrated, true);
    assert.equal(after.orientation, 30);
    assert.ok(after.center_x > before.center_x + 0.01, `${before.center_x} → ${after.center_x}`);
    assert.ok(after.center_y > before.center_y + 0.01, `${before.center_y} → ${after.center_y}`);
    await shot(page, "dewarp-calibrate-zh");
    await assertAccessible(page, "calibrate, zh-CN");
    await page.click("#lang");
    await page.locator("html[lang=en]").waitFor({ state: "attached", ...timeout });
    await shot(page, "dewarp-calibrate-en");
    await assertAccessible(page, "calibrate, en");
    // A value out of range is refused by the hub, and said on the page.
    await page.fill("#radius", "3");
    await page.click("#save");
    await page.waitForFunction(() => !document.getElementById("status").dataset.saved, null, timeout);
    assert.match(await page.locator("#status").textContent(), /radius/);
    const unchanged = await (await context.request.get(`/api/v1/cameras/${cam.id}/dewarp`)).json();
    assert.equal(unchanged.radius, after.radius);
  });
});
