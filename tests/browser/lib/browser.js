// Debian's Chromium, driven by playwright-core (no browser download: CHROMIUM or
// /usr/bin/chromium), and small helpers for the tests.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SHOTS = resolve(process.env.SCREENSHOTS_DIR || join(here, "../screenshots"));

/** `extraArgs`: more Chromium flags, e.g. WEBGL for the fisheye tests. */
export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--autoplay-policy=no-user-gesture-required",
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      ...extraArgs,
    ],
  });
}

/** WebGL2 without a GPU (SwiftShader through ANGLE), for the fisheye dewarp tests. */
export const WEBGL = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"];

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1440, height: 900 } };
export const GEO = { permissions: ["geolocation"], geolocation: { latitude: 26.5725, longitude: 107.9775 } };

/** A new browser context (its own cookies), logged in at `/` as `username`. */
export async function loginAs(browser, hub, username, options = {}) {
  const context = await browser.newContext({ baseURL: hub.base, locale: "zh-CN", ...options });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${username}] page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.error(`[${username}] console: ${m.text()}`); });
  await page.goto("/");
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", `${username}-demo`);
  await page.click("button[type=submit]");
  return { context, page };
}

/** Holds the SOS button of the resident's page down for `ms`. */
export async function holdSos(page, ms = 1200) {
  const box = await page.locator("#sos").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

/** The resident raises a new SOS from their page ("call again" first if a call is shown);
 *  resolves with the incident's id once the page shows it. */
export async function raiseSos({ page }) {
  if (await page.locator("#again").isVisible()) await page.click("#again");
  await holdSos(page);
  await page.locator("#status[data-id]").waitFor({ timeout: 10000 });
  return page.locator("#status").getAttribute("data-id");
}

/** The resident cancels their current call from their page (asks, then confirms). */
export async function residentCancels({ page }) {
  await page.click("#cancel");
  await page.click("#cancel");
  await page.locator("#status[data-state=cancelled]").waitFor({ timeout: 10000 });
}

/** Whether the page's alarm sound is on. */
export const ringing = (page) => page.evaluate(async () => (await import("/assets/js/sound.js")).ringing());

/** Cuts a page's context off the network and drops its stream; `back` reconnects it. */
export async function cutOff({ context, page }, stream) {
  await context.setOffline(true);
  await page.evaluate((name) => window[name].stream.ws.close(), stream);
  await page.locator("#net[data-state=offline]").waitFor({ timeout: 10000 });
}

export async function back({ context, page }) {
  await context.setOffline(false);
  await page.locator("#net[data-state=online]").waitFor({ timeout: 15000 });
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
