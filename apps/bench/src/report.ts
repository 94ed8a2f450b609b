/**
 * Results as Markdown: one section per benchmark (a table and notes), a header with the machine,
 * and the rewrite of the README's generated block between the result markers.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { MachineInfo } from './measure.js';

export const START_MARKER = '<!-- results:start -->';
export const END_MARKER = '<!-- results:end -->';

export type Cell = string | number;

/** What the chart of a section draws (RESULTS.md): bars of some numeric columns of its table. */
export interface ChartSpec {
  /** The columns drawn, one bar per row and column (default: the first column whose cells hold numbers). */
  readonly columns?: readonly number[];
  /** The series' names in the legend (default: the columns' headers). */
  readonly labels?: readonly string[];
  /** The unit of the values, after each value (default: none). */
  readonly unit?: string;
  /** Which way is better, said under the title (default: not said). */
  readonly better?: 'lower' | 'higher';
}

/** A benchmark's result: a titled table, plus the sentences that say how it compares with its target. */
export interface Section {
  /** A short name for files (the chart `results/<id>.svg`); default: derived from the title. */
  readonly id?: string;
  readonly title: string;
  /** One or two sentences: what was measured. */
  readonly what: string;
  readonly headers: readonly string[];
  /** Alignment per column: 'l' or 'r' (default: first column left, others right). */
  readonly align?: readonly ('l' | 'r')[];
  readonly rows: readonly (readonly Cell[])[];
  /** Verdicts against targets and remarks (rendered as a list). */
  readonly notes: readonly string[];
  /** What RESULTS.md charts (default: the first numeric column); `false` for no chart. */
  readonly chart?: ChartSpec | false;
}

/** A number with thousands separators and `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio such as `1.23×` (three significant digits for small ratios). */
export function ratio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 100) return `${num(value, 0)}×`;
  if (value >= 10) return `${num(value, 1)}×`;
  return `${num(value, 2)}×`;
}

/** A fraction in [0, 1] as a percentage with two decimals. */
export function percent(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${(value * 100).toFixed(2)}%`;
}

function escapeCell(cell: Cell): string {
  return String(cell).replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A GitHub-flavoured Markdown table. */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  align?: readonly ('l' | 'r')[],
): string {
  const lines = [`| ${headers.map(escapeCell).join(' | ')} |`];
  lines.push(
    `| ${headers
      .map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : '---'))
      .join(' | ')} |`,
  );
  for (const row of rows) lines.push(`| ${row.map(escapeCell).join(' | ')} |`);
  return lines.join('\n');
}

export function renderSection(section: Section): string {
  const parts = [`### ${section.title}`, '', section.what, ''];
  parts.push(markdownTable(section.headers, section.rows, section.align));
  if (section.notes.length > 0) {
    parts.push('');
    for (const note of section.notes) parts.push(`- ${note}`);
  }
  return parts.join('\n');
}

export function renderHeader(machine: MachineInfo, date: Date, elapsedMs: number): string {
  const gc = machine.gc
    ? 'GC run before each contender (`--expose-gc`)'
    : 'no explicit GC (`--expose-gc` missing)';
  return [
    `Measured ${date.toISOString().slice(0, 10)} on ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB} GiB), ` +
      `Node ${machine.node} (V8 ${machine.v8}), ${machine.platform}; ${gc}; each benchmark in a fresh process (each hit-benchmark contender in processes of its own), ` +
      `${(elapsedMs / 1000).toFixed(0)} s in all; load average ${machine.load.toFixed(1)} at the start. ` +
      'The same figures with a chart each: [RESULTS.md](RESULTS.md).',
  ].join('\n');
}

/** The whole generated block (without the markers). */
export function renderResults(
  machine: MachineInfo,
  sections: readonly Section[],
  date: Date,
  elapsedMs: number,
) {
  return [renderHeader(machine, date, elapsedMs), ...sections.map(renderSection)].join('\n\n');
}

/** Replaces what is between the markers of `path` with `body`; throws when the markers are missing. */
export async function rewriteBetweenMarkers(path: string, body: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (start < 0 || end < start) {
    throw new Error(`${path} has no ${START_MARKER} … ${END_MARKER} block to rewrite`);
  }
  const next = `${text.slice(0, start + START_MARKER.length)}\n\n${body}\n\n${text.slice(end)}`;
  await writeFile(path, next);
}
