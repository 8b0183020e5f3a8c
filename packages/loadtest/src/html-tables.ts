import { escapeXml as esc, formatNumber, PALETTE } from "@orderly/svg-charts";
import type { LatencySummary } from "./latency.js";
import { CALL_KINDS } from "./mix.js";
import type { Report } from "./report.js";
import { fmtMs, fmtPct } from "./report-text.js";

// The HTML report's figures as text: the verdict badge, the tiles at the top, and the tables and notes below the
// charts. \`before\` is the run given with \`--compare\`.

const STATUS_COLORS: Record<string, string> = {
  OK: PALETTE.green,
  ABORTED: PALETTE.orange,
  DEADLINE_EXCEEDED: PALETTE.purple,
  UNAVAILABLE: PALETTE.red,
};

export function verdictBadge(r: Report): string {
  if (!r.slo) return `<span class="badge none">no SLO given</span>`;
  return r.slo.passed
    ? `<span class="badge ok" data-verdict="met">SLO met</span>`
    : `<span class="badge fail" data-verdict="missed">SLO missed</span>`;
}

export function tiles(r: Report, before: Report | undefined): string {
  const tile = (label: string, value: string, was?: string, extra = "") =>
    `<div class="tile${extra}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>${was !== undefined ? `<div class="was">${esc(was)}</div>` : ""}</div>`;
  const delta = (now: number, then: number | undefined, fmt: (v: number) => string) => {
    if (then === undefined || !before) return undefined;
    const change = then === 0 ? "" : ` (${now >= then ? "+" : ""}${(((now - then) / then) * 100).toFixed(0)}%)`;
    return `was ${fmt(then)}${change}`;
  };
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const out = [
    tile("calls", n(r.total), delta(r.total, before?.total, n)),
    tile(
      "calls/s",
      fmtRate(r.rps),
      delta(r.rps, before?.rps, fmtRate) ??
        (r.schedule ? `target ${formatNumber(r.schedule.target_rate)}/s` : undefined),
    ),
    tile("p50", fmtMs(r.latency_ms.p50), delta(r.latency_ms.p50, before?.latency_ms.p50, fmtMs)),
    tile("p99", fmtMs(r.latency_ms.p99), delta(r.latency_ms.p99, before?.latency_ms.p99, fmtMs)),
    tile("p99.9", fmtMs(r.latency_ms.p99_9), delta(r.latency_ms.p99_9, before?.latency_ms.p99_9, fmtMs)),
    tile("max", fmtMs(r.latency_ms.max), delta(r.latency_ms.max, before?.latency_ms.max, fmtMs)),
    tile(
      "errors",
      n(r.errors),
      delta(r.errors, before?.errors, n) ?? `${fmtPct(r.error_rate)} of calls`,
      r.errors > 0 ? " bad" : "",
    ),
  ];
  if (r.ryw) {
    out.push(
      tile("visible p99", fmtMs(r.ryw.latency_ms.p99), delta(r.ryw.latency_ms.p99, before?.ryw?.latency_ms.p99, fmtMs)),
    );
  }
  out.push(
    tile(
      "generator",
      `${r.generator.cpu_percent.toFixed(0)}% CPU`,
      r.generator.saturated ? "saturated: see below" : "of one core",
      r.generator.saturated ? " bad" : "",
    ),
  );
  return `<section class="tiles">${out.join("")}</section>`;
}

