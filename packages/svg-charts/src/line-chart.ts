import { formatNumber, makeScale, type Tick } from "./scale.js";
import { escapeXml, PALETTE, px, svgOpen, textWidth } from "./svg.js";

export interface LineSeries {
  /** Legend text. */
  readonly name: string;
  /** Stable key for the `data-series` attribute (defaults to the name). */
  readonly key?: string;
  /** x of each point; a missing x array means 1, 2, 3, … */
  readonly x?: readonly number[];
  /** y of each point; null/undefined/NaN leaves a gap in the line. */
  readonly y: readonly (number | null | undefined)[];
  readonly color: string;
  readonly dashed?: boolean;
  readonly width?: number;
  /** Draw a dot on every point (for sparse series). */
  readonly markers?: boolean;
  /** Draw as steps (the value holds until the next x), as per-second counts are. */
  readonly step?: boolean;
  /** false: markers only, no line between them (implies markers). */
  readonly line?: boolean;
  /** Marker shape: a dot (default) or a cross (for limits and goals, so they do not read as data). */
  readonly marker?: "dot" | "cross";
}

export interface AxisOptions {
  readonly label?: string;
  readonly log?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly ticks?: readonly Tick[];
  readonly format?: (value: number) => string;
}

export interface ReferenceLine {
  /** A horizontal line at this y. */
  readonly y: number;
  readonly label: string;
  readonly color?: string;
}

export interface LineChartOptions {
  /** `data-chart` attribute: what tests and pages find the chart by. */
  readonly id: string;
  readonly title: string;
  readonly width?: number;
  readonly height?: number;
  readonly x: AxisOptions;
  readonly y: AxisOptions;
  readonly series: readonly LineSeries[];
  readonly references?: readonly ReferenceLine[];
  /** Printed in the plot area when no series has a point. */
  readonly emptyText?: string;
}

const MARGIN = { top: 34, right: 24, bottom: 46, left: 70 };
const LEGEND_ROW = 18;

/**
 * A line chart as one `<svg>` element. Every series is one `<path>` carrying its values in `data-values` (gaps as
 * empty entries) and its point count in `data-points`, so a test can check the drawing against the data.
 */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 960;
  const height = o.height ?? 320;
  const legendItems = layoutLegend(o.series, MARGIN.left, width - MARGIN.right);
  const legendRows = legendItems.reduce((n, item) => Math.max(n, item.row + 1), 0);
  const top = MARGIN.top + legendRows * LEGEND_ROW + 8;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: height - MARGIN.bottom, y1: top };
  const points = o.series.map((s) =>
    s.y.map((y, i) => ({ x: s.x ? s.x[i] : i + 1, y })).filter((p) => isNumber(p.x) && isNumber(p.y)),
  ) as { x: number; y: number }[][];
  const xs = points.flat().map((p) => p.x);
  const ys = [...points.flat().map((p) => p.y), ...(o.references ?? []).map((r) => r.y)];
  const xScale = makeScale({ ...axisScale(o.x), values: xs, from: plot.x0, to: plot.x1, tickCount: 8 });
  const yScale = makeScale({ ...axisScale(o.y), values: ys, from: plot.y0, to: plot.y1, tickCount: 5 });
  const out: string[] = [svgOpen(o.id, width, height, o.title)];
  out.push(
    `<text x="${MARGIN.left}" y="20" font-size="15" font-weight="600" fill="${PALETTE.ink}">${escapeXml(o.title)}</text>`,
  );
  out.push(legend(legendItems, MARGIN.top + 10));
  // grid and axes
  out.push(`<g class="grid" stroke="#e5e7eb" stroke-width="1">`);
  for (const t of yScale.ticks)
    out.push(`<line x1="${plot.x0}" x2="${plot.x1}" y1="${px(yScale(t.value))}" y2="${px(yScale(t.value))}"/>`);
  for (const t of xScale.ticks)
    out.push(`<line x1="${px(xScale(t.value))}" x2="${px(xScale(t.value))}" y1="${plot.y1}" y2="${plot.y0}"/>`);
  out.push("</g>");
  out.push(
    `<path d="M${plot.x0} ${plot.y1}V${plot.y0}H${plot.x1}" fill="none" stroke="#9ca3af" stroke-width="1"/>`,
    `<g class="y-ticks" font-size="11" fill="#4b5563" text-anchor="end">`,
    ...yScale.ticks.map((t) => `<text x="${plot.x0 - 6}" y="${px(yScale(t.value) + 4)}">${escapeXml(t.label)}</text>`),
    "</g>",
    `<g class="x-ticks" font-size="11" fill="#4b5563" text-anchor="middle">`,
    ...xScale.ticks.map((t) => `<text x="${px(xScale(t.value))}" y="${plot.y0 + 16}">${escapeXml(t.label)}</text>`),
    "</g>",
  );
  if (o.x.label) {
    out.push(
      `<text x="${px((plot.x0 + plot.x1) / 2)}" y="${height - 8}" font-size="12" fill="#374151" text-anchor="middle">${escapeXml(o.x.label)}</text>`,
    );
  }
  if (o.y.label) {
    const cy = (plot.y0 + plot.y1) / 2;
    out.push(
      `<text x="14" y="${px(cy)}" font-size="12" fill="#374151" text-anchor="middle" transform="rotate(-90 14 ${px(cy)})">${escapeXml(o.y.label)}</text>`,
    );
  }
  out.push(
    `<clipPath id="${escapeXml(o.id)}-plot"><rect x="${plot.x0}" y="${plot.y1 - 4}" width="${plot.x1 - plot.x0 + 4}" height="${plot.y0 - plot.y1 + 4}"/></clipPath>`,
  );
  for (const r of o.references ?? []) {
    const y = px(yScale(r.y));
    const color = r.color ?? PALETTE.grey;
    out.push(
      `<g class="reference" data-y="${r.y}"><line x1="${plot.x0}" x2="${plot.x1}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>` +
        `<text x="${plot.x1 - 4}" y="${px(yScale(r.y) - 5)}" font-size="11" fill="${color}" text-anchor="end" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(r.label)}</text></g>`,
    );
  }
  o.series.forEach((s, i) => {
    const pts = points[i] ?? [];
    const d = pathData(s, xScale, yScale);
    const values = s.y.map((v) => (isNumber(v) ? String(v) : "")).join(",");
    const attrs =
      `class="series" data-series="${escapeXml(s.key ?? s.name)}" data-name="${escapeXml(s.name)}" ` +
      `data-points="${pts.length}" data-values="${values}"`;
    out.push(
      `<path ${attrs} d="${d}" fill="none" stroke="${s.line === false ? "none" : s.color}" stroke-width="${s.width ?? 2}" stroke-linejoin="round" stroke-linecap="round"${s.dashed ? ' stroke-dasharray="7 5"' : ""} clip-path="url(#${escapeXml(o.id)}-plot)"><title>${escapeXml(s.name)}</title></path>`,
    );
    if (s.markers || s.line === false || pts.length === 1) {
      out.push(`<g class="markers" fill="${s.color}" stroke="${s.color}">`);
      for (const p of pts) {
        const title = `<title>${escapeXml(`${s.name}: ${formatNumber(p.y)}`)}</title>`;
        out.push(markerAt(s.marker, xScale(p.x), yScale(p.y), title));
      }
      out.push("</g>");
    }
  });
  if (points.every((p) => p.length === 0)) {
    out.push(
      `<text x="${px((plot.x0 + plot.x1) / 2)}" y="${px((plot.y0 + plot.y1) / 2)}" font-size="13" fill="#9ca3af" text-anchor="middle">${escapeXml(o.emptyText ?? "no data")}</text>`,
    );
  }
  out.push("</svg>");
  return out.join("");
}

