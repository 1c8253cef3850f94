// Accessibility checks with axe-core (vendored through npm, injected from node_modules: never
// from a CDN). Fails on serious and critical violations, WCAG 2 A and AA.
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

/** The serious and critical violations on the page now, as readable lines. */
export async function violations(page, { exclude = [] } = {}) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) {
    await page.addScriptTag({ path: AXE });
  }
  const result = await page.evaluate(async (exclude) => {
    const r = await window.axe.run(
      { exclude: exclude.map((s) => [s]) },
      { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] },
    );
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  }, exclude);
  return result;
}

/** Asserts that the page has no serious or critical violation. */
export async function assertAccessible(page, what, options) {
  const found = await violations(page, options);
  assert.deepEqual(found, [], `${what}: accessibility violations`);
}
