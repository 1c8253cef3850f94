// The wall tells the duty officer what the hub says is broken (the stream's health), loudly,
// after a reload too, in both languages, against a real `gridwatch demo` set up to break:
// 1. its recording directory's free-space floor is above what its disk has free, so the
//    directory records nothing from the start (`low_space`), as on a full disk;
// 2. an SOS is sent by SMS through a gateway that refuses connections, so the channel keeps
//    failing (three failures in a row);
// 3. (a second demo) the evidence directory's free-space floor is above what its disk has
//    free, so an SOS's clips wait for room instead of filling the disk the database is on;
// 4. (a third demo, leaving its cameras to ingest workers) a real `gridwatch ingest` worker
//    whose recording directory's floor is above its disk's free space: the wall names the
//    worker and its directory; and the cameras it runs are online on the community plan;
// 5. that worker SIGKILLed: once a lease has passed the wall names it as lost, with when it
//    was last seen, and counts the cameras nobody runs; a worker stopped cleanly (SIGTERM)
//    is not taken for a lost one.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemo, startWorker, freePort } from "../lib/hub.js";
import { launch, loginAs, shot, raiseSos, DESKTOP, PHONE, GEO } from "../lib/browser.js";
import { assertAccessible } from "../lib/axe.js";

let hub, browser, wall, resident, scratch;
/** Why a directory with a free-space floor above its disk's free space records nothing, in
 *  zh-CN and English: below its floor from the start (`low_space`), and held there by
 *  retention once a pass finds nothing it may delete (`held`). */
const stoppedWords = {
  low_space: ["剩余空间低于下限", "free space below its floor"],
  held: ["已满，且没有可删除的录像（只剩锁定的证据，或为空）", "full, and nothing left it may delete (only locked evidence, or nothing)"],
};
const timeout = { timeout: 20000 };

async function inLanguage(page, lang) {
  if (await page.locator("html").getAttribute("lang") !== lang) await page.click("#lang");
  assert.equal(await page.locator("html").getAttribute("lang"), lang);
}

describe("the wall says what is broken: recording stopped, notifications failing", { timeout: 180000 }, () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "gridwatch-health-"));
    const recordings = join(scratch, "recordings");
    // Nothing listens there: every send is refused at once.
    const refused = await freePort();
    const config = join(scratch, "gridwatch.toml");
    writeFileSync(config, `
[recording]
dirs = [{ path = ${JSON.stringify(recordings)}, min_free_bytes = 1000000000000000000 }]

[notify]
console_url = "http://127.0.0.1"
[notify.retry]
max_attempts = 5
base_seconds = 1
max_seconds = 1
jitter_percent = 0
[notify.channels.sms]
kind = "sms"
url = "http://127.0.0.1:${refused}/send"
body = '{"phone": "{{to}}", "content": "{{text}}"}'
content_type = "application/json"
[[notify.rules]]
name = "every-sos"
on = ["incident.raised"]
to = { address = "13800000000" }
channel = "sms"
`);
    hub = await startDemo({ GRIDWATCH_CONFIG: config });
    browser = await launch();
    wall = await loginAs(browser, hub, "duty", DESKTOP);
    resident = await loginAs(browser, hub, "resident", { ...PHONE, ...GEO });
    for (const { page } of [wall, resident]) await page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("a recording directory that records nothing is on the wall, with where and why", async () => {
    const w = wall.page;
    await inLanguage(w, "zh-CN");
    const banner = w.locator("#health-recording");
    await banner.waitFor(timeout);
    assert.equal(await banner.getAttribute("role"), "alert");
    const dir = banner.locator(".stopped-dir");
    assert.equal(await dir.count(), 1);
    // Below its floor from the start (`low_space`), and held there by retention once a pass
    // finds nothing it may delete (`held`): either way, said in words.
    const reason = await dir.getAttribute("data-reason");
    const words = stoppedWords[reason];
    assert.ok(words, `stopped because ${reason}`);
    assert.equal(await banner.textContent(), `录像已停止，以下目录未在录制： ${join(scratch, "recordings")} (${words[0]})`);
    // The hub says the same on /readyz.
    const ready = await (await wall.context.request.get("/readyz")).json();
    assert.ok(["low_space", "held"].includes(ready.recording.dirs[0].stopped), JSON.stringify(ready));
    await shot(w, "wall-recording-stopped-zh-desktop");
    await inLanguage(w, "en");
    assert.match(await banner.textContent(), /^Recording has stopped; these directories record nothing: .*recordings \((free space below its floor|full, and nothing left it may delete \(only locked evidence, or nothing\))\)$/);
    await assertAccessible(w, "wall, recording stopped, en, desktop");
    // After a reload: from the stream's hello, not from a message the page happened to see.
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await banner.waitFor(timeout);
    assert.match(await banner.textContent(), /recordings \((free space below its floor|full, and nothing left it may delete \(only locked evidence, or nothing\))\)$/);
    await inLanguage(w, "zh-CN");
  });

  it("a notification channel that keeps failing is on the wall, and stays after a reload", async () => {
    const w = wall.page;
    const banner = w.locator("#health-notify");
    assert.equal(await banner.isVisible(), false, "nothing has failed yet");
    await raiseSos(resident);
    await banner.waitFor(timeout);
    assert.equal(await w.locator("#health-notify-channels").textContent(), "sms");
    assert.match(await banner.textContent(), /^通知发送失败，以下渠道未能送达，请电话联系： sms$/);
    await shot(w, "wall-notify-failing-zh-desktop");
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await banner.waitFor(timeout);
    await inLanguage(w, "en");
    assert.match(await banner.textContent(), /^Notifications are failing on these channels; call the people instead: sms$/);
    await inLanguage(w, "zh-CN");
  });
});

