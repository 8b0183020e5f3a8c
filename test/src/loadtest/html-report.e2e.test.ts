import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Report } from "@orderly/loadtest";
import { type FakeServer, startFakeOrderlyServer } from "@orderly/loadtest/testing";
import { HEADLESS_CHROMIUM_FLAGS, type NodeRun, runNode } from "@orderly/testing";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 19: the HTML report of a short real run (the built CLI as a process, against the in-repo fake
// CommandService/QueryService) opens in headless Chromium (Debian's `chromium`; .ci/run installs it) and the rendered
// page shows what the JSON says: every chart is there and drawn, each series carries the JSON's figures and is drawn
// in their order, and the page loaded nothing (no request but the file itself, no console error).

const cli = fileURLToPath(new URL("../../../packages/loadtest/dist/cli.js", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function runCli(args: string[]): Promise<NodeRun> {
  return runNode(cli, args);
}

interface DrawnSeries {
  chart: string;
  key: string;
  values: string;
  points: number;
  /** Pixel y of every drawn vertex, in order. */
  ys: number[];
  width: number;
  height: number;
}

interface PageFacts {
  charts: { id: string; width: number; height: number }[];
  series: DrawnSeries[];
  data: Report;
  compare: Report | null;
  kinds: Record<string, Record<string, string>>;
  verdict: string | null;
  slo: Record<string, string>;
}

/** Runs in the page (plain JavaScript: this package type-checks without the DOM library). */
const READ_PAGE = `(() => {
    const charts = [...document.querySelectorAll("svg[data-chart]")].map((svg) => {
      const box = svg.getBoundingClientRect();
      return { id: svg.getAttribute("data-chart") ?? "", width: box.width, height: box.height };
    });
    const series = [...document.querySelectorAll("svg[data-chart] path.series")].map((el) => {
      const path = el;
      const d = path.getAttribute("d") ?? "";
      // Absolute commands only: M x y, L x y, V y, H x.
      const ys = [];
      for (const m of d.matchAll(/([MLVH])([-\\d.]+)(?: ([-\\d.]+))?/g)) {
        if (m[1] === "M" || m[1] === "L") ys.push(Number(m[3]));
        else if (m[1] === "V") ys.push(Number(m[2]));
      }
      const box = path.getBBox();
      return {
        chart: path.closest("svg")?.getAttribute("data-chart") ?? "",
        key: path.getAttribute("data-series") ?? "",
        values: path.getAttribute("data-values") ?? "",
        points: Number(path.getAttribute("data-points")),
        ys,
        width: box.width,
        height: box.height,
      };
    });
    const json = (id) => {
      const text = document.getElementById(id)?.textContent;
      return text ? JSON.parse(text) : null;
    };
    const kinds = {};
    for (const row of document.querySelectorAll("tr[data-kind]")) {
      const cells = {};
      for (const cell of row.querySelectorAll("td[data-status]")) {
        cells[cell.getAttribute("data-status") ?? ""] = cell.textContent ?? "";
      }
      kinds[row.getAttribute("data-kind") ?? ""] = cells;
    }
    const slo = {};
    for (const row of document.querySelectorAll("tr[data-slo]")) slo[row.getAttribute("data-slo") ?? ""] = row.className;
    return {
      charts,
      series,
      data: json("report-data"),
      compare: json("compare-data"),
      kinds,
      verdict: document.querySelector("[data-verdict]")?.getAttribute("data-verdict") ?? null,
      slo,
    };
})()`;

/** Opens a report in Chromium and reads what it rendered. */
async function openReport(browser: Browser, file: string, screenshot?: string) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const failed: string[] = [];
  const consoleErrors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText ?? ""}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
  const url = pathToFileURL(file).href;
  const response = await page.goto(url, { waitUntil: "load" });
  expect(response?.ok() ?? true).toBe(true);
  const facts = (await page.evaluate(READ_PAGE)) as PageFacts;
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await context.close();
  return { facts, requests: requests.filter((r) => r !== url), failed, consoleErrors };
}

const csv = (values: readonly (number | null)[]) => values.map((v) => (v === null ? "" : String(v))).join(",");

/** Rates per interval as the report draws them (the last interval may be shorter than a second). */
const rates = (report: Report, counts: readonly number[]) =>
  counts.map((c, i) => {
    const end = report.series.end_s[i] ?? i + 1;
    const length = end - (i === 0 ? 0 : (report.series.end_s[i - 1] ?? i));
    return length > 0 ? Math.round((c / length) * 10) / 10 : c;
  });

/** The drawn vertices keep the values' order: a larger value is never drawn lower on the page (y grows downwards). */
function expectDrawnInOrder(series: DrawnSeries, values: readonly (number | null)[]) {
  const present = values.filter((v): v is number => v !== null);
  expect(series.points).toBe(present.length);
  // For a plain line every vertex is a point; compare each pair of points.
  expect(series.ys.length).toBe(present.length);
  for (let i = 1; i < present.length; i++) {
    const [a, b] = [present[i - 1] as number, present[i] as number];
    const [ya, yb] = [series.ys[i - 1] as number, series.ys[i] as number];
    if (a < b) expect(yb).toBeLessThanOrEqual(ya);
    if (a > b) expect(yb).toBeGreaterThanOrEqual(ya);
    if (a === b) expect(yb).toBeCloseTo(ya, 1);
  }
}

describe("the HTML load report in headless Chromium", () => {
  let server: FakeServer;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: pnpm build first`);
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`);
    }
    dir = mkdtempSync(join(tmpdir(), "orderly-html-report-"));
    server = await startFakeOrderlyServer({ unavailableEvery: 50 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...HEADLESS_CHROMIUM_FLAGS] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows a short run's figures, loads nothing, and overlays an earlier run", async () => {
    const address = `127.0.0.1:${server.port}`;
    const common = ["--address", address, "--query-address", address, "--ryw-rate", "25%", "--no-progress"];
    const firstJson = join(dir, "first.json");
    const first = await runCli([...common, "--rate", "150", "--duration", "2s", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(firstJson, first.stdout);

    const html = join(dir, "report.html");
    const run = await runCli([
      ...common,
      "--rate",
      "200",
      "--duration",
      "3s",
      "--duplicates",
      "2%",
      "--conflicts",
      "2%",
      "--slo",
      "p99<60s,errors<0.1%",
      "--json",
      "--html",
      html,
      "--compare",
      firstJson,
    ]);
    expect(run.code, run.stderr).toBe(1); // every 50th command is UNAVAILABLE: the error SLO is missed
    const report = JSON.parse(run.stdout) as Report;
    expect(report.errors).toBeGreaterThan(0);

    const png = join(dir, "report.png");
    const { facts, requests, failed, consoleErrors } = await openReport(browser, html, png);
    expect(requests).toEqual([]);
    expect(failed).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(statSync(png).size).toBeGreaterThan(50_000);

    // The page carries the report the CLI printed, and the compared one.
    expect(facts.data).toEqual(report);
    expect(facts.compare).toEqual(JSON.parse(readFileSync(firstJson, "utf8")));

    // Every chart is laid out at a visible size.
    expect(facts.charts.map((c) => c.id)).toEqual(["throughput", "latency", "percentiles", "ryw"]);
    for (const c of facts.charts) {
      expect(c.width).toBeGreaterThan(600);
      expect(c.height).toBeGreaterThan(200);
    }
    const drawn = (chart: string, key: string) => {
      const s = facts.series.find((x) => x.chart === chart && x.key === key);
      if (!s) throw new Error(`no series ${key} in chart ${chart}`);
      return s;
    };
    const s = report.series;
    expect(s.target).not.toBeNull();
    expect(drawn("throughput", "completed").values).toBe(csv(rates(report, s.commands.count)));
    expect(drawn("throughput", "errors").values).toBe(csv(rates(report, s.commands.errors)));
    expect(drawn("throughput", "target").values).toBe(csv(rates(report, s.target ?? [])));
    expect(drawn("latency", "p50").values).toBe(csv(s.commands.p50_ms));
    expect(drawn("latency", "p99").values).toBe(csv(s.commands.p99_ms));
    expectDrawnInOrder(drawn("latency", "p50"), s.commands.p50_ms);
    expect(drawn("percentiles", "commands").values).toBe(csv(report.distribution.commands.ms));
    expectDrawnInOrder(drawn("percentiles", "commands"), report.distribution.commands.ms);
    expect(drawn("percentiles", "ryw").values).toBe(csv(report.distribution.ryw?.ms ?? []));
    expect(drawn("ryw", "ryw-p99").values).toBe(csv(s.ryw?.p99_ms ?? []));
    // The overlay of the earlier run.
    const before = facts.compare as Report;
    expect(drawn("throughput", "completed-before").values).toBe(csv(rates(before, before.series.commands.count)));
    expect(drawn("percentiles", "commands-before").values).toBe(csv(before.distribution.commands.ms));
    // Drawn, not just present: a line with more than one point has an extent.
    for (const x of facts.series.filter((x) => x.points > 1 && x.values.split(",").some((v) => v !== "0"))) {
      expect(x.width + x.height, `${x.chart}/${x.key}`).toBeGreaterThan(0);
    }

    // Status codes per kind and the SLO verdicts, as the JSON has them.
    expect(facts.kinds.create?.UNAVAILABLE).toBe(String(report.by_kind.create.status_codes.UNAVAILABLE ?? "—"));
    expect(facts.kinds.create?.OK).toBe(report.by_kind.create.status_codes.OK?.toLocaleString("en-US"));
    expect(facts.verdict).toBe("missed");
    expect(facts.slo).toEqual({ "p99<60s": "ok", "errors<0.1%": "fail" });
  });
});
