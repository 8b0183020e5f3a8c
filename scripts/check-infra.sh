#!/usr/bin/env bash
# Checks infra/: Prometheus config and alert rules (promtool check + the unit tests in alerts.test.yml), the Grafana
# dashboard (valid JSON), and that every metric name used by the alerts and the dashboard exists in the code.
# promtool comes from Debian's `prometheus` package, installed here when missing (apt-get, without starting the
# daemon). Without apt, a smaller check runs in node instead (YAML shape only, no rule tests) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
prom=infra/prometheus
failed=0

if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "promtool missing: installing Debian's prometheus package (daemon not started)"
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  # RUNLEVEL=1: invoke-rc.d does not start the service it just installed.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if command -v promtool >/dev/null 2>&1; then
  promtool check config "$prom/prometheus.yml"
  promtool check rules "$prom/alerts.yml"
  promtool test rules "$prom/alerts.test.yml"
  # The compose stack's scrape config (its alerts.yml is mounted beside it).
  tmp=$(mktemp -d)
  cp infra/compose/prometheus.yml "$prom/alerts.yml" "$tmp/"
  promtool check config "$tmp/prometheus.yml" || failed=1
  rm -rf "$tmp"
else
  echo "WARNING: promtool unavailable (no apt-get): falling back to a YAML shape check in node; rule unit tests NOT run"
  node - "$prom/alerts.yml" <<'EOF' || failed=1
const text = require("node:fs").readFileSync(process.argv[2], "utf8");
const problems = [];
if (/\t/.test(text)) problems.push("tabs in YAML");
if (!/^groups:\s*$/m.test(text)) problems.push("no top-level groups:");
const alerts = [...text.matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]);
const exprs = [...text.matchAll(/^\s*expr: /gm)].length;
if (alerts.length === 0) problems.push("no alerts");
if (exprs !== alerts.length) problems.push(`${alerts.length} alerts but ${exprs} expr fields`);
if (new Set(alerts).size !== alerts.length) problems.push("duplicate alert names");
for (const block of text.split(/^\s*- alert: /m).slice(1)) {
  if (!/severity: (page|warning)/.test(block)) problems.push(`${block.split("\n")[0]}: severity must be page or warning`);
  if (!/summary:/.test(block)) problems.push(`${block.split("\n")[0]}: no summary`);
}
if (problems.length) { console.error(problems.join("\n")); process.exit(1); }
console.log(`alerts.yml: ${alerts.length} alerts look well-formed (shape check only)`);
EOF
fi

# The dashboard parses, and every metric in the alerts and the dashboard is defined in the code (not in tests).
# Allowed from outside the code: `up` (Prometheus). Orderly needs no exporter of its own (the relay samples
# pg_stat_activity for orderly_oldest_transaction_age_seconds).
node - infra/grafana/orderly.json "$prom/alerts.yml" <<'EOF' || failed=1
const { readFileSync, readdirSync, statSync } = require("node:fs");
const { join } = require("node:path");
const [dashboardPath, alertsPath] = process.argv.slice(2);
let dashboard;
try {
  dashboard = JSON.parse(readFileSync(dashboardPath, "utf8"));
} catch (error) {
  console.error(`${dashboardPath}: not valid JSON: ${error.message}`);
  process.exit(1);
}
const exprs = [];
const walk = (node) => {
  if (Array.isArray(node)) node.forEach(walk);
  else if (node && typeof node === "object") {
    if (typeof node.expr === "string") exprs.push(["dashboard", node.expr]);
    Object.values(node).forEach(walk);
  }
};
walk(dashboard);
if (exprs.length === 0) {
  console.error(`${dashboardPath}: no queries`);
  process.exit(1);
}
// expr fields of alerts.yml: one line, or a folded block (`expr: >-` then deeper-indented lines).
const lines = readFileSync(alertsPath, "utf8").split("\n");
for (let i = 0; i < lines.length; i++) {
  const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]);
  if (!m) continue;
  if (!/^[>|]/.test(m[2])) exprs.push(["alerts", m[2]]);
  else {
    const body = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === "" || lines[i + 1].search(/\S/) > m[1].length)) body.push(lines[++i]);
    exprs.push(["alerts", body.join(" ")]);
  }
}
const KEYWORDS = new Set(
  "sum min max avg count stddev stdvar topk bottomk quantile count_values group by without on ignoring group_left group_right and or unless bool offset rate irate increase delta idelta deriv predict_linear histogram_quantile absent absent_over_time abs ceil floor round clamp clamp_min clamp_max label_replace label_join vector scalar time changes resets avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time quantile_over_time sort sort_desc exp ln log2 log10 sqrt timestamp"
    .split(" "),
);
const used = new Map();
for (const [where, expr] of exprs) {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "") // grouping labels
    .replace(/\[[^\]]*\]/g, "") // ranges and subqueries
    .replace(/\$\w+/g, ""); // Grafana variables
  for (const name of stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []) {
    if (KEYWORDS.has(name) || /^(e|inf|nan)$/i.test(name)) continue;
    if (!used.has(name)) used.set(name, new Set());
    used.get(name).add(where);
  }
}
const sources = [];
const collect = (dir) => {
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry === "dist" || entry === "gen") continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path);
    else if (/\.ts$/.test(entry) && !/\.test\.ts$/.test(entry)) sources.push(readFileSync(path, "utf8"));
  }
};
for (const root of ["packages", "services"]) {
  for (const pkg of readdirSync(root)) {
    try {
      collect(join(root, pkg, "src"));
    } catch {}
  }
}
const code = sources.join("\n");
const missing = [];
for (const [name, where] of used) {
  if (name === "up") continue;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const defined = (n) => new RegExp(`["'\`]${n}["'\`]`).test(code);
  if (!defined(name) && !defined(base)) missing.push(`${name} (${[...where].join(", ")})`);
}
if (missing.length > 0) {
  console.error(`metrics used but not defined in packages/*/src or services/*/src:\n  ${missing.join("\n  ")}`);
  process.exit(1);
}
console.log(`${exprs.length} queries use ${used.size} metric names, all defined in the code; ${dashboardPath} parses`);
EOF

