// `pnpm --filter @orderly/order-read-models bench`: the live projection benchmark, then the rebuild benchmark, each in
// its own process (and its own database), printed as one JSON object on the last line.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const run = (script) => {
  const child = spawnSync(process.execPath, [join(here, script)], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = child.stdout.trim().split("\n");
  if (child.status !== 0) throw new Error(`${script} exited with ${child.status}: ${lines.slice(-5).join("\n")}`);
  return JSON.parse(lines[lines.length - 1]);
};

const live = process.env.BENCH_SKIP_LIVE === "1" ? undefined : run("projection-bench.mjs");
const rebuild = run("rebuild-bench.mjs");
console.log(
  JSON.stringify({
    benchmark: "projection",
    ...(live ? { live: live.live, live_events: live.events, goals: live.goals } : {}),
    rebuild,
  }),
);
