// Summarises a V8 .cpuprofile: self time by function and by package, top entries. Usage: node profile-summary.mjs FILE
import { readCpuProfile } from "../../../scripts/cpu-profile.mjs";

const { profile, byId, selfTime: self, total } = readCpuProfile(process.argv[2]);
const byFunction = new Map();
const byPackage = new Map();
for (const [id, us] of self) {
  const { callFrame } = byId.get(id);
  const url = callFrame.url || "(native)";
  const pkg =
    url.match(/node_modules\/\.pnpm\/([^/]+)/)?.[1] ??
    url.match(/\/work\/main\/((?:packages|services)\/[^/]+)/)?.[1] ??
    (url.startsWith("node:") ? url : url === "(native)" ? callFrame.functionName || "(native)" : url);
  const fn = `${callFrame.functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}:${callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
}
const top = (map, n) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n-- by package --`);
console.log(top(byPackage, 20).join("\n"));
console.log("-- by function --");
console.log(top(byFunction, 30).join("\n"));

// Inclusive time of our own packages (everything they call, counted once per sample).
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const ours = (url) => url.match(/\/work\/main\/((?:packages|services)\/[^/]+)/)?.[1];
const inclusive = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const pkg = ours(byId.get(cur).callFrame.url);
    if (pkg && !seen.has(pkg)) {
      seen.add(pkg);
      inclusive.set(pkg, (inclusive.get(pkg) ?? 0) + us);
    }
  }
}
console.log("-- inclusive, our packages --");
console.log(top(inclusive, 10).join("\n"));
