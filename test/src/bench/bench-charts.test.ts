import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DOMParser, type Element } from "@xmldom/xmldom";
import { afterAll, describe, expect, it } from "vitest";

// Issue 19: the SVG charts that `pnpm bench` writes next to docs/benchmarks.md are valid SVG and are exactly what
// scripts/bench-charts.mjs draws from docs/benchmarks.json (so the page never shows figures of another run).

const root = fileURLToPath(new URL("../../../", import.meta.url));
const script = join(root, "scripts/bench-charts.mjs");
const FILES = ["benchmarks-goals.svg", "benchmarks-latency.svg"];

function charts(args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: "utf8" });
}

function parseStrict(text: string): Element {
  const doc = new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(text, "image/svg+xml");
  return doc.documentElement as Element;
}

const all = (root: Element, tag: string) => Array.from(root.getElementsByTagName(tag)) as Element[];

interface Goal {
  value: number | null;
  goal: number;
  met: boolean;
}

describe("the benchmark charts", () => {
  const out = mkdtempSync(join(tmpdir(), "orderly-bench-charts-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const data = JSON.parse(readFileSync(join(root, "docs/benchmarks.json"), "utf8"));

  it("regenerate from docs/benchmarks.json byte for byte", () => {
    const check = charts(["--check"]);
    expect(check.status, check.stderr).toBe(0);
    const run = charts(["--out", out]);
    expect(run.status, run.stderr).toBe(0);
    for (const f of FILES) expect(readFileSync(join(out, f), "utf8")).toBe(readFileSync(join(root, "docs", f), "utf8"));
    const page = readFileSync(join(root, "docs/benchmarks.md"), "utf8");
    for (const f of FILES) expect(page).toContain(`](${f})`);
  });

  it("are well-formed SVG documents", () => {
    for (const f of FILES) {
      const svg = parseStrict(readFileSync(join(root, "docs", f), "utf8"));
      expect(svg.tagName).toBe("svg");
      expect(svg.getAttribute("xmlns")).toBe("http://www.w3.org/2000/svg");
      expect(Number(svg.getAttribute("width"))).toBeGreaterThan(0);
      expect(svg.getAttribute("viewBox")).toMatch(/^0 0 \d+ \d+$/);
    }
  });

  it("show each end-to-end goal with the JSON's value and verdict", () => {
    const svg = parseStrict(readFileSync(join(root, "docs/benchmarks-goals.svg"), "utf8"));
    const bars = all(svg, "g").filter((g) => g.getAttribute("class") === "goal");
    expect(bars.length).toBeGreaterThan(0);
    const goals: Goal[] = [
      ...Object.values((data.end_to_end?.goals ?? {}) as Record<string, Goal>),
      ...Object.values((data.end_to_end?.catch_up?.goals ?? {}) as Record<string, Goal>),
    ];
    for (const g of goals) {
      const bar = bars.find(
        (b) => b.getAttribute("data-value") === String(g.value ?? "") && b.getAttribute("data-goal") === String(g.goal),
      );
      expect(bar, JSON.stringify(g)).toBeDefined();
      expect(bar?.getAttribute("data-met")).toBe(g.value === null ? "" : String(g.met));
    }
    // every bar's verdict follows from its value and goal
    for (const b of bars) {
      const met = b.getAttribute("data-met");
      if (met !== "") expect(["true", "false"]).toContain(met);
    }
  });

  it("draw the end-to-end latency percentiles from the JSON", () => {
    const svg = parseStrict(readFileSync(join(root, "docs/benchmarks-latency.svg"), "utf8"));
    const series = all(svg, "path").filter((p) => p.getAttribute("class") === "series");
    const half = data.end_to_end?.half_rate;
    if (!half) return;
    const l = half.latency_ms;
    const commands = series.find((p) => p.getAttribute("data-series") === "commands");
    expect(commands?.getAttribute("data-values")).toBe([l.p50, l.p90, l.p99, l.p99_9, l.max].join(","));
    if (half.ryw) {
      const v = half.ryw.latency_ms;
      const ryw = series.find((p) => p.getAttribute("data-series") === "ryw");
      expect(ryw?.getAttribute("data-values")).toBe([v.p50, v.p90, v.p99, v.p99_9, v.max].join(","));
    }
  });
});
