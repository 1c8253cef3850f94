// What officers need to act, and what everyone needs to use the pages (issue 16), in a real
// Chromium against its own `gridwatch demo`: the caller's name, phone and address on the wall
// and the console; the place in words with a map link, never raw coordinates; the wall bringing
// an SOS's nearest cameras forward by itself; one click to enlarge a tile; the plan naming
// cameras and posts, opening a camera, listing incidents without a location; the history with
// filters and the full timeline; 24-hour times; a console title right for grid workers and
// police posts alike. Accessibility: one h1 per page, the SOS button's name, focus on the
// result, and axe-core on every page in both languages at phone and desktop sizes.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../lib/hub.js";
import { launch, loginAs, shot, holdSos, PHONE, DESKTOP, GEO } from "../lib/browser.js";
import { assertAccessible } from "../lib/axe.js";

let hub, browser, wall, console_, resident;
const timeout = { timeout: 10000 };
/** Coordinates as a page must not show them to people. */
const RAW_COORDS = /\d{1,3}\.\d{4,}/;

/** Switches a page to `lang` if it is not in it. */
async function inLanguage(page, lang) {
  if (await page.locator("html").getAttribute("lang") !== lang) await page.click("#lang");
  assert.equal(await page.locator("html").getAttribute("lang"), lang);
}

/** The visible h1 elements of a page. */
const h1s = (page) => page.evaluate(() => [...document.querySelectorAll("h1")].filter((h) => h.offsetParent !== null).map((h) => h.textContent));