describe("the wall says when evidence clips wait for room on their disk", { timeout: 180000 }, () => {
  let hub2, browser2, wall2, resident2;
  before(async () => {
    hub2 = await startDemo({
      GRIDWATCH_RECORDING__SEGMENT_SECONDS: "2",
      GRIDWATCH_EVIDENCE__PRE_SECONDS: "2",
      GRIDWATCH_EVIDENCE__POST_SECONDS: "2",
      GRIDWATCH_EVIDENCE__MIN_FREE_BYTES: "1000000000000000000",
    });
    browser2 = await launch();
    wall2 = await loginAs(browser2, hub2, "duty", DESKTOP);
    resident2 = await loginAs(browser2, hub2, "resident", { ...PHONE, ...GEO });
    for (const { page } of [wall2, resident2]) await page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser2?.close();
    await hub2?.stop();
  });

  it("an SOS's clips that cannot be saved are on the wall with how much room there is", async (t) => {
    const cams = await (await wall2.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    const w = wall2.page;
    await inLanguage(w, "zh-CN");
    const banner = w.locator("#health-evidence");
    assert.equal(await banner.isVisible(), false, "no clip is due yet");
    await new Promise((r) => setTimeout(r, 3000)); // some recording to clip
    const id = await raiseSos(resident2);
    await banner.waitFor({ timeout: 30000 });
    assert.match(await banner.textContent(), /^证据片段无法保存：.*剩余 \/ 所需： \d+\.\d \/ \d+\.\d GiB$/);
    const ready = await (await wall2.context.request.get("/readyz")).json();
    assert.equal(ready.evidence.low_space, true, JSON.stringify(ready));
    // The clips wait: listed as not sealed, none sealed.
    const clips = await (await wall2.context.request.get(`/api/v1/incidents/${id}/clips`)).json();
    assert.equal(clips.clips.length, 0, JSON.stringify(clips));
    assert.ok(clips.not_sealed.length >= 1, JSON.stringify(clips));
    assert.ok(clips.not_sealed.every((j) => j.state === "pending"), JSON.stringify(clips));
    await shot(w, "wall-evidence-low-space-zh-desktop");
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await banner.waitFor(timeout);
    // The new SOS's alarm, seen (its blinking rail entry is checked by the flow tests).
    if (await w.locator("#alarm-seen").isVisible()) await w.click("#alarm-seen");
    await inLanguage(w, "en");
    assert.match(await banner.textContent(), /^Evidence clips cannot be saved: .* free \/ needed: \d+\.\d \/ \d+\.\d GiB$/);
    await assertAccessible(w, "wall, evidence waiting for room, en, desktop");
    await inLanguage(w, "zh-CN");
  });
});

describe("the wall says when an ingest worker's recording directory records nothing", { timeout: 180000 }, () => {
  const secret = "a-secret-for-the-browser-tests";
  let hub3, worker, workerConfig, browser3, wall3, scratch3;
  before(async () => {
    scratch3 = mkdtempSync(join(tmpdir(), "gridwatch-worker-health-"));
    // Leases of 4 s (the default 15), so that a worker killed is told gone soon.
    hub3 = await startDemo({ GRIDWATCH_INGEST__MODE: "workers", GRIDWATCH_INGEST__SECRET: secret, GRIDWATCH_INGEST__LEASE_SECONDS: "4" });
    const config = join(scratch3, "worker.toml");
    writeFileSync(config, `
[ingest]
worker_id = "worker-east"
secret = "${secret}"
renew_seconds = 1
lease_seconds = 4

[recording]
dirs = [{ path = ${JSON.stringify(join(scratch3, "recordings"))}, min_free_bytes = 1000000000000000000 }]
`);
    workerConfig = config;
    worker = await startWorker(hub3, config);
    browser3 = await launch();
    wall3 = await loginAs(browser3, hub3, "duty", DESKTOP);
    await wall3.page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser3?.close();
    await worker?.stop();
    await hub3?.stop();
    if (scratch3) rmSync(scratch3, { recursive: true, force: true });
  });

  it("names the worker and its directory, in both languages, after a reload too", async () => {
    const w = wall3.page;
    await inLanguage(w, "zh-CN");
    const banner = w.locator("#health-recording");
    await banner.waitFor({ timeout: 30000 });
    const dir = banner.locator(".stopped-dir");
    assert.equal(await dir.count(), 1);
    // Below its floor (`low_space`), or held there once retention found nothing to delete.
    const reason = await dir.getAttribute("data-reason");
    const words = stoppedWords[reason];
    assert.ok(words, `stopped because ${reason}`);
    const where = `worker-east: ${join(scratch3, "recordings")}`;
    assert.equal(await banner.textContent(), `录像已停止，以下目录未在录制： ${where} (${words[0]})`);
    // Operations see it on the worker's entry too.
    // (A context of its own: the admin's session cookie must not replace the wall's.)
    const api = (await browser3.newContext({ baseURL: hub3.base })).request;
    const login = await (await api.post("/api/v1/auth/login", { data: { username: "admin", password: "admin-demo" } })).json();
    const listed = await (await api.get("/api/v1/ingest/workers", { headers: { authorization: `Bearer ${login.token}` } })).json();
    const east = listed.workers.find((x) => x.id === "worker-east");
    assert.ok(east?.recording_stopped?.[0]?.reason in stoppedWords, JSON.stringify(listed));
    await shot(w, "wall-worker-recording-stopped-zh-desktop");
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await banner.waitFor(timeout);
    await inLanguage(w, "en");
    assert.equal(await banner.textContent(), `Recording has stopped; these directories record nothing: ${where} (${stoppedWords[await dir.getAttribute("data-reason")][1]})`);
    await assertAccessible(w, "wall, a worker's recording stopped, en, desktop");
    await inLanguage(w, "zh-CN");
  });

  it("the cameras the worker runs are online on the community plan, as the worker says", async (t) => {
    const cams = await (await wall3.context.request.get("/api/v1/cameras")).json();
    if (!cams.length) { t.skip("the demo has no cameras (no GStreamer)"); return; }
    // The hub's camera list says what the worker says (it ran none of them itself).
    let listed = cams;
    for (const deadline = Date.now() + 30000; !listed.every((c) => c.status === "online") && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 500));
      listed = await (await wall3.context.request.get("/api/v1/cameras")).json();
    }
    assert.ok(listed.every((c) => c.status === "online"), JSON.stringify(listed.map((c) => [c.name, c.status, c.status_reason])));
    // A page loaded now shows them so on the plan (its dots take the list's status).
    const w = wall3.page;
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await w.click("#show-plan");
    const dots = w.locator("#plan-svg .plan-cam");
    await dots.first().waitFor(timeout);
    const statuses = await dots.evaluateAll((all) => all.map((d) => d.dataset.status));
    assert.ok(statuses.length && statuses.every((st) => st === "online"), JSON.stringify(statuses));
    await shot(w, "wall-plan-cameras-on-a-worker-zh-desktop");
  });

  it("names a worker that vanished and counts the cameras nobody runs; a clean stop alarms nobody", async () => {
    const w = wall3.page;
    await inLanguage(w, "zh-CN");
    const cams = (await (await wall3.context.request.get("/api/v1/cameras")).json()).filter((c) => c.enabled !== false);
    const gone = w.locator("#health-workers");
    const unassigned = w.locator("#health-unassigned");
    assert.equal(await gone.isVisible(), false, "the worker runs");
    // Killed: it gives nothing back and says nothing.
    const killedAt = Date.now();
    worker.child.kill("SIGKILL");
    await gone.waitFor({ timeout: 30000 });
    const text = await gone.textContent();
    const m = text.match(/^视频接入节点失联（超过一个租期未见），其摄像机正转移到其他节点： worker-east \(最后一次 (\d\d):(\d\d):(\d\d)\)$/);
    assert.ok(m, text);
    // Last seen within its last renewal (a second) of the kill, in the page's local time.
    const seen = new Date(killedAt);
    seen.setHours(Number(m[1]), Number(m[2]), Number(m[3]));
    const day = 86400000;
    const apart = (((killedAt - seen.getTime()) % day) + day) % day; // across midnight too
    assert.ok(Math.min(apart, day - apart) < 5000, `${text}, killed at ${new Date(killedAt)}`);
    if (cams.length) {
      await unassigned.waitFor(timeout);
      assert.equal(await unassigned.textContent(), `没有接入节点运行的摄像机（无实时画面，也不录像），台数： ${cams.length}`);
    }
    const ready = await (await wall3.context.request.get("/readyz")).json();
    assert.deepEqual(ready.ingest.gone, ["worker-east"], JSON.stringify(ready));
    // The plan, open since the test before, no longer shows its cameras online (no event
    // came from the dead worker: the page read their statuses again).
    const dots = w.locator("#plan-svg .plan-cam");
    if (cams.length) {
      await w.waitForFunction(() => [...document.querySelectorAll("#plan-svg .plan-cam")].every((d) => d.dataset.status === "offline"), null, timeout);
      assert.equal(await dots.count(), cams.length);
    }
    if (await w.locator("#plan").isVisible()) await w.click('[data-close="plan"]');
    await shot(w, "wall-worker-gone-zh-desktop");
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await gone.waitFor(timeout);
    await inLanguage(w, "en");
    assert.match(await gone.textContent(), /^Ingest workers lost \(not seen for longer than a lease\); their cameras are moving to the other workers: worker-east \(last seen \d\d:\d\d:\d\d\)$/);
    if (cams.length) assert.equal(await unassigned.textContent(), `Cameras no ingest worker runs (no live picture, nothing recorded); how many: ${cams.length}`);
    await assertAccessible(w, "wall, an ingest worker gone, en, desktop");
    await inLanguage(w, "zh-CN");

    // Back: it is live again and runs the cameras; both banners go.
    worker = await startWorker(hub3, workerConfig);
    await gone.waitFor({ state: "hidden", timeout: 30000 });
    await unassigned.waitFor({ state: "hidden", timeout: 30000 });
    // Stopped cleanly: the cameras it gave back are nobody's (told), but it is not lost.
    await worker.stop();
    if (cams.length) await unassigned.waitFor(timeout);
    await new Promise((r) => setTimeout(r, 4000 + 3000)); // a lease, and a health read
    assert.equal(await gone.isVisible(), false, await gone.textContent());
    const after = await (await wall3.context.request.get("/readyz")).json();
    assert.deepEqual(after.ingest.gone, [], JSON.stringify(after));
  });
});
