import { DOMParser, type Element } from "@xmldom/xmldom";
import { describe, expect, it } from "vitest";
import { goalChart, goalMet, lineChart, makeScale, niceStep, percentileTicks } from "./index.js";

/** Parses strictly: any XML warning or error fails the test. */
function parseSvg(text: string) {
  const doc = new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(text, "image/svg+xml");
  const root = doc.documentElement as Element;
  expect(root.tagName).toBe("svg");
  expect(root.getAttribute("xmlns")).toBe("http://www.w3.org/2000/svg");
  return root;
}

const all = (root: Element, tag: string) => Array.from(root.getElementsByTagName(tag)) as Element[];

describe("makeScale", () => {
  it("rounds a linear domain out to nice ticks and maps it onto the pixel range", () => {
    const s = makeScale({ values: [3, 97], from: 0, to: 100 });
    expect(s.domain).toEqual([0, 100]);
    expect(s.ticks.map((t) => t.value)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(s(50)).toBe(50);
    const y = makeScale({ values: [0, 1234], from: 300, to: 0, min: 0 });
    expect(y(0)).toBe(300);
    expect(y(y.domain[1])).toBe(0);
    expect(y.ticks.at(-1)?.label).toBe("1,250");
  });

  it("picks steps of 1, 2, 2.5 and 5 times a power of ten", () => {
    expect([0.7, 1.5, 2.2, 4, 7, 0.013].map(niceStep)).toEqual([1, 2, 2.5, 5, 10, 0.02]);
    const s = makeScale({ values: [0.1, 0.3], from: 0, to: 1 });
    expect(s.ticks.map((t) => t.label)).toEqual(["0.1", "0.15", "0.2", "0.25", "0.3"]);
  });

  it("rounds a log domain out to decades, ignoring values it cannot show", () => {
    const s = makeScale({ values: [0, -1, 0.37, 240], from: 0, to: 300, log: true });
    expect(s.domain).toEqual([0.1, 1000]);
    expect(s.ticks.map((t) => t.value)).toEqual([0.1, 1, 10, 100, 1000]);
    expect(s(1)).toBeCloseTo(75);
    expect(s(100)).toBeCloseTo(225);
    // over two decades at most, 2 and 5 ticks too
    const narrow = makeScale({ values: [3, 40], from: 0, to: 1, log: true });
    expect(narrow.ticks.map((t) => t.value)).toEqual([1, 2, 5, 10, 20, 50, 100]);
  });

  it("copes with no data and with a flat series", () => {
    expect(makeScale({ values: [], from: 0, to: 1 }).domain).toEqual([0, 1]);
    const flat = makeScale({ values: [5, 5], from: 0, to: 1, min: 0 });
    expect(flat.domain[0]).toBe(0);
    expect(flat.domain[1]).toBeGreaterThanOrEqual(5);
  });
});

describe("percentileTicks", () => {
  it("puts 0% and 50% at 1 and 2, then one more nine at each power of ten", () => {
    expect(percentileTicks(6)).toEqual([
      { value: 1, label: "0%" },
      { value: 2, label: "50%" },
      { value: 10, label: "90%" },
      { value: 100, label: "99%" },
      { value: 1_000, label: "99.9%" },
      { value: 10_000, label: "99.99%" },
      { value: 100_000, label: "99.999%" },
      { value: 1_000_000, label: "99.9999%" },
    ]);
    expect(percentileTicks(2).map((t) => t.label)).toEqual(["0%", "50%", "90%", "99%"]);
  });
});

describe("lineChart", () => {
  const chart = () =>
    lineChart({
      id: "latency",
      title: 'Latency <p50 & p99> "per second"',
      x: { label: "seconds", min: 0 },
      y: { label: "ms", min: 0 },
      series: [
        { name: "p50", key: "p50", y: [1, 2, null, 4], color: "#000" },
        { name: "p99", key: "p99", x: [1, 2, 3, 4], y: [10, 20, 30, 40], color: "#111", dashed: true, step: true },
      ],
      references: [{ y: 25, label: "SLO p99 < 25 ms" }],
    });

  it("is well-formed SVG with the title escaped", () => {
    const root = parseSvg(chart());
    expect(root.getAttribute("data-chart")).toBe("latency");
    expect(all(root, "title")[0]?.textContent).toBe('Latency <p50 & p99> "per second"');
  });

  it("draws one path per series carrying its values, and breaks the line at gaps", () => {
    const root = parseSvg(chart());
    const paths = all(root, "path").filter((p) => p.getAttribute("class") === "series");
    expect(paths.map((p) => p.getAttribute("data-series"))).toEqual(["p50", "p99"]);
    const [p50, p99] = paths as [Element, Element];
    expect(p50.getAttribute("data-values")).toBe("1,2,,4");
    expect(p50.getAttribute("data-points")).toBe("3");
    expect(p50.getAttribute("d")?.match(/M/g)).toHaveLength(2);
    expect(p99.getAttribute("stroke-dasharray")).toBeTruthy();
    expect(p99.getAttribute("d")).toMatch(/V[\d.]+H[\d.]+V/);
  });

  it("places points by value: a larger y is higher on the page", () => {
    const root = parseSvg(chart());
    const p99 = all(root, "path").find((p) => p.getAttribute("data-series") === "p99") as Element;
    const ys = [...(p99.getAttribute("d") ?? "").matchAll(/V([\d.]+)/g)].map((m) => Number(m[1]));
    const first = Number(/^M[\d.]+ ([\d.]+)/.exec(p99.getAttribute("d") ?? "")?.[1]);
    for (const y of [first, ...ys.filter((_, i) => i % 2 === 1)]) expect(y).toBeGreaterThan(0);
    expect(ys.at(-1)).toBeLessThan(first);
  });

  it("draws reference lines and the legend, and says when there is nothing to draw", () => {
    const root = parseSvg(chart());
    expect(
      all(root, "g")
        .find((g) => g.getAttribute("class") === "reference")
        ?.getAttribute("data-y"),
    ).toBe("25");
    expect(root.toString()).toContain("SLO p99 &lt; 25 ms");
    const empty = parseSvg(lineChart({ id: "e", title: "t", x: {}, y: {}, series: [], emptyText: "no checks" }));
    expect(empty.toString()).toContain("no checks");
  });

  it("is deterministic", () => {
    expect(chart()).toBe(chart());
  });
});

describe("goalChart", () => {
  const rows = [
    { group: "loadtest", label: "generator / plain client CPU", value: 1.03, goal: 1, better: "lower" as const },
    { group: "loadtest", label: "rebuild", value: 25_000, goal: 20_000, better: "higher" as const, unit: "/s" },
    { group: "end to end", label: "p99", value: null, goal: 25, better: "lower" as const, unit: " ms" },
  ];

  it("marks each goal met, missed or not measured", () => {
    expect(rows.map(goalMet)).toEqual([false, true, undefined]);
    const root = parseSvg(goalChart({ id: "goals", title: "Goals", subtitle: "from docs/benchmarks.json", rows }));
    const goals = all(root, "g").filter((g) => g.getAttribute("class") === "goal");
    expect(goals.map((g) => g.getAttribute("data-met"))).toEqual(["false", "true", ""]);
    expect(goals.map((g) => g.getAttribute("data-value"))).toEqual(["1.03", "25000", ""]);
    expect(root.toString()).toContain("25,000/s");
    expect(root.toString()).toContain("missed");
  });

  it("grows with its rows and headings", () => {
    const one = goalChart({ id: "g", title: "t", rows: rows.slice(0, 1) });
    const three = goalChart({ id: "g", title: "t", rows });
    const h = (s: string) => Number(/height="(\d+)"/.exec(s)?.[1]);
    expect(h(three)).toBeGreaterThan(h(one));
  });
});
