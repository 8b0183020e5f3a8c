// Summarises a V8 .cpuprofile: self time by function and by package, top entries. Usage: node profile-summary.mjs FILE
import { readFileSync } from "node:fs";

const profile = JSON.parse(readFileSync(process.argv[2], "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const deltas = profile.timeDeltas;
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
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
