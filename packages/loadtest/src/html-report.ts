import { escapeXml as esc, formatNumber } from "@orderly/svg-charts";
import { latencyChart, percentileChart, rywChart, serverLagChart, throughputChart } from "./html-charts.js";
import { CSS } from "./html-style.js";
import {
  compareTable,
  errorBlock,
  generatorBlock,
  optionsTable,
  scheduleBlock,
  sloTable,
  statusTable,
  tiles,
  verdictBadge,
} from "./html-tables.js";
import type { Report } from "./report.js";

export interface HtmlReportOptions {
  /** A previous run's `--json` report, drawn dashed over this one (before/after a change). */
  readonly compare?: Report;
  /** How the compared run is named in legends (default: "before"). */
  readonly compareLabel?: string;
}

const PERCENTILES_NOTE =
  "HDR percentile plot: the share of calls at or below each latency. The horizontal axis is logarithmic in 1/(1 − quantile), so the tail gets as much room as the median. Commands are timed from their intended send time in open loop; read-your-writes visibility from the command's reply to a query answer showing it.";
const SERVER_LAG_NOTE =
  "From the services' own /metrics (--metrics), sampled once a second: projection_lag_seconds per projection and outbox_lag_seconds, the age of the oldest committed event not yet applied or published.";

/**
 * The load report as one self-contained HTML page: inline SVG charts drawn by @orderly/svg-charts, inline CSS, no
 * script and a Content-Security-Policy that forbids every fetch, so it opens from a file, an e-mail or a CI artifact
 * exactly as it was written. The report's JSON travels inside (`<script type="application/json" id="report-data">`,
 * never executed) so the figures can be read back.
 */
export function renderHtmlReport(report: Report, options: HtmlReportOptions = {}): string {
  const before = options.compare;
  const beforeLabel = options.compareLabel ?? "before";
  const r = report;
  const o = r.options;
  const title = `Orderly load report: ${o.mode === "open" ? `open loop at ${formatNumber(o.rate ?? 0)}/s` : `closed loop, ${o.concurrency} in flight`}`;
  const body = [
    `<header><div><h1>${esc(title)}</h1><p class="sub">${esc(o.address)} · started ${esc(r.started_at.replace("T", " ").replace(/\.\d+Z$/, " UTC"))} · ${esc(r.elapsed_s.toFixed(1))} s</p></div>${verdictBadge(r)}</header>`,
    `<p class="cmd"><code>${esc(r.command || "(command not recorded)")}</code></p>`,
    ...sections(r, before, beforeLabel),
    `<footer>Written by <code>orderly-loadtest</code> (schema ${r.schema_version}). The report's JSON is embedded in this file: <code>script#report-data</code>${before ? " and <code>script#compare-data</code>" : ""}.</footer>`,
  ];
  const data = `<script type="application/json" id="report-data">${jsonForHtml(r)}</script>${before ? `<script type="application/json" id="compare-data">${jsonForHtml(before)}</script>` : ""}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body.join("\n")}
</main>
${data}
</body>
</html>
`;
}

/** The page between its header and its footer: the tiles, then a card per chart or table. */
function sections(r: Report, before: Report | undefined, beforeLabel: string): string[] {
  const body: string[] = [];
  if (before) {
    body.push(
      `<p class="compare-note">Dashed lines: <b>${esc(beforeLabel)}</b> — <code>${esc(before.command || "")}</code>, started ${esc(before.started_at)}.</p>`,
    );
  }
  body.push(tiles(r, before));
  body.push(section("Throughput and errors", throughputChart(r, before, beforeLabel)));
  body.push(section("Latency over time", latencyChart(r, before, beforeLabel)));
  body.push(section("Latency percentiles", percentileChart(r, before, beforeLabel), PERCENTILES_NOTE));
  if (r.ryw) body.push(section("Read-your-writes over time", rywChart(r, before, beforeLabel)));
  const lag = r.series.server_lag_s;
  if (lag && Object.keys(lag).length > 0) body.push(section("Lag per read model", serverLagChart(r), SERVER_LAG_NOTE));
  body.push(section("Status codes by command kind", statusTable(r)));
  if (r.slo) body.push(section("SLO verdicts", sloTable(r)));
  if (before) body.push(section(`This run against ${beforeLabel}`, compareTable(r, before)));
  const details = [scheduleBlock(r), errorBlock(r), generatorBlock(r)].filter((s) => s !== "");
  if (details.length > 0) body.push(section("Schedule, errors and the generator", details.join("")));
  body.push(section("Options", optionsTable(r)));
  return body;
}

function section(title: string, content: string, note?: string): string {
  return `<section class="card"><h2>${esc(title)}</h2>${note ? `<p class="note">${esc(note)}</p>` : ""}${content}</section>`;
}

/** JSON safe inside a script element: no `</script>`, no `<!--`. */
function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}
