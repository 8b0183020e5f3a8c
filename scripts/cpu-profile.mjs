// Reads a V8 .cpuprofile (from `node --cpu-prof`) for the benchmarks' profile summaries: its nodes by id, the self
// time of each (µs, summed over the samples) and the total sampled.
import { readFileSync } from "node:fs";

export function readCpuProfile(file) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map();
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    selfTime.set(id, (selfTime.get(id) ?? 0) + (deltas[i] ?? 0));
  });
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  return { profile, byId, selfTime, total };
}
