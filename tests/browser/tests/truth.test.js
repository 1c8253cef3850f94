// The pages tell the truth under stress (issue 16), in a real Chromium against its own
// `gridwatch demo` with a short response window (60 s, at risk at 40 s, acknowledge within
// 45 s) and the hub behind a "reverse proxy" (trusted 127.0.0.1, clients named by
// X-Forwarded-For), so that what goes wrong in the field happens within a test:
// 1. a resident whose SOS nobody received, passed on and overdue is told so, with 110 and the
//    post's number — never "help is coming";
// 2. alarms come from the state on (re)load: a wall opened on an undelivered, escalated,
//    breached SOS rings; a console reloaded with a dispatch not yet acknowledged rings;
// 3. a console whose network dropped (half-open socket) says so within 10 s, and a dispatch
//    sent meanwhile is flagged and passed on instead of waiting silently;
// 4. a stranger's wrong passwords do not keep the duty officer out; the page says how long to
//    wait and clears the password;
// 5. an SOS no console can receive goes to the next post at once, not after 2 minutes;
// 6. the wall offers only the actions the hub allows, and says failures in the page's
//    language;
// 7. console buttons fit a 390 px phone in both languages;
// 8. the SOS page never shows an answer older than the call it shows (a cancelled call does
//    not turn back to "dispatched").
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../lib/hub.js";
import { startProxy } from "../lib/proxy.js";
import { launch, loginAs, shot, ringing, raiseSos, residentCancels as cancelSos, PHONE, DESKTOP, GEO } from "../lib/browser.js";

let hub, browser, proxy, resident;
const timeout = { timeout: 10000 };
const WINDOW_S = 60;

/** A new context that reaches the hub as the client `ip` (through the trusted proxy). */
const from = (ip, options = {}) => ({ ...options, extraHTTPHeaders: { "X-Forwarded-For": ip } });

const residentCancels = () => cancelSos(resident);
const newSos = () => raiseSos(resident);

/** Whether every visible step button of the console shows its label on one line, uncut. */
const buttonsFit = (page) => page.evaluate(() => [...document.querySelectorAll(".steps .step, #f-resolve .step")]
  .filter((b) => b.offsetParent !== null)
  .map((b) => {
    const range = document.createRange();
    range.selectNodeContents(b);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    return { id: b.id, text: b.textContent, lines, cut: b.scrollWidth > b.clientWidth + 1 };
  }));

