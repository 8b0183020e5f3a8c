// Proves that `pnpm lint` enforces the house rules (docs/architecture.md#house-rules): it writes one probe file per
// case into the folder the rule guards, runs Biome on them, and fails unless every forbidden import is reported and
// every allowed one is not. The probes are removed again, also when Biome fails.
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const cases = [
  // [folder, import specifier, must fail?]
  ["packages/eventsourcing/src", "pg", true],
  ["packages/eventsourcing/src", "node:fs", true],
  ["packages/eventsourcing/src", "@orderly/testing", true],
  ["packages/orders-domain/src", "@orderly/contracts", true],
  ["packages/orders-domain/src", "ioredis", true],
  ["packages/orders-domain/src", "@orderly/eventsourcing", false],
  ["packages/projector/src", "@orderly/orders-domain", true],
  ["packages/order-read-models/src", "@orderly/contracts", true],
  ["packages/order-read-models/src", "@orderly/orders-domain", false],
  ["packages/event-store-postgres/src", "@orderly/contracts", true],
  ["packages/event-store-postgres/src", "pg", false],
  ["packages/outbox-relay/src", "@orderly/query-service", true],
  ["services/query-service/src", "@orderly/command-service", true],
  ["services/query-service/src", "../../command-service/src/main.js", true],
  ["services/stack/src", "@orderly/projector-redis", true],
  ["services/query-service/src", "@orderly/contracts", true],
  ["services/command-service/src", "@bufbuild/protobuf", true],
  ["services/command-service/src", "@orderly/orders-domain", false],
];

const probes = cases.map(([folder, specifier, mustFail], i) => ({
  file: join(folder, `house-rule-probe-${i}.ts`),
  specifier,
  mustFail,
}));
let report;
try {
  for (const probe of probes) {
    writeFileSync(join(root, probe.file), `import { probe } from "${probe.specifier}";\nexport const used = probe;\n`);
  }
  const biome = spawnSync("biome", ["lint", "--reporter=json", ...probes.map((p) => p.file)], {
    cwd: root,
    encoding: "utf8",
    shell: process.platform === "win32",
  });
  if (biome.error) throw biome.error;
  report = JSON.parse(biome.stdout);
} finally {
  for (const probe of probes) rmSync(join(root, probe.file), { force: true });
}

const flagged = new Set(
  report.diagnostics
    .filter((d) => d.category === "lint/style/noRestrictedImports")
    .map((d) => d.location.path.replaceAll("\\", "/")),
);
const wrong = probes.filter((p) => flagged.has(p.file) !== p.mustFail);
for (const p of wrong) {
  console.error(
    `house rules: ${p.file} importing "${p.specifier}" ${p.mustFail ? "was NOT reported" : "was reported but is allowed"}`,
  );
}
if (wrong.length > 0) {
  console.error("house rules: biome.json's noRestrictedImports overrides no longer enforce docs/architecture.md");
  process.exit(1);
}
console.log(`house rules: ${probes.length} probes, every forbidden import reported, every allowed one accepted`);
