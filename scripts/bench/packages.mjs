// The package benchmarks of `pnpm bench` (scripts/bench.mjs): which packages have one, in which order they run, and
// one run of one of them.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { lastJson, root, run } from "./processes.mjs";

/** Ceilings first (the RPC stack, the generator itself, the database), then Orderly's parts in pipeline order. */
const ORDER = [
  "@orderly/grpc-server",
  "@orderly/loadtest",
  "@orderly/event-store-postgres",
  "@orderly/command-service",
  "@orderly/outbox-relay",
  "@orderly/projector",
  "@orderly/order-read-models",
  "@orderly/query-service",
];

export function discover() {
  const found = [];
  for (const parent of ["packages", "services"]) {
    for (const dir of readdirSync(join(root, parent)).sort()) {
      const file = join(root, parent, dir, "package.json");
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, "utf8"));
      if (pkg.scripts?.bench) found.push({ name: pkg.name, dir: join(parent, dir), script: pkg.scripts.bench });
    }
  }
  const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return found.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** Runs one package benchmark, which may take `timeoutMs`. */
export async function runPackageBench(bench, timeoutMs) {
  process.stderr.write(`\n==> ${bench.name}: ${bench.script}\n`);
  const r = await run("pnpm", ["run", "--silent", "bench"], {
    cwd: join(root, bench.dir),
    label: bench.name,
    timeout: timeoutMs,
  });
  const entry = {
    package: bench.name,
    dir: bench.dir,
    command: `pnpm --filter ${bench.name} bench`,
    seconds: r.seconds,
  };
  if (r.timedOut) return { ...entry, status: "timeout", error: `no result within ${timeoutMs / 1000} s`, result: null };
  try {
    const result = lastJson(r.stdout);
    if (r.code !== 0) return { ...entry, status: "failed", error: `exit code ${r.code ?? r.signal}`, result };
    return { ...entry, status: "ok", result };
  } catch (error) {
    return {
      ...entry,
      status: "failed",
      error: `${r.code === 0 ? "" : `exit code ${r.code ?? r.signal}; `}${error.message}`,
      stderr_tail: r.stderr.slice(-2000),
      result: null,
    };
  }
}