export function statusTable(r: Report): string {
  const rows = CALL_KINDS.map((k) => [k, r.by_kind[k]] as const).filter(([, k]) => k && k.count > 0);
  const ryw = r.ryw;
  const codes = new Set<string>(["OK"]);
  for (const [, k] of rows) for (const c of Object.keys(k.status_codes ?? {})) codes.add(c);
  for (const c of Object.keys(ryw?.status_codes ?? {})) codes.add(c);
  const names = [...codes].sort((a, b) => (a === "OK" ? -1 : b === "OK" ? 1 : a.localeCompare(b)));
  const head = `<tr><th>kind</th><th class="n">calls</th><th class="n">errors</th><th class="n">p50</th><th class="n">p99</th>${names.map((c) => `<th class="n">${esc(c)}</th>`).join("")}<th>share of replies</th></tr>`;
  const line = (
    label: string,
    count: number,
    errors: number,
    lat: LatencySummary,
    statuses: Readonly<Record<string, number>>,
  ) => {
    const bar = names
      .filter((c) => (statuses[c] ?? 0) > 0)
      .map(
        (c) =>
          `<span style="width:${(((statuses[c] ?? 0) / Math.max(1, count)) * 100).toFixed(2)}%;background:${STATUS_COLORS[c] ?? PALETTE.grey}" title="${esc(`${c}: ${statuses[c]}`)}"></span>`,
      )
      .join("");
    return `<tr data-kind="${esc(label)}"><td>${esc(label)}</td><td class="n">${count.toLocaleString("en-US")}</td><td class="n${errors > 0 ? " bad" : ""}">${errors.toLocaleString("en-US")}</td><td class="n">${fmtMs(lat.p50)}</td><td class="n">${fmtMs(lat.p99)}</td>${names.map((c) => `<td class="n" data-status="${esc(c)}">${statuses[c] ? statuses[c].toLocaleString("en-US") : "—"}</td>`).join("")}<td><div class="bar">${bar}</div></td></tr>`;
  };
  const body = rows.map(([kind, k]) => line(kind, k.count, k.errors, k.latency_ms, k.status_codes ?? {}));
  if (ryw) body.push(line("read-your-writes query", ryw.checks, ryw.failed, ryw.latency_ms, ryw.status_codes));
  const legend = names
    .map((c) => `<span class="key"><i style="background:${STATUS_COLORS[c] ?? PALETTE.grey}"></i>${esc(c)}</span>`)
    .join("");
  return `<table class="status">${head}${body.join("")}</table><p class="note">Errors are unexpected outcomes: a conflict is expected to be ABORTED, a duplicate to be OK and marked duplicate. p50/p99 of the read-your-writes row: command reply → visible. ${legend}</p>`;
}

export function sloTable(r: Report): string {
  const rows = (r.slo?.checks ?? []).map((c) => {
    const actual =
      c.actual === undefined
        ? "not measured"
        : c.kind === "ratio"
          ? fmtPct(c.actual)
          : c.metric === "lag"
            ? `${c.actual.toFixed(3)} s`
            : c.metric === "errors" || c.metric === "dropped" || c.metric === "rps"
              ? formatNumber(c.actual)
              : fmtMs(c.actual);
    return `<tr data-slo="${esc(c.expr)}" class="${c.passed ? "ok" : "fail"}"><td><code>${esc(c.expr)}</code></td><td class="n">${esc(actual)}</td><td>${c.passed ? "✓ met" : "✗ missed"}</td></tr>`;
  });
  return `<table class="slo"><tr><th>objective</th><th class="n">measured</th><th>verdict</th></tr>${rows.join("")}</table>`;
}