describe("the pages tell the truth under stress", { timeout: 420000 }, () => {
  before(async () => {
    hub = await startDemo({
      GRIDWATCH_HTTP__TRUSTED_PROXIES: "127.0.0.1",
      GRIDWATCH_RESPONSE__WINDOW_SECONDS: String(WINDOW_S),
      GRIDWATCH_RESPONSE__AT_RISK_SECONDS: "40",
      GRIDWATCH_RESPONSE__ACK_SECONDS: "45",
    });
    browser = await launch();
    proxy = await startProxy(hub.base);
    resident = await loginAs(browser, hub, "resident", from("10.8.0.5", { ...PHONE, ...GEO }));
    await resident.page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await hub?.stop();
  });

  it("4. a stranger's wrong passwords do not keep the duty officer out", async () => {
    const stranger = await browser.newContext(from("203.0.113.66", { baseURL: hub.base, locale: "zh-CN", ...DESKTOP }));
    const page = await stranger.newPage();
    await page.goto("/");
    for (let n = 0; n < 5; n++) {
      await page.fill("input[name=username]", "duty");
      await page.fill("input[name=password]", `guess-${n}`);
      await page.click("button[type=submit]");
      await page.locator("#login-error:not([hidden])").waitFor(timeout);
      assert.equal(await page.inputValue("input[name=password]"), "", "the password field is cleared");
      await page.waitForTimeout(100);
    }
    await page.fill("input[name=password]", "guess-again");
    await page.click("button[type=submit]");
    await page.locator("#login-error[data-wait]").waitFor(timeout);
    assert.match(await page.locator("#login-error").textContent(), /\d+\s*秒后再试/);
    await shot(page, "login-wait-desktop");
    // A hundred more from the stranger's address, waiting as told.
    for (let n = 0; n < 100; n++) {
      const r = await stranger.request.post("/api/v1/auth/login", { data: { username: "duty", password: `guess-${n}` }, failOnStatusCode: false });
      if (r.status() === 429) {
        const wait = (await r.json()).error.retry_after;
        assert.ok(wait >= 1 && wait <= 300, `wait ${wait}`);
        if (wait > 4) break; // slowed enough: the point is made
        await page.waitForTimeout(wait * 1000);
      }
    }
    await stranger.close();
    // The duty officer, at the centre, logs in at once.
    const t0 = Date.now();
    const duty = await loginAs(browser, hub, "duty", from("198.51.100.7", DESKTOP));
    await duty.page.waitForURL("**/wall", timeout);
    console.log(`duty officer in after a stranger's guesses: ${Date.now() - t0} ms`);
    await duty.context.close();
  });

  it("5 and 1. an SOS nobody can receive is passed on at once, and the resident is told so", async () => {
    // Nobody is logged in at grid 1's posts (team A, then the police post).
    const wall = await loginAs(browser, hub, "duty", from("198.51.100.7", DESKTOP));
    await wall.page.locator("#net[data-state=online]").waitFor(timeout);
    const r = resident.page;
    const id = await newSos();
    const raised = Date.now();
    const w = wall.page;
    await w.locator(`#alerts li[data-id="${id}"]`).waitFor(timeout);
    // Both posts are offline: flagged and escalated twice, without the clock's 2 minutes.
    await w.waitForFunction((id) => window.gwWall.rail.incidents.get(id)?.escalation_level >= 2, id, { timeout: 10000 });
    console.log(`SOS to two undelivered posts and up to the duty officers: ${Date.now() - raised} ms`);
    await w.locator("#alarm-reasons li[data-reason=undelivered]").waitFor(timeout);
    await w.locator("#alarm-reasons li[data-reason=escalated]").waitFor(timeout);
    assert.equal(await ringing(w), true);
    // The resident is not told help is coming: nobody received the call, and they are told
    // to phone 110 or the post.
    await r.locator("#headline[data-i18n='sos.undelivered']").waitFor(timeout);
    const headline = await r.locator("#headline").textContent();
    assert.doesNotMatch(headline, /正在赶来/);
    assert.equal(await r.locator("#steps li[data-step=dispatched]").getAttribute("data-trouble"), "true");
    assert.equal(await r.locator("#help-call").getAttribute("data-urgent"), "true");
    assert.equal(await r.locator("#call-110-now").getAttribute("href"), "tel:110");
    assert.match(await r.locator("#call-post").getAttribute("href"), /^tel:0855/);
    assert.match(await r.locator("#call-post").textContent(), /警务室|网格员/);
    await shot(r, "sos-undelivered-phone");
    await wall.context.close();
  });

  it("2. a wall opened on that SOS rings for it; once overdue, the resident is told", async () => {
    const id = await resident.page.locator("#status").getAttribute("data-id");
    const wall = await loginAs(browser, hub, "duty", from("198.51.100.7", DESKTOP));
    const w = wall.page;
    await w.locator("#net[data-state=online]").waitFor(timeout);
    // Nothing happened since it loaded: the alarm comes from the state.
    await w.locator("#alarm").waitFor(timeout);
    assert.equal(await w.locator("#alarm-title").getAttribute("data-i18n"), "wall.alarm.undelivered");
    assert.equal(await w.evaluate(() => document.body.classList.contains("flash")), true);
    assert.equal(await ringing(w), true, "the wall rings on load");
    await w.locator(`#alerts li.new[data-id="${id}"]`).waitFor(timeout);
    await shot(w, "wall-loaded-alarm-desktop");
    // Acknowledged on this screen: quiet, and still quiet after a reload.
    await w.click("#alarm-seen");
    assert.equal(await ringing(w), false);
    await w.click("#detail-close");
    await w.reload();
    await w.locator("#net[data-state=online]").waitFor(timeout);
    await w.waitForTimeout(500);
    assert.equal(await w.locator("#alarm").isVisible(), false, "seen here before the reload");

    // The deadline passes with nobody on scene.
    const r = resident.page;
    await r.locator("#headline[data-i18n='sos.overdue']").waitFor({ timeout: (WINDOW_S + 15) * 1000 });
    assert.equal(await r.locator("#help-call").getAttribute("data-urgent"), "true");
    await shot(r, "sos-overdue-phone");
    // A breach is news: the wall rings again, and a wall opened now rings for it.
    await w.locator("#alarm-reasons li[data-reason=breached]").waitFor(timeout);
    const fresh = await loginAs(browser, hub, "duty", from("198.51.100.8", DESKTOP));
    await fresh.page.locator("#alarm-reasons li[data-reason=breached]").waitFor(timeout);
    assert.equal(await ringing(fresh.page), true);
    await fresh.context.close();
    await residentCancels();
    await wall.context.close();
  });

  it("2. a console reloaded with a dispatch not yet acknowledged still rings", async () => {
    const worker = await loginAs(browser, hub, "worker", from("10.8.0.21", { ...DESKTOP, ...GEO }));
    const c = worker.page;
    await c.locator("#net[data-state=online]").waitFor(timeout);
    await newSos();
    await c.locator("#job[data-state=dispatched]").waitFor(timeout);
    await c.locator("#new-banner").waitFor(timeout);
    await c.reload();
    await c.locator("#net[data-state=online]").waitFor(timeout);
    await c.locator("#new-banner").waitFor(timeout);
    assert.equal(await ringing(c), true, "still ringing after the reload");
    assert.equal(await c.evaluate(() => document.body.classList.contains("takeover")), true);
    await c.click("#b-ack");
    await c.locator("#job[data-state=acknowledged]").waitFor(timeout);
    assert.equal(await ringing(c), false);
    // Now the resident is told who is coming.
    await resident.page.locator("#headline[data-i18n='sos.coming']").waitFor(timeout);
    await resident.page.locator("#coming:not([hidden])").waitFor(timeout);
    assert.match(await resident.page.locator("#coming").textContent(), /张芳/);
    await shot(resident.page, "sos-coming-phone");
    await residentCancels();
    await worker.context.close();
  });

  it("3. a console cut off without a close says so within 10 s; a redirect meanwhile is passed on", async () => {
    const wall = await loginAs(browser, hub, "duty", from("198.51.100.7", DESKTOP));
    const w = wall.page;
    await w.locator("#net[data-state=online]").waitFor(timeout);
    // The police post's console, through a network that will drop.
    const officer = await loginAs(browser, { base: proxy.base }, "officer", { ...DESKTOP, ...GEO });
    const o = officer.page;
    await o.locator("#net[data-state=online]").waitFor(timeout);
    const id = await newSos();
    await w.locator(`#alerts li[data-id="${id}"]`).waitFor(timeout);
    // (Team A has no console: it is already with the police post, whose console took it.)
    await o.locator("#job[data-state=dispatched]").waitFor(timeout);
    const level = await w.evaluate((id) => window.gwWall.rail.incidents.get(id).escalation_level, id);
    proxy.freeze();
    const cut = Date.now();
    // The wall redirects the SOS to the police post at once: the hub still counts the
    // console as there, but it never confirms.
    await w.locator(`#alerts li[data-id="${id}"] button`).click();
    await w.locator("#detail #d-state").waitFor(timeout);
    const police = await w.locator("#d-post option", { hasText: "Qingjiang police post" }).getAttribute("value");
    await w.selectOption("#d-post", police);
    await w.click("#d-dispatch");
    await o.locator("#net[data-state=offline]").waitFor({ timeout: 10000 });
    const noticed = Date.now() - cut;
    console.log(`half-open console shown offline after ${noticed} ms`);
    assert.ok(noticed <= 10000, `${noticed} ms`);
    await shot(o, "console-cut-off-desktop");
    // Not received: the wall is told and the incident goes on without waiting 2 minutes.
    await w.locator("#alarm-reasons li[data-reason=undelivered]").waitFor({ timeout: 25000 });
    console.log(`redirect to a cut-off console flagged after ${Date.now() - cut} ms`);
    await w.waitForFunction(([id, level]) => window.gwWall.rail.incidents.get(id)?.escalation_level > level, [id, level], { timeout: 10000 });
    proxy.thaw();
    await o.locator("#net[data-state=online]").waitFor({ timeout: 20000 });
    await w.click("#alarm-seen");
    await residentCancels();
    await officer.context.close();
    await wall.context.close();
  });

  it("6. the wall offers only what the hub allows, and says failures in Chinese", async () => {
    const wall = await loginAs(browser, hub, "duty", from("198.51.100.7", DESKTOP));
    const w = wall.page;
    await w.locator("#net[data-state=online]").waitFor(timeout);
    const id = await newSos();
    await w.locator(`#alerts li[data-id="${id}"] button`).click();
    await w.locator("#d-state[data-state]").waitFor(timeout);
    const allowed = await w.evaluate(() => window.gwWall.detail.incident.allowed_actions);
    assert.ok(!allowed.includes("resolve"), `allowed: ${allowed}`);
    assert.equal(await w.locator("#f-resolve").isVisible(), false, "no resolve before anyone is on scene");
    assert.equal(await w.locator("#f-cancel").isVisible(), true);
    // The resident cancels meanwhile; the wall, not yet told (its stream is cut), tries to
    // cancel too: the hub's 409 is said in Chinese.
    await w.evaluate(() => { window.gwWall.stream.stop(); });
    await residentCancels();
    await w.fill("#f-cancel input[name=reason]", "误报");
    await w.click("#f-cancel button[type=submit]");
    await w.locator("#d-error:not([hidden])").waitFor(timeout);
    const text = await w.locator("#d-error").textContent();
    assert.match(text, /已撤销/);
    assert.doesNotMatch(text, /[A-Za-z]{3,}/, `English in the Chinese page: ${text}`);
    await shot(w, "wall-error-zh-desktop");
    await wall.context.close();
  });

  it("7. console buttons fit a phone, in Chinese and in English", async () => {
    const worker = await loginAs(browser, hub, "worker", from("10.8.0.21", { ...PHONE, ...GEO }));
    const c = worker.page;
    await c.locator("#net[data-state=online]").waitFor(timeout);
    await newSos();
    await c.locator("#job[data-state=dispatched]").waitFor(timeout);
    for (const lang of ["zh-CN", "en"]) {
      if (await c.locator("html").getAttribute("lang") !== lang) await c.click("#lang");
      const fit = await buttonsFit(c);
      assert.ok(fit.length >= 3, JSON.stringify(fit));
      for (const b of fit) assert.ok(b.lines === 1 && !b.cut, `${lang}: ${JSON.stringify(b)}`);
      await shot(c, `console-dispatch-phone-${lang}`);
    }
    await c.click("#lang"); // back to Chinese
    await c.click("#b-arrive");
    await c.locator("#job[data-state=on_scene]").waitFor(timeout);
    for (const b of await buttonsFit(c)) assert.ok(b.lines === 1 && !b.cut, JSON.stringify(b));
    await c.fill("#f-resolve input[name=note]", "已处置");
    await c.click("#b-resolve");
    await c.locator("#none").waitFor(timeout);
    await worker.context.close();
  });

  it("8. an answer older than the call shown does not turn a cancelled SOS back", async () => {
    const r = resident.page;
    // The page re-reads the call after each change; the first read's answer, taken before the
    // cancel, is held and given to the page only after the cancel has shown (as a slow
    // network or a busy hub would deliver it).
    let release;
    const released = new Promise((ok) => { release = ok; });
    let held = 0, taken = false;
    const detail = /\/api\/v1\/incidents\/[^/?]+$/;
    await r.route(detail, async (route) => {
      if (route.request().method() !== "GET" || held++) return route.continue();
      const before = await route.fetch();
      taken = true;
      await released;
      await route.fulfill({ response: before });
    });
    await newSos();
    for (let n = 0; n < 100 && !taken; n++) await r.waitForTimeout(50);
    assert.ok(taken, "the page read the call after raising it");
    await residentCancels();
    // The cancel's own event and re-read come and go; then the held answer arrives.
    await r.waitForTimeout(1000);
    release();
    await r.waitForTimeout(1500);
    await r.unroute(detail);
    assert.ok(held >= 1, "the page read the call");
    assert.equal(await r.locator("#status").getAttribute("data-state"), "cancelled",
      "the held answer (not cancelled yet) must not show over the cancel");
  });
});
