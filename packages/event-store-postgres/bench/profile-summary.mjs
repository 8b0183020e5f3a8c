// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, top N.
// Usage: node bench/profile-summary.mjs <file.cpuprofile> [top]
import { readCpuProfile } from "../../../scripts/cpu-profile.mjs";

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-summary.mjs <file.cpuprofile> [top]");
const top = Number(topArg ?? 25);
const { byId, selfTime, total } = readCpuProfile(file);

function area(url) {
  if (!url) return "(native/gc/idle)";
  const pnpm = /node_modules\/\.pnpm\/([^/]+)\//.exec(url);
  if (pnpm) return pnpm[1].replace(/@[\d.]+.*$/, "");
  if (url.startsWith("node:")) return "node core";
  if (url.includes("/event-store-postgres/")) return "event-store-postgres";
  return url.split("/").slice(-2).join("/");
}

const functions = new Map();
const areas = new Map();
for (const [id, time] of selfTime) {
  const node = byId.get(id);
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || "(anonymous)"} ${url ? `${url.split("/").slice(-1)[0]}:${lineNumber + 1}` : ""}`;
  functions.set(key, (functions.get(key) ?? 0) + time);
  const a = functionName === "(idle)" ? "(idle)" : functionName === "(garbage collector)" ? "(gc)" : area(url);
  areas.set(a, (areas.get(a) ?? 0) + time);
}
const pct = (t) => `${((t / total) * 100).toFixed(1)}%`;
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`);
console.log("by area:");
for (const [name, t] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 12))
  console.log(`  ${pct(t).padStart(6)} ${name}`);
console.log("by function (self):");
for (const [name, t] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`  ${pct(t).padStart(6)} ${name}`);
