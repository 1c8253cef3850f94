// Starts the real `gridwatch demo` binary on a free port with its own data directory, as the
// Rust end-to-end tests do (tests/tests/support), and stops it afterwards.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** GRIDWATCH_BIN, else $CARGO_TARGET_DIR/debug/gridwatch, else the workspace's target/. */
export function binary() {
  if (process.env.GRIDWATCH_BIN) return process.env.GRIDWATCH_BIN;
  const target = process.env.CARGO_TARGET_DIR || resolve(here, "../../../target");
  const bin = join(target, "debug/gridwatch");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with \`cargo build --bin gridwatch\``);
  return bin;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `gridwatch demo`; `env` adds configuration (GRIDWATCH_… variables). */
export async function startDemo(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "gridwatch-browser-"));
  const port = await freePort();
  const extra = env;
  env = { ...process.env };
  delete env.GRIDWATCH_DATABASE_URL;
  delete env.GRIDWATCH_CONFIG;
  Object.assign(env, extra, {
    GRIDWATCH_LISTEN: `127.0.0.1:${port}`,
    GRIDWATCH_DATA_DIR: dir,
    GRIDWATCH_LOG__FILTER: process.env.GRIDWATCH_LOG__FILTER || "warn",
  });
  const out = join(dir, "stdout.txt");
  const err = join(dir, "stderr.txt");
  const child = spawn(binary(), ["demo"], { env, cwd: dir, stdio: ["ignore", openSync(out, "w"), openSync(err, "w")] });
  const base = `http://127.0.0.1:${port}`;
  const hub = {
    base, dir, child,
    stdout: () => readFileSync(out, "utf8"),
    stderr: () => readFileSync(err, "utf8"),
    async stop() {
      if (child.exitCode == null) {
        child.kill("SIGTERM");
        for (let n = 0; n < 50 && child.exitCode == null; n++) await sleep(100);
        if (child.exitCode == null) child.kill("SIGKILL");
      }
      if (!process.env.KEEP_DATA) rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode != null) throw new Error(`gridwatch demo exited with ${child.exitCode}:\n${hub.stderr()}`);
    try {
      const r = await fetch(`${base}/readyz`);
      // The demo prints its logins once it serves; wait for that too (cameras are registered).
      if (r.ok && hub.stdout().includes("logins")) return hub;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { await hub.stop(); throw new Error("gridwatch demo did not get ready in 60 s"); }
    await sleep(200);
  }
}
