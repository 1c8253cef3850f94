// Every visible word exists in both languages: the dictionaries have the same keys, and every
// key the pages and scripts name is in them.
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const assets = resolve(dirname(fileURLToPath(import.meta.url)), "../../../web/assets");
const load = async (name) => (await import(join(assets, "js/lang", name))).default;

it("zh-CN and English have the same keys", async () => {
  const zh = await load("zh-CN.js");
  const en = await load("en.js");
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
});

it("keys made up by scripts exist in both languages", async () => {
  const zh = await load("zh-CN.js");
  const en = await load("en.js");
  const keys = [
    // wall-tiles.js: t("cam." + status), the hub's camera states and the player's own
    ...["connecting", "online", "stalled", "offline", "auth_failed", "unsupported", "unknown", "unplayable"].map((s) => "cam." + s),
    // wall.js: the alarm banner's title and reasons, per reason (alarms.js)
    "wall.new_sos", "wall.alarm.undelivered", "wall.alarm.escalated", "wall.alarm.at_risk", "wall.alarm.breached",
    ...["undelivered", "breached", "escalated", "at_risk", "new_sos"].map((r) => "wall.reason." + r),
    // wall-detail.js: the caller's kind
    ...["resident", "device", "officer", "camera"].map((k) => "caller." + k),
    // sos.js: the headline, per state and delivery; the post's step
    "sos.dispatching", "sos.sent_waiting", "sos.received", "sos.undelivered", "sos.overdue", "sos.coming",
    "sos.step.arrived", "sos.resolved", "sos.cancelled", "sos.step.dispatched_to", "sos.step.undelivered",
    // errors.js: every error code, and the fields named
    ...["network", "illegal_transition", "forbidden", "not_found", "invalid", "rate_limited", "unauthorized",
      "unavailable", "timeout", "conflict", "other"].map((c) => "err." + c),
    "field.other", "field.post_id", "field.note", "field.reason",
    // wall-detail.js: why an evidence clip did not load
    ...["clip_missing", "export_not_recorded"].map((c) => "err." + c),
    // wall-dewarp.js: each fisheye view's label and short name; calibrate.js: the fields a 400 names
    ...["panorama", "dual", "quad", "ptz", "raw"].flatMap((v) => ["dewarp.view." + v, "dewarp.short." + v]),
    ...["center_x", "center_y", "radius", "orientation", "mount"].map((f) => "field." + f),
    // zones.js: the fields a 400 on motion settings names (a zone's by its name)
    ...["zones", "zone_name", "zone_points", "schedule", "schedule.start", "schedule.end", "min_area", "min_duration_ms",
      "cooldown_seconds", "utc_offset_minutes"].map((f) => "field." + f),
    "zones.default_name", "zones.points", "zones.drawing", "zones.help",
  ];
  assert.deepEqual(keys.filter((k) => !(k in zh) || !(k in en)), []);
});

it("every key named by a page or a script exists", async () => {
  const zh = await load("zh-CN.js");
  const files = [
    ...readdirSync(assets).filter((f) => f.endsWith(".html")).map((f) => join(assets, f)),
    ...readdirSync(join(assets, "js")).filter((f) => f.endsWith(".js")).map((f) => join(assets, "js", f)),
  ];
  const missing = [];
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/data-i18n(?:-[a-z]+)?="([^"]+)"|\bt\("([a-z_]+\.[a-z_.]+)"\)|"data-i18n": "([^"]+)"/g)) {
      const key = m[1] || m[2] || m[3];
      if (key !== "key" && !(key in zh)) missing.push(`${f}: ${key}`);
    }
  }
  assert.deepEqual(missing, []);
});
