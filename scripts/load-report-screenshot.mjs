#!/usr/bin/env node
// The README's picture of a load report, from a real run: starts `services/stack` (what `pnpm start` runs) on free
// ports in a database/namespace of its own, runs `pnpm loadtest` open loop against it with read-your-writes checks
// and `--html`, screenshots the report in headless Chromium (Debian's `chromium`), and cleans up.
//
// Usage: node scripts/load-report-screenshot.mjs [--rate 300] [--duration 30] [--out docs/img/load-report.png]
//        [--html FILE (keep the HTML report too)]          (pnpm build first)
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "300" },
    duration: { type: "string", default: "30" },
    out: { type: "string", default: join(root, "docs/img/load-report.png") },
    html: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const testing = await import(pathToFileURL(join(root, "packages/testing/dist/index.js")).href);
const readModels = await import(pathToFileURL(join(root, "packages/order-read-models/dist/testing.js")).href);
const cli = join(root, "packages/loadtest/dist/cli.js");
const log = (line) => process.stderr.write(`${line}\n`);

function loadtest(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 || code === 1 ? resolve(stdout) : reject(new Error(`loadtest exited ${code}`)),
    );
  });
}

const work = mkdtempSync(join(tmpdir(), "orderly-load-report-"));
// projector-redis's keys go by the read model's own index, never by a SCAN of the shared Redis.
const env = await testing.createTestEnvironment({ dropRedis: [readModels.dropCustomerOrders] });
let stack;
try {
  const ports = {};
  for (const k of ["COMMAND_PORT", "QUERY_PORT"]) ports[k] = await testing.freePort();
  for (const s of ["COMMAND_SERVICE", "QUERY_SERVICE", "OUTBOX_RELAY", "PROJECTOR_POSTGRES", "PROJECTOR_REDIS"]) {
    ports[`${s}_METRICS_PORT`] = await testing.freePort();
  }
  log("starting the stack …");
  stack = await testing.startService({
    name: "stack",
    entry: join(root, "services/stack/dist/main.js"),
    env: {
      ...env.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    },
    readyLine: /services ready \(Ctrl-C stops them all\)/,
    readyTimeoutMs: 150_000,
  });
  const target = ["--address", `127.0.0.1:${ports.COMMAND_PORT}`, "--no-progress"];
  log("warm-up: 5 s closed loop");
  await loadtest([...target, "--concurrency", "16", "--duration", "5s", "--json"]);
  const html = join(work, "report.html");
  log(`open loop at ${values.rate}/s for ${values.duration} s`);
  const text = await loadtest([
    ...target,
    "--rate",
    values.rate,
    "--duration",
    `${values.duration}s`,
    "--duplicates",
    "1%",
    "--conflicts",
    "1%",
    "--ryw-rate",
    "20%",
    "--query-address",
    `127.0.0.1:${ports.QUERY_PORT}`,
    "--slo",
    "p99<25ms,ryw_p50<10ms,ryw_p99<50ms,errors<0.1%",
    "--metrics",
    ["OUTBOX_RELAY", "PROJECTOR_POSTGRES", "PROJECTOR_REDIS"]
      .map((s) => `http://127.0.0.1:${ports[`${s}_METRICS_PORT`]}/metrics`)
      .join(","),
    "--html",
    html,
  ]);
  process.stdout.write(text);
  if (values.html) copyFileSync(html, values.html);
  const shot = spawnSync(
    values.chromium,
    [
      ...testing.HEADLESS_CHROMIUM_FLAGS,
      `--user-data-dir=${join(work, "profile")}`,
      "--hide-scrollbars",
      "--force-device-scale-factor=1",
      "--window-size=1140,1530",
      `--screenshot=${values.out}`,
      pathToFileURL(html).href,
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (shot.status !== 0) throw new Error(`chromium exited ${shot.status}: ${shot.stderr.slice(-500)}`);
  log(`wrote ${values.out}`);
} finally {
  if (stack) await stack.stop("SIGTERM", 30_000).catch(() => {});
  await env.cleanup().catch((error) => log(`cleanup: ${error.message}`));
  rmSync(work, { recursive: true, force: true });
}
