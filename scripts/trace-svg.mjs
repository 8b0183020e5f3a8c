// Draws one command's trace as a waterfall SVG (the README's picture, docs/img/trace.svg) from real spans: those the
// traces end-to-end test's in-process OTLP receiver captured for its CreateOrder + GetOrderSummary(min_position).
//
// Usage: pnpm build && node scripts/trace-svg.mjs [--spans <file.json>] [--out docs/img/trace.svg]
// Without --spans it runs test/src/tracing/traces.e2e.test.ts with ORDERLY_TRACE_SPANS_FILE set (starts the five
// services as processes, ~1 min) and draws what that run captured.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: { spans: { type: "string" }, out: { type: "string", default: join(root, "docs/img/trace.svg") } },
});

let spansFile = values.spans;
let temp;
if (!spansFile) {
  temp = mkdtempSync(join(tmpdir(), "orderly-trace-"));
  spansFile = join(temp, "spans.json");
  execFileSync("npx", ["vitest", "run", "src/tracing/traces.e2e.test.ts", "-t", "one command with a traceparent"], {
    cwd: join(root, "test"),
    env: { ...process.env, ORDERLY_TRACE_SPANS_FILE: spansFile },
    stdio: "inherit",
  });
}
const spans = JSON.parse(readFileSync(spansFile, "utf8"));
if (temp) rmSync(temp, { recursive: true, force: true });
if (spans.length === 0) throw new Error("no spans");

// Tree order: each span below its parent, children by start time; roots are spans whose parent was not exported (the
// caller's own span).
const ns = (v) => BigInt(v);
const byId = new Map(spans.map((s) => [s.spanId, s]));
const children = new Map();
const roots = [];
for (const s of spans) {
  if (byId.has(s.parentSpanId)) {
    const list = children.get(s.parentSpanId) ?? [];
    list.push(s);
    children.set(s.parentSpanId, list);
  } else roots.push(s);
}
const byStart = (a, b) => (ns(a.startTimeUnixNano) < ns(b.startTimeUnixNano) ? -1 : 1);
const rows = [];
const walk = (s, depth) => {
  rows.push({ span: s, depth });
  for (const c of (children.get(s.spanId) ?? []).sort(byStart)) walk(c, depth + 1);
};
for (const r of roots.sort(byStart)) walk(r, 0);

// BigInt nanoseconds (Math.min/max take numbers only).
let t0 = ns(spans[0].startTimeUnixNano);
let t1 = ns(spans[0].endTimeUnixNano);
for (const s of spans) {
  if (ns(s.startTimeUnixNano) < t0) t0 = ns(s.startTimeUnixNano);
  if (ns(s.endTimeUnixNano) > t1) t1 = ns(s.endTimeUnixNano);
}
const ms = (t) => Number(t - t0) / 1e6;
const totalMs = Math.max(ms(t1), 0.001);

const colours = {
  "command-service": "#4e79a7",
  "outbox-relay": "#f28e2b",
  "projector-postgres": "#59a14f",
  "projector-redis": "#e15759",
  "query-service": "#76b7b2",
};
const services = [...new Set(spans.map((s) => s.service))];
const esc = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const labelWidth = 430;
const chartWidth = 620;
const rowHeight = 22;
const top = 58;
const height = top + rows.length * rowHeight + 60;
const width = labelWidth + chartWidth + 80;
const x = (t) => labelWidth + (chartWidth * t) / totalMs;
const tick = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].find((step) => totalMs / step <= 8) ?? 1000;

const out = [];
out.push(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
  `<title>One command's trace: ${spans.length} spans from ${services.length} processes</title>`,
  `<rect width="100%" height="100%" fill="#ffffff"/>`,
  `<text x="12" y="22" font-size="15" font-weight="600">One CreateOrder and a GetOrderSummary(min_position) waiting for it: ${spans.length} spans from ${services.length} processes, one trace</text>`,
  `<text x="12" y="40" fill="#555">trace ${esc(spans[0].traceId)} · ${totalMs.toFixed(1)} ms · captured by the traces e2e test's OTLP receiver (scripts/trace-svg.mjs)</text>`,
);
for (let t = 0; t <= totalMs + 1e-9; t += tick) {
  out.push(
    `<line x1="${x(t).toFixed(1)}" y1="${top - 6}" x2="${x(t).toFixed(1)}" y2="${top + rows.length * rowHeight}" stroke="#e5e5e5"/>`,
    `<text x="${x(t).toFixed(1)}" y="${top + rows.length * rowHeight + 14}" text-anchor="middle" fill="#777">${t} ms</text>`,
  );
}
rows.forEach(({ span, depth }, i) => {
  const y = top + i * rowHeight;
  const start = ms(ns(span.startTimeUnixNano));
  const end = ms(ns(span.endTimeUnixNano));
  const colour = colours[span.service] ?? "#9c755f";
  const w = Math.max(x(end) - x(start), 2);
  out.push(
    `<text x="${12 + depth * 14}" y="${y + 15}"><tspan fill="${colour}" font-weight="600">${esc(span.service)}</tspan> ${esc(span.name)}</text>`,
    `<rect x="${x(start).toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 8}" rx="2" fill="${colour}"><title>${esc(span.service)} · ${esc(span.name)} · ${(end - start).toFixed(2)} ms</title></rect>`,
    `<text x="${(x(start) + w + 4).toFixed(1)}" y="${y + 15}" fill="#555" font-size="11">${(end - start).toFixed(1)} ms</text>`,
  );
});
const legendY = top + rows.length * rowHeight + 36;
services.forEach((service, i) => {
  const lx = 12 + i * 200;
  out.push(
    `<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${colours[service] ?? "#9c755f"}"/>`,
    `<text x="${lx + 18}" y="${legendY + 11}">${esc(service)}</text>`,
  );
});
out.push("</svg>");
writeFileSync(values.out, `${out.join("\n")}\n`);
console.log(`${values.out}: ${rows.length} spans, ${services.length} processes, ${totalMs.toFixed(1)} ms`);