export function compareTable(r: Report, b: Report): string {
  const rows: [string, number | undefined, number | undefined, (v: number) => string, "lower" | "higher"][] = [
    ["calls/s", r.rps, b.rps, fmtRate, "higher"],
    ["p50", r.latency_ms.p50, b.latency_ms.p50, fmtMs, "lower"],
    ["p90", r.latency_ms.p90, b.latency_ms.p90, fmtMs, "lower"],
    ["p99", r.latency_ms.p99, b.latency_ms.p99, fmtMs, "lower"],
    ["p99.9", r.latency_ms.p99_9, b.latency_ms.p99_9, fmtMs, "lower"],
    ["max", r.latency_ms.max, b.latency_ms.max, fmtMs, "lower"],
    ["error rate", r.error_rate, b.error_rate, fmtPct, "lower"],
    ["visible p50", r.ryw?.latency_ms.p50, b.ryw?.latency_ms.p50, fmtMs, "lower"],
    ["visible p99", r.ryw?.latency_ms.p99, b.ryw?.latency_ms.p99, fmtMs, "lower"],
    ["generator µs per call", r.generator.cpu_per_call_us, b.generator.cpu_per_call_us, formatNumber, "lower"],
  ];
  const body = rows
    .filter(([, now, then]) => now !== undefined || then !== undefined)
    .map(([label, now, then, fmt, better]) => {
      let ratio = "—";
      let cls = "";
      if (now !== undefined && then !== undefined && then !== 0) {
        const q = now / then;
        ratio = `${q.toFixed(2)}×`;
        if (Math.abs(q - 1) >= 0.05) cls = (better === "lower" ? q < 1 : q > 1) ? "ok" : "fail";
      }
      return `<tr class="${cls}"><td>${esc(label)}</td><td class="n">${now === undefined ? "—" : esc(fmt(now))}</td><td class="n">${then === undefined ? "—" : esc(fmt(then))}</td><td class="n">${ratio}</td></tr>`;
    });
  return `<table class="compare"><tr><th>figure</th><th class="n">this run</th><th class="n">before</th><th class="n">ratio</th></tr>${body.join("")}</table><p class="note">Green: better by 5% or more; red: worse by 5% or more. Compare runs made at the same rate on the same machine.</p>`;
}

export function scheduleBlock(r: Report): string {
  const s = r.schedule;
  if (!s) return "";
  return `<div class="block"><h3>Open-loop schedule</h3><p>Target ${formatNumber(s.target_rate)} calls/s: ${s.intended.toLocaleString("en-US")} intended, ${s.sent.toLocaleString("en-US")} sent, <span class="${s.late > 0 ? "warn" : ""}">${s.late.toLocaleString("en-US")} late</span> (more than ${s.late_threshold_ms} ms behind), <span class="${s.dropped > 0 ? "bad" : ""}">${s.dropped.toLocaleString("en-US")} dropped</span>. Send delay p99 ${fmtMs(s.send_delay_ms.p99)}, max ${fmtMs(s.send_delay_ms.max)}.</p></div>`;
}

export function errorBlock(r: Report): string {
  const list = (items: readonly { message: string; count: number }[]) =>
    `<table class="errors">${items.map((e) => `<tr><td class="n">${e.count.toLocaleString("en-US")}</td><td><code>${esc(e.message)}</code></td></tr>`).join("")}</table>`;
  const parts: string[] = [];
  if (r.error_messages.length > 0) parts.push(`<h3>Most frequent errors</h3>${list(r.error_messages)}`);
  if (r.ryw && r.ryw.error_messages.length > 0) {
    parts.push(`<h3>Read-your-writes failures</h3>${list(r.ryw.error_messages)}`);
  }
  return parts.length > 0 ? `<div class="block">${parts.join("")}</div>` : "";
}

export function generatorBlock(r: Report): string {
  const g = r.generator;
  const lag = r.ryw ? ` Largest read-model lag any answer reported: ${r.ryw.max_lag_seconds.toFixed(3)} s.` : "";
  return `<div class="block"><h3>Generator</h3><p>CPU ${g.cpu_percent.toFixed(1)}% of one core (user ${g.cpu_user_s.toFixed(2)} s, system ${g.cpu_system_s.toFixed(2)} s), ${formatNumber(g.cpu_per_call_us)} µs per call over ${g.calls.toLocaleString("en-US")} calls.${g.saturated ? ` <span class="bad">The generator may be the limit: ${esc(g.saturation_reasons.join("; "))}.</span>` : ""}${lag}</p></div>`;
}

export function optionsTable(r: Report): string {
  const rows = Object.entries(r.options).map(([k, v]) => {
    const text =
      v === null
        ? "—"
        : typeof v === "object"
          ? Object.entries(v)
              .map(([a, b]) => `${a}=${b}`)
              .join(", ")
          : String(v);
    return `<tr><td><code>${esc(k)}</code></td><td>${esc(text)}</td></tr>`;
  });
  return `<table class="options">${rows.join("")}</table>`;
}

function fmtRate(perSecond: number): string {
  return perSecond.toLocaleString("en-US", { maximumFractionDigits: 1 });
}
