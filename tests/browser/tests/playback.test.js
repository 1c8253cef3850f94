// Recordings on the wall (issue 13), in a real Chromium against its own `gridwatch demo`
// recording into 2-second segments: a focused camera's timeline shows what was recorded, a
// click plays back from there over the live path (the tile says so, the video advances), 4×
// and pause are followed, "back to live" and the end of the recording return to live; an
// SOS's evidence clips are listed on the incident, play side by side and download as MP4, the
// download on the incident's timeline. Both languages, with screenshots.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { startDemo } from "../lib/hub.js";
import { launch, loginAs, shot, raiseSos, PHONE, DESKTOP, GEO } from "../lib/browser.js";
import { assertAccessible } from "../lib/axe.js";

let hub, browser, wall, resident, admin;
/** The SOS the evidence test raised: the next test finds it on its camera's timeline. */
let sosId;
const timeout = { timeout: 15000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function inLanguage(page, lang) {
  if (await page.locator("html").getAttribute("lang") !== lang) await page.click("#lang");
  assert.equal(await page.locator("html").getAttribute("lang"), lang);
}

/** `ms` as a `datetime-local` value in the page's own time zone. */
function localTime(page, ms) {
  return page.evaluate((ms) => {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, ms);
}

/** Sets a camera's recording (`off`, `continuous`), as an admin does. */
async function setRecord(id, record) {
  const res = await admin.context.request.patch(`/api/v1/cameras/${id}`, { data: { record } });
  assert.equal(res.status(), 200, await res.text());
}

/** The focused tile's video time, twice `ms` apart. */
async function advance(page, ms = 1500) {
  const t0 = await page.locator("#tiles figure video").first().evaluate((v) => v.currentTime);
  await sleep(ms);
  const t1 = await page.locator("#tiles figure video").first().evaluate((v) => v.currentTime);
  return t1 - t0;
}

describe("recordings on the wall: timeline, playback and evidence clips", { timeout: 300000 }, () => {
  before(async () => {
    hub = await startDemo({
      GRIDWATCH_RECORDING__SEGMENT_SECONDS: "2",
      GRIDWATCH_EVIDENCE__PRE_SECONDS: "8",
      GRIDWATCH_EVIDENCE__POST_SECONDS: "4",
    });
    browser = await launch();
    wall = await loginAs(browser, hub, "duty", DESKTOP);
    resident = await loginAs(browser, hub, "resident", { ...PHONE, ...GEO });
    admin = await loginAs(browser, hub, "admin", DESKTOP);
    await admin.page.waitForURL("**/wall"); // logged in: its requests carry the session
    for (const { page } of [wall, resident]) await page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it("a focused camera's timeline plays back, at 4×, paused, and back to live", async (t) => {
    const w = wall.page;
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    await w.locator("#tiles figure").first().waitFor(timeout);
    const id = await w.locator("#tiles figure").first().getAttribute("data-camera");
    // Some recorded segments first (2 s each).
    for (let n = 0; ; n++) {
      const r = await (await wall.context.request.get(`/api/v1/cameras/${id}/recordings`)).json();
      if (r.spans.length && Date.parse(r.spans[0].to) - Date.parse(r.spans[0].from) > 8000) break;
      assert.ok(n < 60, `no recordings after 30 s: ${JSON.stringify(r)}`);
      await sleep(500);
    }
    await w.click(`#tiles figure[data-camera="${id}"]`);
    const tl = w.locator(`#tiles figure[data-camera="${id}"] .cam-timeline`);
    await tl.locator(".tl-span").first().waitFor(timeout);
    // The last span runs on into the segment being written: shown as recording, not a gap.
    assert.equal(await tl.locator(".tl-span.tl-recording").count(), 1);
    assert.match(await tl.locator(".tl-span.tl-recording").getAttribute("title"), /^正在录制（已录至 \d\d:\d\d:\d\d）$/);
    assert.equal(await tl.getAttribute("data-mode"), "live");
    assert.equal(await tl.locator(".tl-live").isDisabled(), true);

    // Click on the recorded span, a little before its end: playback from there.
    const span = await tl.locator(".tl-span").last().boundingBox();
    await w.mouse.click(span.x + span.width - 3, span.y + span.height / 2);
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    await w.locator(`#tiles figure[data-camera="${id}"][data-playback=true][data-status=online]`).waitFor(timeout);
    assert.ok(await advance(w) > 0.5, "the recording plays");
    // The time the picture on screen was recorded (from the fragments' prft), on the bar too.
    await tl.locator(".tl-mode[data-at]").waitFor(timeout);
    assert.match(await tl.locator(".tl-mode").textContent(), /^回放中 · 录制于 \d\d:\d\d:\d\d$/);
    const shown = Date.parse(await tl.locator(".tl-mode").getAttribute("data-at"));
    assert.ok(shown < Date.now() - 500 && shown > Date.now() - 120000, `recorded at ${new Date(shown).toISOString()}`);
    assert.equal(await tl.locator(".tl-cursor").isVisible(), true);
    await shot(w, "wall-playback-zh-desktop");
    await assertAccessible(w, "wall, playback timeline, zh, desktop");

    await tl.locator(".tl-speed[data-speed='4']").click();
    assert.equal(await tl.locator(".tl-speed[data-speed='4']").getAttribute("aria-pressed"), "true");
    assert.equal(await w.locator("#tiles figure video").first().evaluate((v) => v.playbackRate), 4);
    await tl.locator(".tl-pause").click();
    assert.equal(await tl.locator(".tl-pause").getAttribute("data-paused"), "true");
    assert.equal(await tl.locator(".tl-pause").textContent(), "继续");
    assert.ok(Math.abs(await advance(w, 800)) < 0.05, "paused");
    await inLanguage(w, "en");
    assert.equal(await tl.locator(".tl-pause").textContent(), "Resume");
    assert.equal(await tl.locator(".tl-live").textContent(), "Back to live");
    assert.match(await tl.locator(".tl-mode").textContent(), /^Playback · recorded at \d\d:\d\d:\d\d$/);
    await shot(w, "wall-playback-en-desktop");
    await tl.locator(".tl-pause").click();

    // Back to live by hand.
    await tl.locator(".tl-live").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor(timeout);
    await w.locator(`#tiles figure[data-camera="${id}"][data-playback=false][data-status=online]`).waitFor(timeout);
    assert.equal(await tl.locator(".tl-mode").textContent(), "Live");

    // Near the end of the recording at 4×: it ends by itself and the tile is live again.
    await tl.evaluate((e) => e.querySelector(".tl-bar")); // still there
    const last = await tl.locator(".tl-span").last().boundingBox();
    await w.mouse.click(last.x + last.width - 1, last.y + last.height / 2);
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    await tl.locator(".tl-speed[data-speed='4']").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor({ timeout: 30000 });
    await w.locator(`#tiles figure[data-camera="${id}"][data-playback=false]`).waitFor(timeout);
    await inLanguage(w, "zh-CN");
    await w.click(`#tiles figure[data-camera="${id}"] video`);
    await w.locator("#tiles[data-layout='4']").waitFor(timeout);
    assert.equal(await w.locator("#tiles .cam-timeline").count(), 0, "no timeline once the tile is small again");
  });

  it("the timeline shows 10 minutes to 24 hours and plays back from a date and time typed in", async (t) => {
    const w = wall.page;
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    await inLanguage(w, "zh-CN");
    const id = await w.locator("#tiles figure").first().getAttribute("data-camera");
    await w.click(`#tiles figure[data-camera="${id}"]`);
    const tl = w.locator(`#tiles figure[data-camera="${id}"] .cam-timeline`);
    await tl.locator(".tl-span").first().waitFor(timeout);
    const barFrom = async () => Date.parse(await tl.locator(".tl-bar").getAttribute("data-from"));

    // An hour at first; 24 hours and 10 minutes on asking, the choice shown as pressed.
    assert.equal(await tl.locator(".tl-window[aria-pressed=true]").getAttribute("data-minutes"), "60");
    const spanWidth = () => tl.locator(".tl-span").first().evaluate((e) => parseFloat(e.style.width));
    const inAnHour = await spanWidth();
    assert.equal(await tl.locator(".tl-window[data-minutes='1440']").textContent(), "24小时");
    for (const minutes of [1440, 10]) {
      await tl.locator(`.tl-window[data-minutes='${minutes}']`).click();
      assert.equal(await tl.locator(`.tl-window[data-minutes='${minutes}']`).getAttribute("aria-pressed"), "true");
      await w.waitForFunction(([sel, m]) => {
        const from = Date.parse(document.querySelector(sel)?.dataset.from);
        return Math.abs(Date.now() - m * 60000 - from) < 60000;
      }, [`#tiles figure[data-camera="${id}"] .tl-bar`, minutes], timeout);
    }
    assert.ok(Math.abs(Date.now() - 10 * 60000 - (await barFrom())) < 60000);
    // The recording fills six times more of a 10-minute bar than of an hour's.
    const inTenMinutes = await spanWidth();
    assert.ok(inTenMinutes > 4 * inAnHour, `the span is ${inTenMinutes} % of 10 minutes, ${inAnHour} % of an hour`);

    // Nothing typed: the field says so and nothing plays.
    await tl.locator(".tl-goto").click();
    assert.equal(await tl.locator(".tl-goto-at").getAttribute("aria-invalid"), "true");
    assert.equal(await tl.getAttribute("data-mode"), "live");

    // A moment 3 s into the recording, typed in as a local date and time.
    const span = await (await wall.context.request.get(`/api/v1/cameras/${id}/recordings`)).json();
    const target = Date.parse(span.spans[0].from) + 3000;
    const local = await localTime(w, target);
    await tl.locator(".tl-goto-at").fill(local);
    assert.equal(await tl.locator(".tl-goto").textContent(), "从此时回放");
    await tl.locator(".tl-goto").click();
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    assert.equal(await tl.locator(".tl-goto-at").getAttribute("aria-invalid"), null);
    await tl.locator(".tl-mode[data-at]").waitFor(timeout);
    const shown = Date.parse(await tl.locator(".tl-mode").getAttribute("data-at"));
    // From the keyframe at or before it (one a second), and on from there.
    assert.ok(shown >= Math.floor(target / 1000) * 1000 - 1500 && shown < target + 15000, `shown ${new Date(shown).toISOString()}, asked ${new Date(target).toISOString()}`);
    await assertAccessible(w, "wall, timeline with a date to play from, zh, desktop");
    await shot(w, "wall-timeline-goto-zh-desktop");
    await inLanguage(w, "en");
    assert.equal(await tl.locator(".tl-window[data-minutes='360']").textContent(), "6 h");
    assert.equal(await tl.locator(".tl-goto").textContent(), "Play from");
    await shot(w, "wall-timeline-goto-en-desktop");

    await tl.locator(".tl-live").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor(timeout);

    // An hour ago, before anything was recorded: the bar moves to the ten minutes around it
    // (its end is that time, not "now"), and playback starts where the recording does.
    const hourAgo = Date.now() - 3600 * 1000;
    await tl.locator(".tl-goto-at").fill(await localTime(w, hourAgo));
    await tl.locator(".tl-goto").click();
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    await w.waitForFunction((sel) => document.querySelector(sel)?.textContent !== "now", `#tiles figure[data-camera="${id}"] .tl-end`, timeout);
    // Waited for, not read at once: the bar is redrawn for the moment after the mode changes
    // (read too soon, under load, it was still the bar of the moment asked before).
    const expectedFrom = hourAgo - 150 * 1000;
    await w.waitForFunction(([sel, at]) => Math.abs(Date.parse(document.querySelector(sel)?.dataset.from) - at) < 5000,
      [`#tiles figure[data-camera="${id}"] .tl-bar`, expectedFrom], timeout).catch(() => {});
    assert.ok(Math.abs(await barFrom() - expectedFrom) < 5000, `a quarter of the bar before the moment: ${new Date(await barFrom()).toISOString()} for ${new Date(expectedFrom).toISOString()}`);
    await tl.locator(".tl-mode[data-at]").waitFor(timeout);
    await w.waitForFunction(([sel, first]) => Date.parse(document.querySelector(sel)?.dataset.at) >= first - 1500,
      [`#tiles figure[data-camera="${id}"] .tl-mode`, Date.parse(span.spans[0].from)], timeout);
    // Back to live: the bar ends at now again.
    await tl.locator(".tl-live").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor(timeout);
    await w.waitForFunction((sel) => document.querySelector(sel)?.textContent === "now", `#tiles figure[data-camera="${id}"] .tl-end`, timeout);
    // (The label changes at once, the bar's range when its recordings have been fetched.)
    await w.waitForFunction((sel) => Math.abs(Date.now() - 10 * 60000 - Date.parse(document.querySelector(sel)?.dataset.from)) < 60000,
      `#tiles figure[data-camera="${id}"] .tl-bar`, timeout);

    await inLanguage(w, "zh-CN");
    await w.click(`#tiles figure[data-camera="${id}"] video`);
    await w.locator("#tiles[data-layout='4']").waitFor(timeout);
  });

  it("playback across a stretch not recorded says what it skipped, in both languages", async (t) => {
    const w = wall.page;
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    await inLanguage(w, "zh-CN");
    const id = await w.locator("#tiles figure").nth(1).getAttribute("data-camera");
    // Recording off for 4 s, then on again: a gap in the recordings.
    const offAt = Date.now();
    await setRecord(id, "off");
    await sleep(4000);
    await setRecord(id, "continuous");
    // The gap, once 4 s were recorded after it. (The list also has one from the start of its
    // range to the first recording.)
    let gap;
    for (let n = 0; ; n++) {
      const r = await (await wall.context.request.get(`/api/v1/cameras/${id}/recordings`)).json();
      gap = r.gaps.find((g) => Date.parse(g.from) >= offAt - 2000 && Date.parse(g.to) - Date.parse(g.from) >= 3000
        && r.spans.some((s) => Date.parse(s.from) >= Date.parse(g.to) && Date.parse(s.to) - Date.parse(s.from) > 4000));
      if (gap) break;
      assert.ok(n < 60, `no gap followed by 4 s of recording after 30 s: ${JSON.stringify(r)}`);
      await sleep(500);
    }

    // Played from 3 s before it: the picture jumps the gap and the timeline says so.
    await w.click(`#tiles figure[data-camera="${id}"]`);
    const tl = w.locator(`#tiles figure[data-camera="${id}"] .cam-timeline`);
    await tl.locator(".tl-span").first().waitFor(timeout);
    await tl.locator(".tl-goto-at").fill(await localTime(w, Date.parse(gap.from) - 3000));
    await tl.locator(".tl-goto").click();
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    assert.equal(await tl.locator(".tl-skipped").isHidden(), true, "nothing skipped yet");
    const note = tl.locator(".tl-skipped:not([hidden])");
    await note.waitFor(timeout);
    const near = (a, b) => Math.abs(Date.parse(a) - Date.parse(b)) <= 2;
    const told = { from: await note.getAttribute("data-from"), to: await note.getAttribute("data-to") };
    assert.ok(near(told.from, gap.from) && near(told.to, gap.to), `told ${JSON.stringify(told)}, the gap is ${JSON.stringify(gap)}`);
    assert.match(await note.textContent(), /^\d\d:\d\d:\d\d–\d\d:\d\d:\d\d 无录像（\d+ 秒），已跳过$/);
    // Told when the picture got there: it goes on from after the gap.
    await w.waitForFunction(([sel, to]) => Date.parse(document.querySelector(sel)?.dataset.at) >= to,
      [`#tiles figure[data-camera="${id}"] .tl-mode`, Date.parse(gap.to)], timeout);
    await shot(w, "wall-playback-skipped-zh-desktop");
    await assertAccessible(w, "wall, playback past a gap, zh, desktop");
    await inLanguage(w, "en");
    assert.match(await note.textContent(), /^Not recorded \d\d:\d\d:\d\d–\d\d:\d\d:\d\d \(\d+ s\): skipped$/);
    await shot(w, "wall-playback-skipped-en-desktop");
    // Back to live: the notice goes with the playback.
    await tl.locator(".tl-live").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor(timeout);
    assert.equal(await tl.locator(".tl-skipped").isHidden(), true);
    await inLanguage(w, "zh-CN");
    await w.click(`#tiles figure[data-camera="${id}"] video`);
    await w.locator("#tiles[data-layout='4']").waitFor(timeout);
  });

  it("an SOS's evidence clips play side by side and download, each download on the timeline", async (t) => {
    const w = wall.page;
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    // Every camera stops recording for 1.5 s just before the SOS (raised about a second after):
    // its clips (from 8 s before it: room for a slow SOS) hold their picture there, and say so.
    for (const c of cams) await setRecord(c.id, "off");
    await sleep(1500);
    for (const c of cams) await setRecord(c.id, "continuous");
    const id = await raiseSos(resident);
    sosId = id;
    await w.locator(`#alerts li[data-id="${id}"]`).waitFor(timeout);
    if (await w.locator("#alarm-seen").isVisible()) await w.click("#alarm-seen");
    if (await w.locator("#detail").isHidden()) await w.click(`#alerts li[data-id="${id}"]`);
    // Sealed 4 s after the SOS (post_seconds), shown without a reload.
    await w.locator("#d-clips [data-clip]").first().waitFor({ timeout: 30000 });
    const clips = (await (await wall.context.request.get(`/api/v1/incidents/${id}/clips`)).json()).clips;
    assert.ok(clips.length >= 1, JSON.stringify(clips));
    assert.equal(await w.locator("#d-clips h3").textContent(), "证据片段");
    assert.doesNotMatch(await w.locator("#d-clips").textContent(), /null|undefined/);
    // Each clip says where nothing was recorded (its manifest, read by the hub): the outage.
    assert.ok(clips.every((c) => Array.isArray(c.not_recorded)), JSON.stringify(clips));
    const held = clips.filter((c) => c.not_recorded.length);
    assert.ok(held.length >= 1, `no clip holds over the outage: ${JSON.stringify(clips)}`);
    for (const c of held) {
      const gap = Date.parse(c.not_recorded[0].to) - Date.parse(c.not_recorded[0].from);
      assert.ok(gap > 1000 && gap < 6000, JSON.stringify(c.not_recorded));
    }
    const said = w.locator("#d-clips .clip-gaps");
    assert.equal(await said.count(), held.length);
    assert.match(await said.first().textContent(), /^以下时段无录像，画面停在此前最后一帧： \d\d:\d\d:\d\d–\d\d:\d\d:\d\d/);
    const video = w.locator("#d-clips video").first();
    assert.equal(await video.getAttribute("preload"), "none");
    // Watching is one access on the timeline, however many ranges the player asks. Chromium
    // holds the demo's short clips whole after one fetch (counted here); a longer clip's player
    // asks a range at each seek past what it holds, and those are asked here as it would, from
    // the page, with its session.
    const clipPath = await video.getAttribute("src");
    const clipId = decodeURIComponent(clipPath.split("/").pop());
    let fetched = 0;
    const counted = (req) => { if (new URL(req.url()).pathname === clipPath) fetched++; };
    w.on("request", counted);
    const downloadsOf = async () => {
      const { incident } = await (await wall.context.request.get(`/api/v1/incidents/${id}`)).json();
      return incident.timeline.filter((e) => e.type === "incident.evidence_downloaded" && e.data.clip_id === clipId).length;
    };
    await video.evaluate((v) => v.play());
    await w.waitForFunction(() => document.querySelector("#d-clips video").currentTime > 0.5, null, timeout);
    const seeks = await w.evaluate(async (path) => {
      const statuses = [];
      for (const at of [5000, 100, 20000, 10, 60000, 3000]) {
        const r = await fetch(path, { headers: { Range: `bytes=${at}-` }, cache: "no-store" });
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      return statuses;
    }, clipPath);
    w.off("request", counted);
    assert.ok(fetched >= 7, `the clip was fetched ${fetched} times`);
    assert.ok(seeks.every((s) => s === 206), JSON.stringify(seeks));
    assert.equal(await downloadsOf(), 1, `${fetched} fetches of the clip while watching`);
    await shot(w, "wall-evidence-clips-zh-desktop");

    const link = w.locator("#d-clips a[data-download]").first();
    assert.equal(await link.textContent(), "下载");
    const [download] = await Promise.all([w.waitForEvent("download"), link.click()]);
    assert.match(download.suggestedFilename(), /\.mp4$/);
    const r = await wall.context.request.get(await link.getAttribute("href"));
    assert.equal(r.status(), 200);
    assert.equal(r.headers()["content-type"], "video/mp4");
    assert.equal((await r.body()).subarray(4, 8).toString(), "ftyp");
    await w.locator('#d-timeline li[data-type="incident.evidence_downloaded"]').first().waitFor(timeout);
    // A save is always recorded: the link's and the request's, each its own event.
    assert.equal(await downloadsOf(), 3);
    // The manifest to hand over with it: the file as sealed, the hash the list shows.
    const manifestLink = w.locator("#d-clips a[data-manifest]").first();
    assert.equal(await manifestLink.textContent(), "清单");
    const [saved] = await Promise.all([w.waitForEvent("download"), manifestLink.click()]);
    assert.match(saved.suggestedFilename(), /-manifest(-\d+)?\.json$/);
    const m = await wall.context.request.get(await manifestLink.getAttribute("href"));
    assert.equal(m.status(), 200);
    const listedClip = (await (await wall.context.request.get(`/api/v1/incidents/${sosId}/clips`)).json()).clips[0];
    assert.equal(m.headers()["x-gridwatch-manifest-sha256"], listedClip.manifest_sha256);
    const manifest = await m.json();
    assert.equal(manifest.incident_id, sosId);
    assert.equal(manifest.clip.sha256, listedClip.sha256);
    // Each one taken is on the timeline too, in the page's language: the link's and the request's.
    const manifestEntry = w.locator('#d-timeline li[data-type="incident.manifest_downloaded"]');
    await manifestEntry.nth(1).waitFor(timeout);
    assert.match(await manifestEntry.first().textContent(), /证据清单已下载/);
    const { incident: withManifests } = await (await wall.context.request.get(`/api/v1/incidents/${id}`)).json();
    const taken = withManifests.timeline.filter((e) => e.type === "incident.manifest_downloaded");
    assert.equal(taken.length, 2, JSON.stringify(taken));
    const ofClip = decodeURIComponent((await manifestLink.getAttribute("href")).split("/").slice(-2)[0]);
    assert.ok(taken.every((e) => e.data.clip_id === ofClip && e.actor.startsWith("user:")), JSON.stringify(taken));
    // Or everything as one package: the clips, their manifests, SHA256SUMS and how to check.
    const packageLink = w.locator("#d-clips-package");
    assert.equal(await packageLink.textContent(), "打包下载全部（片段、清单及核验说明）");
    const [packed] = await Promise.all([w.waitForEvent("download"), packageLink.click()]);
    assert.equal(packed.suggestedFilename(), `evidence-${id}.zip`);
    const zip = await wall.context.request.get(await packageLink.getAttribute("href"));
    assert.equal(zip.status(), 200);
    assert.equal(zip.headers()["content-type"], "application/zip");
    const zipped = await zip.body();
    assert.equal(zipped.subarray(0, 4).toString("latin1"), "PK\x03\x04");
    assert.ok(zipped.includes(Buffer.from("SHA256SUMS")) && zipped.includes(Buffer.from(listedClip.manifest_sha256)));
    const { incident: withPackages } = await (await wall.context.request.get(`/api/v1/incidents/${id}`)).json();
    const packages = withPackages.timeline.filter((e) => e.type === "incident.evidence_downloaded" && e.data.range === "package");
    const sealedNow = (await (await wall.context.request.get(`/api/v1/incidents/${id}/clips`)).json()).clips.map((c) => c.id);
    // The link's and the request's: each of the clips sealed then, recorded.
    assert.ok(packages.length >= 2 && packages.every((e) => sealedNow.includes(e.data.clip_id)), JSON.stringify(packages));
    await inLanguage(w, "en");
    assert.equal(await packageLink.textContent(), "Download all as one package (clips, manifests, how to check them)");
    assert.equal(await w.locator("#d-clips h3").textContent(), "Evidence clips");
    assert.equal(await link.textContent(), "Download");
    assert.equal(await manifestLink.textContent(), "Manifest");
    assert.match(await said.first().textContent(), /^Not recorded — the picture holds the last frame before: \d\d:\d\d:\d\d–/);
    await shot(w, "wall-evidence-clips-en-desktop");
    await assertAccessible(w, "wall, evidence clips, en, desktop");
    await inLanguage(w, "zh-CN");
  });

  it("the post's console offers the incident's clips and their package to take away", async (t) => {
    if (!sosId) { t.skip("no SOS was raised (the demo has no cameras)"); return; }
    const { incident } = await (await wall.context.request.get(`/api/v1/incidents/${sosId}`)).json();
    const posts = await (await wall.context.request.get("/api/v1/posts")).json();
    const post = posts.find((p) => p.id === incident.post_id);
    assert.ok(post, `the SOS is dispatched: ${JSON.stringify(incident)}`);
    // The demo's responders: the police post's officer, grid team A's worker.
    const username = post.name.includes("police") ? "officer" : "worker";
    const officer = await loginAs(browser, hub, username, PHONE);
    const c = officer.page;
    await c.waitForURL("**/console");
    await c.locator(`#job[data-id="${sosId}"]`).waitFor(timeout);
    const evidence = c.locator("#job-evidence");
    await evidence.waitFor(timeout);
    assert.equal(await evidence.locator("h3").textContent(), "证据片段");
    const sealed = (await (await officer.context.request.get(`/api/v1/incidents/${sosId}/clips`)).json()).clips;
    assert.equal(await c.locator("#job-clips a[data-download]").count(), sealed.length);
    assert.doesNotMatch(await c.locator("#job-clips").textContent(), /null|undefined/);
    // Camera names, not IDs.
    assert.equal(await c.locator("#job-clips").textContent().then((x) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(x)), false);
    const before = async () => (await (await officer.context.request.get(`/api/v1/incidents/${sosId}`)).json())
      .incident.timeline.filter((e) => e.type === "incident.evidence_downloaded").length;
    const downloadsBefore = await before();
    const pkg = c.locator("#job-package");
    assert.equal(await pkg.textContent(), "打包下载全部（片段、清单及核验说明）");
    const [packed] = await Promise.all([c.waitForEvent("download"), pkg.click()]);
    assert.equal(packed.suggestedFilename(), `evidence-${sosId}.zip`);
    // Recorded, a download of each clip, by this officer.
    assert.equal(await before(), downloadsBefore + sealed.length);
    const clip = c.locator("#job-clips a[data-download]").first();
    const r = await officer.context.request.get(await clip.getAttribute("href"));
    assert.equal(r.status(), 200);
    assert.equal(r.headers()["content-type"], "video/mp4");
    await shot(c, "console-evidence-zh-phone");
    await assertAccessible(c, "console, evidence clips, zh, phone");
    await c.click("#lang");
    assert.equal(await evidence.locator("h3").textContent(), "Evidence clips");
    assert.equal(await pkg.textContent(), "Download all as one package (clips, manifests, how to check them)");
    await officer.context.close();
  });

  it("the report lists who took video out: recordings and evidence clips, in both languages", async (t) => {
    const w = wall.page;
    if (!sosId) { t.skip("no SOS was raised (the demo has no cameras)"); return; }
    const { incident } = await (await wall.context.request.get(`/api/v1/incidents/${sosId}`)).json();
    const camera = incident.cameras[0];
    // The duty officer takes the camera's last 20 s, as a player or a script would.
    const to = new Date(Date.now() - 3000), from = new Date(to.getTime() - 20000);
    const url = `/api/v1/cameras/${camera}/recordings.mp4?from=${from.toISOString()}&to=${to.toISOString()}`;
    const r = await wall.context.request.get(url);
    assert.equal(r.status(), 200, await r.text());
    const bytes = (await r.body()).length;
    const { user } = await (await wall.context.request.get("/api/v1/me")).json();
    if (await w.locator("#detail").isVisible()) await w.click("#detail-close");
    await inLanguage(w, "zh-CN");
    await w.click("#show-report");
    const rows = w.locator("#exports-table tbody tr");
    await rows.first().waitFor(timeout);
    // Newest first: the recording, then the evidence clip downloaded in the test before.
    const first = rows.first();
    assert.equal(await first.getAttribute("data-type"), "camera.recording_exported");
    assert.equal(await first.getAttribute("data-camera"), camera);
    const cells = await first.locator("td").allTextContents();
    assert.equal(cells[1], user.display_name || user.username);
    assert.match(cells[3], /^录像 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d – \d\d:\d\d:\d\d$/);
    assert.match(cells[4], /^全部 · /);
    assert.ok(bytes > 1000, `${bytes} bytes`);
    const clipRows = w.locator('#exports-table tbody tr[data-type="incident.evidence_downloaded"]');
    assert.ok(await clipRows.count() >= 1, "the evidence clip download is listed");
    assert.match(await clipRows.first().locator("td.what").textContent(), new RegExp(`^警情 ${sosId} 的证据片段$`));
    // The clips taken in the evidence package say so.
    const packaged = await clipRows.locator("td.bytes").allTextContents();
    assert.ok(packaged.includes("全部（证据包）"), JSON.stringify(packaged));
    assert.equal(await w.locator("#exports-none").isVisible(), false);
    await w.locator("#exports-table").scrollIntoViewIfNeeded();
    await shot(w, "wall-exports-zh-desktop");
    await inLanguage(w, "en");
    await w.locator("#exports-table th", { hasText: "Who" }).waitFor(timeout);
    assert.match(await first.locator("td.what").textContent(), /^Recording \d{4}-/);
    assert.match(await first.locator("td.bytes").textContent(), /^All · /);
    await shot(w, "wall-exports-en-desktop");
    await assertAccessible(w, "wall, report with video exports, en, desktop");
    await inLanguage(w, "zh-CN");
    await w.locator('#report button[data-close="report"]').click();
  });

  it("an incident is marked on its camera's timeline; the bar pages earlier and later", async (t) => {
    const w = wall.page;
    if (!sosId) { t.skip("no SOS was raised (the demo has no cameras)"); return; }
    const { incident } = await (await wall.context.request.get(`/api/v1/incidents/${sosId}`)).json();
    if (await w.locator("#detail").isVisible()) await w.click("#detail-close");
    // Every camera on the wall, so that the incident's nearest is there whatever the layout.
    await w.locator('.layouts [data-layout="16"]').click();
    await w.locator("#tiles[data-layout='16']").waitFor(timeout);
    const camera = incident.cameras[0];
    assert.ok(camera, `the SOS names no camera: ${JSON.stringify(incident)}`);
    await w.locator(`#tiles figure[data-camera="${camera}"]`).waitFor(timeout);
    await inLanguage(w, "en");
    await w.click(`#tiles figure[data-camera="${camera}"]`);
    const tl = w.locator(`#tiles figure[data-camera="${camera}"] .cam-timeline`);
    const mark = tl.locator(`.tl-mark[data-incident="${sosId}"]`);
    await mark.waitFor(timeout);
    assert.match(await mark.getAttribute("title"), /^Incident raised \d\d:\d\d:\d\d$/);
    // Only the incidents that named this camera are marked.
    const named = (await (await wall.context.request.get(`/api/v1/incidents?state=all&camera_id=${camera}`)).json()).map((i) => i.id);
    for (const marked of await tl.locator(".tl-mark").evaluateAll((ms) => ms.map((m) => m.dataset.incident))) {
      assert.ok(named.includes(marked), `${marked} is marked but does not name ${camera}`);
    }

    // Live: nothing later than now. Earlier: the hour before; later: back to now.
    const barFrom = async () => Date.parse(await tl.locator(".tl-bar").getAttribute("data-from"));
    const endText = () => tl.locator(".tl-end").textContent();
    assert.equal(await tl.locator(".tl-later").isDisabled(), true);
    assert.equal(await tl.locator(".tl-earlier").textContent(), "◀ Earlier");
    assert.equal(await tl.locator(".tl-earlier").getAttribute("title"), "Show the 1 h before");
    const liveFrom = await barFrom();
    await tl.locator(".tl-earlier").click();
    await w.waitForFunction(([sel, from]) => Math.abs(Date.parse(document.querySelector(sel)?.dataset.from) - from) < 60000,
      [`#tiles figure[data-camera="${camera}"] .tl-bar`, liveFrom - 3600 * 1000], timeout);
    assert.notEqual(await endText(), "now");
    assert.equal(await tl.locator(".tl-later").isDisabled(), false);
    // The SOS was raised minutes ago: not in the hour before.
    assert.equal(await mark.count(), 0);
    await inLanguage(w, "zh-CN");
    assert.equal(await tl.locator(".tl-later").textContent(), "更晚 ▶");
    assert.equal(await tl.locator(".tl-later").getAttribute("title"), "显示之后的1小时");
    await shot(w, "wall-timeline-earlier-zh-desktop");
    await assertAccessible(w, "wall, timeline an hour earlier, zh, desktop");
    await tl.locator(".tl-later").click();
    await w.waitForFunction((sel) => document.querySelector(sel)?.textContent === "现在", `#tiles figure[data-camera="${camera}"] .tl-end`, timeout);
    assert.equal(await endText(), "现在");
    assert.equal(await tl.locator(".tl-later").isDisabled(), true);
    await mark.waitFor(timeout);

    // A mark plays back from shortly before the incident was raised.
    await mark.click();
    await w.locator(`.cam-timeline[data-mode=playback]`).waitFor(timeout);
    await tl.locator(".tl-mode[data-at]").waitFor(timeout);
    const shown = Date.parse(await tl.locator(".tl-mode").getAttribute("data-at"));
    const raised = Date.parse(incident.created_at);
    assert.ok(shown < raised && shown > raised - 45000 - 3000, `shown ${new Date(shown).toISOString()}, raised ${incident.created_at}`);
    await tl.locator(".tl-live").click();
    await w.locator(`.cam-timeline[data-mode=live]`).waitFor(timeout);
    await w.click(`#tiles figure[data-camera="${camera}"] video`);
    await w.locator("#tiles[data-layout='16']").waitFor(timeout);
    await w.locator('.layouts [data-layout="4"]').click();
    await w.locator("#tiles[data-layout='4']").waitFor(timeout);
  });

  it("an evidence clip whose file is gone says so after a reload, and plays once it is back", async (t) => {
    const w = wall.page;
    if (!sosId) { t.skip("no SOS was raised (the demo has no cameras)"); return; }
    const clip = (await (await wall.context.request.get(`/api/v1/incidents/${sosId}/clips`)).json()).clips[0];
    // The clip's file taken off the evidence disk (a bad disk, a careless hand).
    const dir = join(hub.dir, "evidence", "clips");
    const name = readdirSync(dir).find((f) => f.startsWith(`${String(clip.manifest_seq).padStart(8, "0")}-`));
    assert.ok(name, `clip ${clip.manifest_seq} in ${readdirSync(dir)}`);
    renameSync(join(dir, name), join(dir, `${name}.away`));
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await inLanguage(w, "zh-CN");
    await w.click(`#alerts li[data-id="${sosId}"]`);
    const figure = w.locator(`#d-clips [data-clip="${clip.id}"]`);
    await figure.locator("video").evaluate((v) => v.play().catch(() => {}));
    // Said in words, with the hub's reason (410 clip_missing) and a retry: not a blank player.
    const said = figure.locator(".clip-error");
    await said.waitFor(timeout);
    assert.equal(await said.getAttribute("data-code"), "clip_missing");
    assert.equal(await said.getAttribute("role"), "alert");
    assert.match(await said.textContent(), /^此片段现在无法播放或下载。 片段已登记，但其文件无法读取，请管理员运行 gridwatch evidence verify。 重试$/);
    await said.scrollIntoViewIfNeeded();
    await shot(w, "wall-evidence-clip-missing-zh-desktop");
    await inLanguage(w, "en");
    assert.match(await said.textContent(), /^This clip cannot be played or downloaded now\. The clip is recorded but its file cannot be read: .* Retry$/);
    await shot(w, "wall-evidence-clip-missing-en-desktop");
    await assertAccessible(w, "wall, an evidence clip whose file is gone, en, desktop");
    // Back on the disk: Retry plays it, and the warning goes.
    renameSync(join(dir, `${name}.away`), join(dir, name));
    await said.locator("button").click();
    await w.waitForFunction((id) => document.querySelector(`#d-clips [data-clip="${id}"] video`).currentTime > 0.5, clip.id, timeout);
    assert.equal(await figure.locator(".clip-error").count(), 0);
    await inLanguage(w, "zh-CN");
  });

  // Last: it closes the SOS the tests above use.
  it("the post's console keeps an incident it closed, with its evidence, after a reload too", async (t) => {
    if (!sosId) { t.skip("no SOS was raised (the demo has no cameras)"); return; }
    const { incident } = await (await wall.context.request.get(`/api/v1/incidents/${sosId}`)).json();
    const posts = await (await wall.context.request.get("/api/v1/posts")).json();
    const post = posts.find((p) => p.id === incident.post_id);
    const officer = await loginAs(browser, hub, post.name.includes("police") ? "officer" : "worker", PHONE);
    const c = officer.page;
    await c.waitForURL("**/console");
    const job = c.locator(`#job[data-id="${sosId}"]`);
    await job.waitFor(timeout);
    // The job done on the console, step by step, as the responder does it.
    for (const b of ["#b-ack", "#b-enroute", "#b-arrive"]) {
      if (await c.locator(b).isVisible()) {
        const state = await job.getAttribute("data-state");
        await c.click(b);
        await c.waitForFunction(([id, s]) => document.querySelector(`#job[data-id="${id}"]`)?.dataset.state !== s, [sosId, state], timeout);
      }
    }
    await c.fill("#f-resolve input[name=note]", "现场核实，已处置");
    await c.click("#b-resolve");
    // It leaves the current job, and is listed as closed.
    await c.waitForFunction((id) => { const j = document.getElementById("job"); return j.hidden || j.dataset.id !== id; }, sosId, timeout);
    const listed = c.locator(`#closed li[data-id="${sosId}"]`);
    await listed.waitFor(timeout);
    assert.equal(await c.locator("#closed-none").isVisible(), false);
    assert.equal(await c.locator("#closed-error").isVisible(), false);
    // When it was closed: now.
    const closedAt = (await (await officer.context.request.get(`/api/v1/incidents/${sosId}`)).json()).incident.closed_at;
    const shownAt = await c.evaluate((iso) => { const d = new Date(iso), p = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`; }, closedAt);
    assert.equal(await listed.textContent(), `一键报警 · 处置完毕 · ${shownAt}`);
    const sealed = (await (await officer.context.request.get(`/api/v1/incidents/${sosId}/clips`)).json()).clips;
    assert.ok(sealed.length >= 1, JSON.stringify(sealed));
    // After a reload too (the list is read from the hub, not kept by the page).
    await c.reload();
    await c.locator("#net[data-state=online]").waitFor(timeout);
    await listed.waitFor(timeout);
    await listed.locator("button").click();
    await c.locator(`#job[data-id="${sosId}"][data-state="resolved"]`).waitFor(timeout);
    assert.equal(await c.locator("#job-reviewing").isVisible(), true);
    assert.equal(await c.locator("#job-reviewing p").textContent(), "此警情已结束，保留在此供查阅和调取证据。");
    for (const b of ["#b-ack", "#b-enroute", "#b-arrive", "#f-resolve"]) assert.equal(await c.locator(b).isVisible(), false, b);
    // Not the camera's picture of now, which would pass for the incident's.
    assert.equal(await c.locator("#job-snapshot").isVisible(), false);
    assert.equal(await listed.locator("button").getAttribute("aria-current"), "true");
    // Its evidence, to take away now: every sealed clip, and the package.
    await c.locator("#job-evidence").waitFor(timeout);
    assert.equal(await c.locator("#job-clips a[data-download]").count(), sealed.length);
    const before = async () => (await (await officer.context.request.get(`/api/v1/incidents/${sosId}`)).json())
      .incident.timeline.filter((e) => e.type === "incident.evidence_downloaded").length;
    const downloadsBefore = await before();
    const [packed] = await Promise.all([c.waitForEvent("download"), c.click("#job-package")]);
    assert.equal(packed.suggestedFilename(), `evidence-${sosId}.zip`);
    assert.equal(await before(), downloadsBefore + sealed.length);
    await shot(c, "console-closed-incident-zh-phone");
    await assertAccessible(c, "console, a closed incident's evidence, zh, phone");
    await c.click("#lang");
    assert.equal(await c.locator("#job-reviewing p").textContent(), "Closed — kept here for its record and evidence.");
    assert.match(await listed.textContent(), /^SOS · Resolved · /);
    await shot(c, "console-closed-incident-en-phone");
    // Back to the open incidents: the closed one stays listed, and focus stays on it.
    await c.click("#job-back");
    assert.equal(await c.locator("#job-reviewing").isVisible(), false);
    assert.ok(await c.locator("#job").isHidden() || await c.locator("#job").getAttribute("data-id") !== sosId);
    assert.equal(await listed.count(), 1);
    assert.equal(await c.evaluate(() => document.activeElement?.closest("li")?.dataset.id), sosId);
    await c.click("#lang");
    // A new dispatch while a closed incident is open again takes the screen, ringing.
    await listed.locator("button").click();
    await c.locator("#job-reviewing").waitFor(timeout);
    const next = await raiseSos(resident);
    await c.locator(`#job[data-id="${next}"]`).waitFor(timeout);
    assert.equal(await c.locator("#job-reviewing").isVisible(), false);
    assert.equal(await c.locator("#new-banner").isVisible(), true);
    assert.equal(await listed.count(), 1);
    await officer.context.close();
  });
});