# Compose and Kubernetes files are YAML that parses, with the kinds/services expected (when python3 has PyYAML).
if python3 -c "import yaml" 2>/dev/null; then
  python3 - <<'EOF' || failed=1
import glob, yaml
compose = yaml.safe_load(open("infra/compose/compose.yaml"))
want = {"postgres", "nats", "redis", "command-service", "query-service", "outbox-relay", "projector-postgres", "projector-redis"}
missing = want - set(compose["services"])
assert not missing, f"compose.yaml lacks {missing}"
kinds = []
deployments, budgets = set(), set()
statefulsets, config = {}, {}
for path in sorted(glob.glob("infra/k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        kinds.append(doc["kind"])
        if doc["kind"] == "StatefulSet":
            statefulsets[doc["metadata"]["name"]] = (doc["spec"]["serviceName"], doc["spec"]["replicas"])
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "orderly-config":
            config = doc["data"]
        if doc["kind"] == "Deployment":
            c = doc["spec"]["template"]["spec"]["containers"][0]
            assert "readinessProbe" in c, f"{path}: no readinessProbe"
            # Scale-out (docs/scaling.md): every service runs more than one instance.
            assert doc["spec"]["replicas"] > 1, f"{path}: replicas must be > 1"
            deployments.add(doc["metadata"]["name"])
        if doc["kind"] == "PodDisruptionBudget":
            budgets.add(doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"])
assert kinds.count("Deployment") == 5 and kinds.count("Service") >= 5, kinds
assert deployments <= budgets, f"no PodDisruptionBudget for {deployments - budgets}"
# The NATS and Redis clusters: a budget each, and NATS_URL / REDIS_URL list pods that the StatefulSets make.
assert set(statefulsets) <= budgets, f"no PodDisruptionBudget for {set(statefulsets) - budgets}"
from urllib.parse import urlparse
for variable, name in (("NATS_URL", "nats"), ("REDIS_URL", "redis")):
    service, replicas = statefulsets[name]
    pods = {f"{name}-{i}.{service}" for i in range(replicas)}
    seeds = [urlparse(u.strip()).hostname for u in config[variable].split(",")]
    assert len(seeds) > 1 and set(seeds) <= pods, f"config.yaml {variable} lists {seeds}, not pods of {sorted(pods)}"
print(f"compose.yaml: {len(compose['services'])} services; infra/k8s: {len(kinds)} objects parse")
EOF
else
  echo "python3 with PyYAML not found: compose and Kubernetes YAML not parsed"
fi

exit "$failed"
