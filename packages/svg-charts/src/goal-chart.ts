import { formatNumber } from "./scale.js";
import { escapeXml, PALETTE, px, svgOpen } from "./svg.js";

export interface GoalRow {
  readonly label: string;
  /** Rows with the same group are drawn under one heading, in the order given. */
  readonly group?: string;
  /** The measured value (null: not measured in this run). */
  readonly value: number | null;
  readonly goal: number;
  /** Whether the value must stay at or below the goal (latency, a cost ratio) or reach at least it (throughput). */
  readonly better: "lower" | "higher";
  /** Appended to printed numbers, e.g. " ms". */
  readonly unit?: string;
}

export interface GoalChartOptions {
  readonly id: string;
  readonly title: string;
  readonly subtitle?: string;
  readonly width?: number;
  readonly rows: readonly GoalRow[];
}

/** Whether a row meets its goal (undefined when not measured). */
export function goalMet(row: GoalRow): boolean | undefined {
  if (row.value === null || !Number.isFinite(row.value)) return undefined;
  return row.better === "lower" ? row.value <= row.goal : row.value >= row.goal;
}

const ROW = 30;
const HEADING = 26;

/**
 * One bar per goal, each on its own scale (0 to 1.25 × the larger of value and goal), with the goal as a black tick:
 * green when met, red when missed, so a reader sees at a glance which figures met their goal. Each bar carries
 * `data-value`, `data-goal` and `data-met`.
 */
export function goalChart(o: GoalChartOptions): string {
  const width = o.width ?? 960;
  const labelW = Math.round(width * 0.34);
  const textW = 310;
  const barX0 = labelW + 10;
  const barX1 = width - textW - 10;
  const headings = new Set(o.rows.map((r) => r.group ?? "")).size - (o.rows.some((r) => !r.group) ? 1 : 0);
  const top = o.subtitle ? 56 : 40;
  const height = top + o.rows.length * ROW + headings * HEADING + 14;
  const out: string[] = [svgOpen(o.id, width, height, o.title)];
  out.push(`<text x="12" y="22" font-size="15" font-weight="600" fill="${PALETTE.ink}">${escapeXml(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="12" y="42" font-size="12" fill="#4b5563">${escapeXml(o.subtitle)}</text>`);
  let y = top;
  let group: string | undefined;
  for (const row of o.rows) {
    if (row.group && row.group !== group) {
      group = row.group;
      out.push(
        `<text x="12" y="${y + 18}" font-size="12.5" font-weight="600" fill="#374151">${escapeXml(row.group)}</text>`,
        `<line x1="12" x2="${width - 12}" y1="${y + 23}" y2="${y + 23}" stroke="#e5e7eb"/>`,
      );
      y += HEADING;
    }
    const met = goalMet(row);
    const unit = row.unit ?? "";
    const cy = y + ROW / 2;
    const top = Math.max(row.value ?? 0, row.goal) * 1.25 || 1;
    const x = (v: number) => barX0 + (Math.max(0, Math.min(v, top)) / top) * (barX1 - barX0);
    const color = met === undefined ? "#d1d5db" : met ? PALETTE.green : PALETTE.red;
    const verdict = met === undefined ? "not measured" : met ? "met" : "missed";
    const relation = row.better === "lower" ? "≤" : "≥";
    out.push(
      `<g class="goal" data-label="${escapeXml(row.label)}" data-value="${row.value ?? ""}" data-goal="${row.goal}" data-met="${met ?? ""}">`,
      `<text x="${labelW}" y="${px(cy + 4)}" font-size="12" fill="#1f2937" text-anchor="end">${escapeXml(row.label)}</text>`,
      `<rect x="${barX0}" y="${px(cy - 8)}" width="${px(barX1 - barX0)}" height="16" fill="#f3f4f6"/>`,
    );
    if (row.value !== null) {
      out.push(
        `<rect x="${barX0}" y="${px(cy - 8)}" width="${px(x(row.value) - barX0)}" height="16" fill="${color}"><title>${escapeXml(`${row.label}: ${formatNumber(row.value)}${unit}`)}</title></rect>`,
      );
    }
    out.push(
      `<line x1="${px(x(row.goal))}" x2="${px(x(row.goal))}" y1="${px(cy - 12)}" y2="${px(cy + 12)}" stroke="#111827" stroke-width="2.5"><title>${escapeXml(`goal ${relation} ${formatNumber(row.goal)}${unit}`)}</title></line>`,
      `<text x="${barX1 + 10}" y="${px(cy + 4)}" font-size="12" fill="${met === false ? PALETTE.red : "#1f2937"}"><tspan font-weight="600">${escapeXml(row.value === null ? "—" : `${formatNumber(row.value)}${unit}`)}</tspan> ${escapeXml(`(goal ${relation} ${formatNumber(row.goal)}${unit}) ${verdict}`)}</text>`,
      "</g>",
    );
    y += ROW;
  }
  out.push("</svg>");
  return out.join("");
}