function axisScale(a: AxisOptions) {
  return {
    ...(a.log ? { log: true } : {}),
    ...(a.min !== undefined ? { min: a.min } : {}),
    ...(a.max !== undefined ? { max: a.max } : {}),
    ...(a.ticks ? { ticks: a.ticks } : {}),
    ...(a.format ? { format: a.format } : {}),
  };
}

function isNumber(v: number | null | undefined): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** Path data: a move at every gap, steps or straight segments in between. */
function pathData(s: LineSeries, x: (v: number) => number, y: (v: number) => number): string {
  const parts: string[] = [];
  let open = false;
  let lastY = 0;
  s.y.forEach((value, i) => {
    const xv = s.x ? s.x[i] : i + 1;
    if (!isNumber(value) || !isNumber(xv)) {
      open = false;
      return;
    }
    const X = px(x(xv));
    const Y = px(y(value));
    if (!open) parts.push(`M${X} ${Y}`);
    else if (s.step) parts.push(`V${px(lastY)}H${X}V${Y}`);
    else parts.push(`L${X} ${Y}`);
    lastY = y(value);
    open = true;
  });
  return parts.join("");
}

interface LegendItem {
  readonly series: LineSeries;
  readonly x: number;
  readonly row: number;
}

/** Legend entries left to right, wrapping onto further rows when the chart is too narrow. */
function layoutLegend(series: readonly LineSeries[], x0: number, xMax: number): LegendItem[] {
  const items: LegendItem[] = [];
  let x = x0;
  let row = 0;
  for (const s of series) {
    const w = 28 + textWidth(s.name, 12) + 18;
    if (x + w > xMax && x > x0) {
      x = x0;
      row += 1;
    }
    items.push({ series: s, x, row });
    x += w;
  }
  return items;
}

function legend(items: readonly LegendItem[], y0: number): string {
  const out: string[] = ['<g class="legend" font-size="12" fill="#374151">'];
  for (const { series: s, x, row } of items) {
    const y = y0 + row * LEGEND_ROW;
    out.push(
      s.line === false
        ? `<g fill="${s.color}" stroke="${s.color}">${markerAt(s.marker, x + 11, y - 4, "")}</g>`
        : `<line x1="${px(x)}" x2="${px(x + 22)}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="${Math.max(2, s.width ?? 2)}"${s.dashed ? ' stroke-dasharray="5 3"' : ""}/>`,
      `<text x="${px(x + 28)}" y="${y}">${escapeXml(s.name)}</text>`,
    );
  }
  out.push("</g>");
  return out.join("");
}

function markerAt(shape: "dot" | "cross" | undefined, x: number, y: number, title: string): string {
  if (shape === "cross") {
    const d = `M${px(x - 5)} ${px(y - 5)}L${px(x + 5)} ${px(y + 5)}M${px(x - 5)} ${px(y + 5)}L${px(x + 5)} ${px(y - 5)}`;
    return `<path class="marker" d="${d}" fill="none" stroke-width="2.5">${title}</path>`;
  }
  return `<circle class="marker" cx="${px(x)}" cy="${px(y)}" r="3.5" stroke="none">${title}</circle>`;
}
