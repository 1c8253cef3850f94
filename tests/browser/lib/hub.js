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

/** Runs `gridwatch <command>` on a free port with a data directory of its own (`env` adds
 *  configuration: GRIDWATCH_… variables; the caller's database and configuration file are
 *  not inherited); `stop()` ends it (SIGTERM, then SIGKILL after 5 s) and removes the
 *  directory (kept with KEEP_DATA). */
async function spawnGridwatch(command, extra) {
  const dir = mkdtempSync(join(tmpdir(), `gridwatch-${command}-`));
  const port = await freePort();
  const env = { ...process.env };
  delete env.GRIDWATCH_DATABASE_URL;
  delete env.GRIDWATCH_CONFIG;
  Object.assign(env, extra, {
    GRIDWATCH_LISTEN: `127.0.0.1:${port}`,
    GRIDWATCH_DATA_DIR: dir,
    GRIDWATCH_LOG__FILTER: process.env.GRIDWATCH_LOG__FILTER || "warn",
  });
  const out = join(dir, "stdout.txt");
  const err = join(dir, "stderr.txt");
  const child = spawn(binary(), [command], { env, cwd: dir, stdio: ["ignore", openSync(out, "w"), openSync(err, "w")] });
  const run = {
    base: `http://127.0.0.1:${port}`, dir, child,
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
  return run;
}

/** Waits until `ready()` of a `spawnGridwatch` run says yes, for at most `seconds`. */
async function untilReady(run, what, seconds, ready) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (run.child.exitCode != null) throw new Error(`${what} exited with ${run.child.exitCode}:\n${run.stderr()}`);
    try {
      if (await ready()) return run;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { await run.stop(); throw new Error(`${what} did not get ready in ${seconds} s`); }
    await sleep(200);
  }
}

/** Starts `gridwatch demo`; `env` adds configuration (GRIDWATCH_… variables). */
export async function startDemo(env = {}) {
  const hub = await spawnGridwatch("demo", env);
  // The demo prints its logins once it serves; wait for that too (cameras are registered).
  return untilReady(hub, "gridwatch demo", 60, async () =>
    (await fetch(`${hub.base}/readyz`)).ok && hub.stdout().includes("logins"));
}

/** Starts `gridwatch ingest` (an ingest worker) on `hub`'s SQLite database, with `config`
 *  (TOML: its `[ingest]` secret and worker_id, its `[recording]`). */
export async function startWorker(hub, config) {
  const worker = await spawnGridwatch("ingest", {
    GRIDWATCH_CONFIG: config,
    GRIDWATCH_DATABASE_URL: `sqlite://${join(hub.dir, "gridwatch.db")}`,
  });
  // A worker answers hubs only, but it answers once it listens.
  return untilReady(worker, "gridwatch ingest", 30, async () => (await fetch(worker.base), true));
}