describe("what officers need, and accessibility", { timeout: 300000 }, () => {
  before(async () => {
    hub = await startDemo();
    browser = await launch();
    wall = await loginAs(browser, hub, "duty", DESKTOP);
    console_ = await loginAs(browser, hub, "worker", { ...DESKTOP, ...GEO });
    resident = await loginAs(browser, hub, "resident", { ...PHONE, ...GEO });
    for (const { page } of [wall, console_, resident]) await page.locator("#net[data-state=online]").waitFor(timeout);
  });

  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it("the SOS button is named, and focus goes to the result", async () => {
    const r = resident.page;
    // Its accessible name (what a screen reader says) is its visible text, which has both.
    assert.equal(await r.getByRole("button", { name: /SOS[\s\S]*一键报警/ }).count(), 1);
    assert.deepEqual(await h1s(r), ["一键报警"]);
    await assertAccessible(r, "SOS page, zh, phone");
    await inLanguage(r, "en");
    assert.equal(await r.getByRole("button", { name: /SOS[\s\S]*One-button alarm/ }).count(), 1);
    await inLanguage(r, "zh-CN");
    await holdSos(r);
    await r.locator("#status[data-state=dispatched]").waitFor(timeout);
    assert.equal(await r.evaluate(() => document.activeElement?.id), "headline", "focus on the result");
    await assertAccessible(r, "SOS status, zh, phone");
    await inLanguage(r, "en");
    await assertAccessible(r, "SOS status, en, phone");
    await inLanguage(r, "zh-CN");
  });

  it("the wall shows who called, where in words, and brings the nearest cameras forward", async () => {
    const w = wall.page;
    const id = await resident.page.locator("#status").getAttribute("data-id");
    await w.locator(`#alerts li[data-id="${id}"]`).waitFor(timeout);
    const cams = await (await wall.context.request.get("/api/v1/cameras")).json();
    if (cams.length) {
      // The SOS's nearest cameras are first on the wall, marked.
      const nearest = (await (await wall.context.request.get(`/api/v1/incidents/${id}`)).json()).incident.cameras;
      await w.locator("#tiles figure.spot").first().waitFor(timeout);
      assert.equal(await w.locator("#tiles figure").first().getAttribute("data-camera"), nearest[0]);
    }
    await w.click("#alarm-seen");
    await w.locator("#d-caller").waitFor(timeout);
    assert.match(await w.locator("#d-caller").textContent(), /陈阿姨/);
    assert.equal(await w.locator("#d-phone a").getAttribute("href"), "tel:13808550001");
    assert.match(await w.locator("#d-address").textContent(), /清江小区1栋2单元501/);
    assert.match(await w.locator("#d-map").getAttribute("href"), /^geo:26\.57/);
    assert.doesNotMatch(await w.locator("#d-facts").textContent(), RAW_COORDS);
    assert.deepEqual(await h1s(w), ["社区综治中心 · 监控墙"]);
    await assertAccessible(w, "wall with an incident open, zh, desktop", { exclude: ["#tiles video", "#d-cameras video"] });
    await shot(w, "wall-incident-caller-desktop");
    // 24-hour times, in English too.
    await inLanguage(w, "en");
    const times = await w.locator("#d-timeline time").allTextContents();
    assert.ok(times.length >= 2 && times.every((x) => /^\d{2}:\d{2}:\d{2}$/.test(x)), times.join(", "));
    await assertAccessible(w, "wall with an incident open, en, desktop", { exclude: ["#tiles video", "#d-cameras video"] });
    await inLanguage(w, "zh-CN");
    // "Show on the plan" opens the plan with the incident marked.
    await w.click("#d-plan");
    await w.locator("#plan .plan-inc.highlight").waitFor(timeout);
    await w.click("#plan [data-close]");
  });

  it("the console shows whom to call back and where, under a title right for its post", async () => {
    const c = console_.page;
    await c.locator("#job[data-state=dispatched]").waitFor(timeout);
    await c.locator("#f-phone a[href='tel:13808550001']").waitFor(timeout);
    assert.match(await c.locator("#f-caller").textContent(), /陈阿姨/);
    assert.match(await c.locator("#f-place").textContent(), /清江小区1栋2单元501/);
    assert.doesNotMatch(await c.locator("#job-facts").textContent(), RAW_COORDS);
    const [title] = await h1s(c);
    assert.match(title, /^接警台 · 网格员一队/);
    assert.doesNotMatch(title, /警务室接警台/);
    await assertAccessible(c, "console with a dispatch, zh, desktop");
    await inLanguage(c, "en");
    assert.match((await h1s(c))[0], /^Response console/);
    await assertAccessible(c, "console with a dispatch, en, desktop");
    await inLanguage(c, "zh-CN");
    // The worker takes it and settles it: the resident is told, then it is history.
    await c.click("#b-ack");
    await c.locator("#job[data-state=acknowledged]").waitFor(timeout);
    // Focus stays on the job: the next step.
    await c.waitForFunction(() => document.activeElement?.id === "b-enroute", null, timeout);
    await c.click("#b-arrive");
    await c.fill("#f-resolve input[name=note]", "已调解");
    await c.click("#b-resolve");
    await c.locator("#none").waitFor(timeout);
    await assertAccessible(c, "console idle, zh, desktop");
  });

  it("the plan names cameras and posts, opens a camera, and lists incidents without a location", async () => {
    const w = wall.page;
    // A duty officer raises one by hand from a phone call, with no location.
    const grids = await (await wall.context.request.get("/api/v1/grids")).json();
    const raised = await wall.context.request.post("/api/v1/incidents", { data: { grid_id: grids[0].id, note: "电话报警 phone call" } });
    assert.equal(raised.status(), 201);
    const manual = (await raised.json()).incident.id;
    await w.locator(`#alerts li[data-id="${manual}"]`).waitFor(timeout);
    await w.click("#show-plan");
    await w.locator(`#plan-nogps li[data-id="${manual}"]`).waitFor(timeout);
    assert.ok(await w.locator("#plan-svg .plan-post-label").count() >= 3);
    const cams = await w.locator("#plan-svg .plan-cam").count();
    assert.equal(await w.locator("#plan-svg .plan-cam-label").count(), cams);
    await assertAccessible(w, "plan, zh, desktop", { exclude: ["#tiles video"] });
    await shot(w, "wall-plan-desktop");
    if (cams) {
      const cam = await w.locator("#plan-svg .plan-cam").first().getAttribute("data-camera");
      await w.locator("#plan-svg .plan-cam").first().click();
      assert.equal(await w.locator("#plan").isVisible(), false);
      assert.equal(await w.locator("#tiles").getAttribute("data-layout"), "1");
      assert.equal(await w.locator("#tiles figure").first().getAttribute("data-camera"), cam);
      await w.locator("#tiles figure").first().click(); // one click: back to the grid
      assert.notEqual(await w.locator("#tiles").getAttribute("data-layout"), "1");
    }
    await w.click("#show-plan");
    await w.click(`#plan-nogps li[data-id="${manual}"] button`);
    await w.waitForFunction((id) => window.gwWall.detail.incident?.id === id, manual, timeout);
    assert.match(await w.locator("#d-address").textContent(), /第一网格|未提供位置/);
    await w.fill("#f-cancel input[name=reason]", "重复报警");
    await w.click("#f-cancel button[type=submit]");
    await w.locator("#d-state[data-state=cancelled]").waitFor(timeout);
    await w.click("#detail-close");
  });

  it("the history filters by state, grid, kind and time, and opens the whole timeline", async () => {
    const w = wall.page;
    await w.click("#show-history");
    await w.locator("#history-table tbody tr").first().waitFor(timeout);
    assert.equal(await w.locator("#history-table tbody tr").count(), 2);
    await w.selectOption("#h-state", "cancelled");
    await w.click("#history-filter button[type=submit]");
    await w.waitForFunction(() => document.querySelectorAll("#history-table tbody tr").length === 1);
    assert.equal(await w.locator("#history-table tbody tr").first().getAttribute("data-state"), "cancelled");
    await w.selectOption("#h-state", "all");
    await w.selectOption("#h-kind", "sos");
    await w.click("#history-filter button[type=submit]");
    await w.waitForFunction(() => [...document.querySelectorAll("#history-table tbody tr")].every((r) => r.dataset.state === "resolved"));
    // Nothing before an hour ago.
    const hourAgo = await w.evaluate(() => { const d = new Date(Date.now() - 3600e3); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); });
    await w.selectOption("#h-kind", "");
    await w.fill("#h-until", hourAgo);
    await w.click("#history-filter button[type=submit]");
    await w.waitForFunction(() => document.querySelectorAll("#history-table tbody tr").length === 0);
    await w.fill("#h-until", "");
    await w.fill("#h-since", hourAgo);
    await w.click("#history-filter button[type=submit]");
    await w.waitForFunction(() => document.querySelectorAll("#history-table tbody tr").length === 2);
    await assertAccessible(w, "history, zh, desktop", { exclude: ["#tiles video"] });
    await shot(w, "wall-history-desktop");
    // A closed incident opens with its whole timeline.
    await w.locator("#history-table tbody tr[data-state=resolved] button").click();
    await w.locator("#d-state[data-state=resolved]").waitFor(timeout);
    const types = await w.locator("#d-timeline li").evaluateAll((lis) => lis.map((li) => li.dataset.type));
    for (const t of ["incident.raised", "incident.dispatched", "incident.acknowledged", "incident.on_scene", "incident.resolved"]) {
      assert.ok(types.includes(t), `${t} in ${types}`);
    }
    assert.equal(await w.locator("#f-dispatch").isVisible(), false, "nothing to do on a closed incident");
    await w.click("#detail-close");
  });

  it("every page passes axe in both languages, at phone and desktop sizes, with one h1", async () => {
    const pages = [[wall, "wall"], [console_, "console"], [resident, "sos"]];
    for (const [who, name] of pages) {
      for (const size of [PHONE, DESKTOP]) {
        const ctx = await browser.newContext({ baseURL: hub.base, locale: "zh-CN", ...size, storageState: await who.context.storageState() });
        const page = await ctx.newPage();
        await page.goto(`/${name}`);
        await page.locator("#net[data-state=online]").waitFor(timeout);
        await page.waitForTimeout(300);
        for (const lang of ["zh-CN", "en"]) {
          await inLanguage(page, lang);
          assert.equal((await h1s(page)).length, 1, `${name} ${lang}: one h1`);
          await assertAccessible(page, `${name}, ${lang}, ${size === PHONE ? "phone" : "desktop"}`, { exclude: ["#tiles video"] });
        }
        await ctx.close();
      }
    }
    for (const size of [PHONE, DESKTOP]) {
      const page = await browser.newPage({ baseURL: hub.base, locale: "zh-CN", ...size });
      await page.goto("/");
      for (const lang of ["zh-CN", "en"]) {
        await inLanguage(page, lang);
        assert.equal((await h1s(page)).length, 1, `login ${lang}: one h1`);
        await assertAccessible(page, `login, ${lang}, ${size === PHONE ? "phone" : "desktop"}`);
      }
      await page.close();
    }
  });
});
