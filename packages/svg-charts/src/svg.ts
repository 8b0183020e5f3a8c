/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** Pixel coordinates with two decimals at most (enough for any screen, keeps files small and stable). */
export function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/** A colour-blind-safe palette (Okabe–Ito, with black replaced by a dark grey). */
export const PALETTE = {
  blue: "#0072b2",
  orange: "#e69f00",
  green: "#009e73",
  red: "#d55e00",
  purple: "#cc79a7",
  sky: "#56b4e9",
  yellow: "#f0e442",
  grey: "#6b7280",
  ink: "#1f2937",
} as const;

/** The opening tag of a chart: an SVG that scales to its container's width and also stands alone as a file. */
export function svgOpen(id: string, width: number, height: number, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `role="img" aria-label="${escapeXml(title)}" data-chart="${escapeXml(id)}" font-family="${escapeXml(FONT)}" ` +
    `style="max-width:100%;height:auto">` +
    `<title>${escapeXml(title)}</title><rect width="${width}" height="${height}" fill="#ffffff"/>`
  );
}

/** Rough text width for layout (no font metrics without a browser): average glyph ≈ 0.56 em. */
export function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.56;
}
