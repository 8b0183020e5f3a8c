import { describe, expect, it } from "vitest";
import { renderHtmlReport } from "./html-report.js";
import { report } from "./report.fixture.js";
import type { Report } from "./report.js";

const values = (html: string, chart: string, series: string): string | undefined => {
  const svg = new RegExp(`<svg[^>]*data-chart="${chart}"[\\s\\S]*?</svg>`).exec(html)?.[0] ?? "";
  return new RegExp(`data-series="${series}"[^>]*data-values="([^"]*)"`).exec(svg)?.[1];
};

describe("renderHtmlReport", () => {
  const html = renderHtmlReport(report);

  it("is one page that fetches nothing: a CSP forbidding every load, no URL but the SVG namespace", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    const urls = [...html.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>]*/gi)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(["http://www.w3.org/2000/svg"]));
    expect(html).not.toMatch(/<script(?![^>]*type="application\/json")/);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed)\b/);
  });

  it("draws the per-second series and the percentile distribution from the report's figures", () => {
    expect(values(html, "throughput", "completed")).toBe("990,1000,1010");
    expect(values(html, "throughput", "errors")).toBe("0,2,0");
    expect(values(html, "throughput", "target")).toBe("1000,1000,1000");
    expect(values(html, "latency", "p50")).toBe("1.1,1.3,1.2");
    expect(values(html, "latency", "p99")).toBe("10,14,11");
    expect(values(html, "percentiles", "commands")).toBe("0.5,1.234,2.468,12.5,37.5");
    expect(values(html, "percentiles", "ryw")).toBe("1,4,20,60");
    expect(values(html, "ryw", "ryw-p99")).toBe("19,21,");
    expect(values(html, "ryw", "lag")).toBe("10,50,");
  });

  it("shows the status codes per kind, the SLO verdicts and the options", () => {
    expect(html).toMatch(/<tr data-kind="create">.*?data-status="UNAVAILABLE">2</);
    expect(html).toContain('data-verdict="missed"');
    expect(html).toMatch(/data-slo="errors&lt;0.01%" class="fail"/);
    expect(html).toMatch(/data-slo="p99&lt;25ms" class="ok"/);
    expect(html).toContain("create=40, pay=35, ship=20, cancel=5");
    // the SLO limit is drawn on the latency charts
    expect(html).toContain("SLO p99&lt;25ms");
  });

  it("embeds the report's JSON so the page's figures can be read back, safely", () => {
    const hostile: Report = { ...report, command: "pnpm loadtest --slo '</script><script>alert(1)</script>'" };
    const page = renderHtmlReport(hostile);
    const json = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "";
    expect(JSON.parse(json)).toEqual(hostile);
    expect(page).not.toContain("<script>alert");
  });

  it("overlays a compared run dashed, also one from before the series existed", () => {
    const { series: _s, distribution: _d, ...old } = report;
    const older = {
      ...old,
      rps: 800,
      latency_ms: { ...report.latency_ms, count: 10_000, p99: 25 },
    } as unknown as Report;
    const page = renderHtmlReport(report, { compare: older, compareLabel: "before: old.json" });
    expect(page).toContain('id="compare-data"');
    // from the summary: min, p50, p90, p99, p99.9 and the max at 1 − 1/count
    expect(values(page, "percentiles", "commands-before")).toBe("0.5,1.234,2.468,25,25,37.5");
    expect(page).toMatch(/data-series="commands-before"[^>]*stroke-dasharray/);
    expect(page).toContain("before: old.json");
    expect(page).toMatch(/<td>calls\/s<\/td><td class="n">999.8<\/td><td class="n">800<\/td><td class="n">1.25×/);
    const withSeries = renderHtmlReport(report, { compare: report });
    expect(values(withSeries, "throughput", "completed-before")).toBe("990,1000,1010");
    expect(values(withSeries, "latency", "p99-before")).toBe("10,14,11");
  });

  it("is the same page for the same report", () => {
    expect(renderHtmlReport(report)).toBe(html);
  });
});

describe("renderHtmlReport with the services' lag", () => {
  it("draws one line per read model when the run sampled /metrics", () => {
    const withLag: Report = {
      ...report,
      series: { ...report.series, server_lag_s: { order_summaries: [0.1, 0.3, null], "outbox relay": [0, 0.01, 0] } },
    };
    const page = renderHtmlReport(withLag);
    expect(values(page, "server-lag", "lag-order_summaries")).toBe("0.1,0.3,");
    expect(values(page, "server-lag", "lag-outbox relay")).toBe("0,0.01,0");
    expect(renderHtmlReport(report)).not.toContain('data-chart="server-lag"');
  });
});
