/**
 * Horizontal bar charts as standalone SVG text (for RESULTS.md: GitHub shows an SVG linked as an
 * image, without scripts or external fonts). One row per contender, one bar per series in the
 * row, each bar's length proportional to its value (the longest bar spans the plot), the value
 * written after the bar. Pure: no I/O.
 */

/** One row of a chart: a label and one value per series (undefined: not measured, drawn as "n/a"). */
export interface ChartRow {
  readonly label: string;
  readonly values: readonly (number | undefined)[];
}

/** What a chart shows. */
export interface BarChart {
  readonly title: string;
  /** A line under the title (what the values are, which way is better). */
  readonly subtitle?: string;
  /** The series' names, one per value of a row (a legend is drawn when there are two or more). */
  readonly series: readonly string[];
  /** Written after each value (`ms`, `ops/s`); default none. */
  readonly unit?: string;
  readonly rows: readonly ChartRow[];
}

/** The chart's geometry, px. */
export const LAYOUT = {
  width: 820,
  margin: 12,
  fontSize: 12,
  /** Width of a character of the label font, for the label column (an estimate: no font metrics here). */
  charWidth: 6.6,
  maxLabelChars: 60,
  barHeight: 14,
  barGap: 3,
  rowGap: 10,
  /** Room after the longest bar for its value. */
  valueRoom: 96,
  titleHeight: 22,
  subtitleHeight: 18,
  legendHeight: 20,
} as const;

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** A label as plain text: Markdown code and emphasis marks removed, cut to `max` characters with an ellipsis. */
export function plainLabel(label: string, max: number = LAYOUT.maxLabelChars): string {
  const plain = label.replaceAll('`', '').replaceAll('**', '').replace(/\s+/g, ' ').trim();
  return plain.length <= max ? plain : `${plain.slice(0, max - 1).trimEnd()}…`;
}

/** A value as the chart writes it: three significant digits below 100, thousands separators above. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const digits = abs >= 100 || abs === 0 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * The length of a bar of `value` when the largest value is `max` and the longest bar `span` px:
 * proportional, 0 for zero, negative or unknown values, and 0 for everything when `max` is 0.
 */
export function barLength(value: number | undefined, max: number, span: number): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0 || !(max > 0)) return 0;
  return (Math.min(value, max) / max) * span;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** The SVG text of a horizontal bar chart. */
export function barChartSvg(chart: BarChart): string {
  const L = LAYOUT;
  const series = Math.max(1, chart.series.length);
  const labels = chart.rows.map((row) => plainLabel(row.label));
  const labelWidth = Math.ceil(Math.max(40, ...labels.map((l) => l.length * L.charWidth)) + 10);
  const plotX = L.margin + labelWidth;
  const span = Math.max(50, L.width - plotX - L.valueRoom - L.margin);
  const max = Math.max(
    0,
    ...chart.rows.flatMap((row) => row.values.map((v) => (v !== undefined && Number.isFinite(v) ? v : 0))),
  );
  const unit = chart.unit ? ` ${chart.unit}` : '';

  const parts: string[] = [];
  let y = L.margin;
  parts.push(
    `<text x="${L.margin}" y="${y + 15}" font-size="15" font-weight="bold">${escapeXml(plainLabel(chart.title, 88))}</text>`,
  );
  y += L.titleHeight;
  if (chart.subtitle) {
    parts.push(
      `<text x="${L.margin}" y="${y + 12}" fill="#555">${escapeXml(plainLabel(chart.subtitle, 120))}</text>`,
    );
    y += L.subtitleHeight;
  }
  if (chart.series.length > 1) {
    let x = L.margin;
    chart.series.forEach((name, s) => {
      const text = plainLabel(name, 40);
      parts.push(
        `<rect x="${x}" y="${y + 3}" width="12" height="12" fill="${COLORS[s % COLORS.length]}"/>`,
        `<text x="${x + 16}" y="${y + 13}">${escapeXml(text)}</text>`,
      );
      x += 16 + text.length * L.charWidth + 18;
    });
    y += L.legendHeight;
  }
  y += 6;
  if (chart.rows.length === 0) {
    parts.push(`<text x="${L.margin}" y="${y + 12}" fill="#555">no data</text>`);
    y += 20;
  }
  chart.rows.forEach((row, i) => {
    const groupHeight = series * L.barHeight + (series - 1) * L.barGap;
    const full = plainLabel(row.label, 10_000);
    parts.push(
      `<g><title>${escapeXml(full)}</title>`,
      `<text x="${plotX - 8}" y="${r1(y + groupHeight / 2 + 4)}" text-anchor="end">${escapeXml(labels[i]!)}</text>`,
    );
    for (let s = 0; s < series; s++) {
      const value = row.values[s];
      const barY = y + s * (L.barHeight + L.barGap);
      const length = barLength(value, max, span);
      if (length > 0) {
        parts.push(
          `<rect x="${plotX}" y="${barY}" width="${r1(Math.max(length, 1))}" height="${L.barHeight}" fill="${COLORS[s % COLORS.length]}"/>`,
        );
      }
      const text = value === undefined || !Number.isFinite(value) ? 'n/a' : `${formatValue(value)}${unit}`;
      parts.push(
        `<text x="${r1(plotX + length + 5)}" y="${barY + L.barHeight - 3}">${escapeXml(text)}</text>`,
      );
    }
    parts.push('</g>');
    y += groupHeight + L.rowGap;
  });
  // The axis: where every bar starts.
  const plotTop =
    L.margin +
    L.titleHeight +
    (chart.subtitle ? L.subtitleHeight : 0) +
    (chart.series.length > 1 ? L.legendHeight : 0);
  parts.push(
    `<line x1="${plotX}" y1="${plotTop + 2}" x2="${plotX}" y2="${y - L.rowGap + 4}" stroke="#999"/>`,
  );
  const height = Math.ceil(y + L.margin);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${height}" viewBox="0 0 ${L.width} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="${L.fontSize}" role="img">`,
    // The accessible name (screen readers, and the tooltip of the whole chart).
    `<title>${escapeXml(chart.subtitle ? `${chart.title}: ${chart.subtitle}` : chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
