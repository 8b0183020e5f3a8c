#!/usr/bin/env node
// The write path's ceiling with 1 and 2 command-service instances against one Postgres (group commit on: the
// store's default), in one run so the ratio holds on a noisy machine. Each instance gets its own closed-loop load
// generator (`pnpm loadtest`, CreateOrder only); the total in flight is the same in both phases. Also samples where
// the CPU goes (command services, load generators, Postgres backends of this database, the rest of the machine).
//
//   pnpm build && node scripts/bench-write-ceiling.mjs [--duration 15s] [--concurrency 64] [--two-first]
//
// Uses the shared servers (DATABASE_URL's server, NATS_URL); creates and drops a database of its own.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const duration = arg("--duration", "15s");
const concurrency = Number(arg("--concurrency", "64"));
const admin = process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";
const suffix = randomBytes(4).toString("hex");
const database = `orderly_ceiling_${suffix}`;
const dbUrl = new URL(admin);
dbUrl.pathname = `/${database}`;

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const psql = (sql) => execFileSync("psql", [admin, "-Atc", sql], { encoding: "utf8" }).trim();

/** CPU ticks (user+system) of a pid; 0 once it is gone. */
function ticks(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}
function machineTicks() {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  return { busy: cpu.reduce((a, b) => a + b, 0) - idle, total: cpu.reduce((a, b) => a + b, 0) };
}
const backendPids = () =>
  psql(`select pid from pg_stat_activity where datname = '${database}'`).split("\n").filter(Boolean).map(Number);

async function startCommandService(i) {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [join(root, "services/command-service/dist/main.js")], {
    env: {
      ...process.env,
      DATABASE_URL: dbUrl.toString(),
      ORDERLY_NAMESPACE: `ceiling_${suffix}`,
      COMMAND_PORT: String(port),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      const r = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`command-service ${i} not ready`);
    await sleep(200);
  }
  return { child, port };
}

/** `seed`: each generator its own, or two of them send the same idempotency keys and order ids (and wait on each other). */
function loadtest(port, inFlight, seed) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(root, "packages/loadtest/dist/cli.js"),
        ...["-a", `127.0.0.1:${port}`, "-c", String(inFlight), "-d", duration, "--create-only", "--json"],
        ...["--seed", String(seed)],
        "--no-progress",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.on("exit", () => {
      try {
        resolve({ report: JSON.parse(out), pid: child.pid });
      } catch (error) {
        reject(new Error(`loadtest output: ${out.slice(0, 500)} (${error})`));
      }
    });
    resolve.pid = child.pid;
    loadtest.last = child;
  });
}

async function phase(instances) {
  const services = [];
  for (let i = 0; i < instances; i++) services.push(await startCommandService(i));
  await sleep(1000);
  const m0 = machineTicks();
  const backends0 = new Map(backendPids().map((p) => [p, ticks(p)]));
  const services0 = services.map((s) => ticks(s.child.pid));
  const started = Date.now();
  const runs = services.map((s, i) => loadtest(s.port, Math.round(concurrency / instances), 1000 * instances + i));
  const loadPids = [];
  await sleep(200);
  // The load generators' pids, for their CPU: children of this process running cli.js.
  for (const line of execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
    .trim()
    .split("\n")) {
    if (line.includes("loadtest/dist/cli.js")) loadPids.push(Number(line.trim().split(" ")[0]));
  }
  // Sample the generators' CPU just before they end (their /proc entry goes with them).
  let loadTicks = 0;
  const sampler = setInterval(() => {
    const t = loadPids.reduce((a, p) => a + ticks(p), 0);
    if (t > 0) loadTicks = t;
  }, 250);
  const results = await Promise.all(runs);
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  const m1 = machineTicks();
  const backendTicks = backendPids().reduce((a, p) => a + ticks(p) - (backends0.get(p) ?? 0), 0);
  const serviceTicks = services.reduce((a, s, i) => a + ticks(s.child.pid) - (services0[i] ?? 0), 0);
  for (const s of services) s.child.kill("SIGTERM");
  await sleep(1500);
  const hz = 100;
  const cores = (t) => t / hz / seconds;
  const rate = results.reduce((a, r) => a + r.report.ok / r.report.elapsed_s, 0);
  const p99 = Math.max(...results.map((r) => r.report.latency_ms?.p99 ?? Number.NaN));
  return {
    instances,
    ok_per_s: Math.round(rate),
    errors: results.reduce((a, r) => a + (r.report.total - r.report.ok), 0),
    p99_ms: p99,
    cpu_cores: {
      machine: Number(((m1.busy - m0.busy) / hz / seconds).toFixed(2)),
      command_services: Number(cores(serviceTicks).toFixed(2)),
      load_generators: Number(cores(loadTicks).toFixed(2)),
      postgres_backends: Number(cores(backendTicks).toFixed(2)),
    },
  };
}

psql(`create database ${database}`);
try {
  // --two-first: the 2-instance phase first, to tell the instance count's effect from the run order's.
  const twoFirst = args.includes("--two-first");
  const first = await phase(twoFirst ? 2 : 1);
  const second = await phase(twoFirst ? 1 : 2);
  const [one, two] = twoFirst ? [second, first] : [first, second];
  console.log(
    JSON.stringify(
      { duration, concurrency, one, two, ratio: Number((two.ok_per_s / one.ok_per_s).toFixed(2)) },
      null,
      2,
    ),
  );
} finally {
  await sleep(500);
  psql(`drop database if exists ${database} with (force)`);
}
