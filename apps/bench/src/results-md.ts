/**
 * RESULTS.md and its charts: the machine, then every figure (a section of a benchmark) as its table
 * with ratios, its notes and a bar chart (`results/<figure>.svg`) drawn from numeric columns of the
 * table. `renderResultsFile` is pure (tested without running a benchmark); `writeResultsFile`
 * writes the files, and the sections as `results/results.json` so the page can be rendered again
 * (`pnpm start -- --render`) without measuring.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineInfo } from './measure.js';
import { type Cell, markdownTable, type Section } from './report.js';
import { type BarChart, barChartSvg } from './svg-chart.js';

/** A cell that is one number, maybe followed by a unit, a ratio sign, or ` / <another figure>`. */
const NUMERIC = /^\s*(-?[\d,]*\.?\d+)\s*(?:×|%|ms|µs|ns|s|GiB)?\s*(?:\/.*)?$/;

/** The leading number of a numeric cell (`"1,234.5"`, `"1.63×"`, `"63.40%"`, `"0.34 / 1.15"`), else undefined. */
export function parseNumber(cell: Cell | undefined): number | undefined {
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : undefined;
  if (cell === undefined) return undefined;
  const match = NUMERIC.exec(cell);
  if (match === null) return undefined;
  const value = Number(match[1]!.replaceAll(',', ''));
  return Number.isFinite(value) ? value : undefined;
}

/** The first column after the first whose non-empty cells are mostly numbers (undefined: none). */
export function firstNumericColumn(section: Section): number | undefined {
  for (let c = 1; c < section.headers.length; c++) {
    const cells = section.rows.map((row) => row[c]).filter((cell) => cell !== undefined && cell !== '');
    const numeric = cells.filter((cell) => parseNumber(cell) !== undefined).length;
    if (cells.length > 0 && numeric * 2 >= cells.length) return c;
  }
  return undefined;
}

/** A file name for a section: its `id`, or its title in lower-case words joined by dashes. */
export function figureId(section: Section): string {
  const source = section.id ?? section.title;
  const slug = source
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return slug.length > 0 ? slug : 'figure';
}

/** The chart of a section, or undefined when it has none (no rows, no numeric column, or `chart: false`). */
export function chartOf(section: Section): BarChart | undefined {
  if (section.chart === false || section.rows.length === 0) return undefined;
  const spec = section.chart ?? {};
  const first = firstNumericColumn(section);
  const columns = spec.columns ?? (first === undefined ? [] : [first]);
  if (columns.length === 0) return undefined;
  const firstCharted = Math.min(...columns);
  const rows = section.rows.map((row) => {
    // The row's label: the text cells before the charted values (a row can be named by two columns).
    const names = row
      .slice(0, firstCharted)
      .filter((cell, i) => i === 0 || parseNumber(cell) === undefined)
      .map(String)
      .filter((cell) => cell.length > 0);
    return { label: names.join(' · '), values: columns.map((c) => parseNumber(row[c])) };
  });
  const series = spec.labels ?? columns.map((c) => section.headers[c] ?? `column ${c}`);
  const measured = series.length === 1 ? series[0]! : series.join(', ');
  const better = spec.better === undefined ? '' : `; ${spec.better} is better`;
  return {
    title: section.title,
    subtitle: `${measured}${spec.unit && series.length === 1 ? ` (${spec.unit})` : ''}${better}`,
    series,
    ...(spec.unit === undefined ? {} : { unit: spec.unit }),
    rows,
  };
}

/** A figure of RESULTS.md: a section, its file name, and its chart's SVG when it has a chart. */
export interface Figure {
  readonly id: string;
  readonly section: Section;
  readonly svg: string | undefined;
}

/** The figures of sections, with file names made unique (`-2`, `-3` after a repeated one). */
export function figuresOf(sections: readonly Section[]): Figure[] {
  const used = new Map<string, number>();
  return sections.map((section) => {
    const base = figureId(section);
    const seen = used.get(base) ?? 0;
    used.set(base, seen + 1);
    const chart = chartOf(section);
    return { id: seen === 0 ? base : `${base}-${seen + 1}`, section, svg: chart && barChartSvg(chart) };
  });
}

/** Where the charts go, relative to RESULTS.md. */
export const CHART_DIR = 'results';

/** What a run of every benchmark leaves: enough to render RESULTS.md again. */
export interface ResultsData {
  readonly machine: MachineInfo;
  /** ISO date and time of the run. */
  readonly date: string;
  readonly elapsedMs: number;
  readonly sections: readonly Section[];
}

/** RESULTS.md's text and the chart files (paths relative to the page's directory). */
export function renderResultsFile(data: ResultsData): {
  markdown: string;
  charts: { path: string; svg: string }[];
} {
  const { machine } = data;
  const figures = figuresOf(data.sections);
  const lines: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`pnpm bench\` (every benchmark, one after the other, each in fresh processes); do not edit by hand. ` +
      'What each benchmark measures and how to read it: [README.md](README.md).',
    '',
    markdownTable(
      ['machine', ''],
      [
        ['CPU', machine.cpu],
        ['cores', String(machine.cores)],
        ['memory', `${machine.memoryGiB} GiB`],
        ['Node', `${machine.node} (V8 ${machine.v8})`],
        ['platform', machine.platform],
        ['date', data.date.slice(0, 10)],
        ['load average at the start', machine.load.toFixed(1)],
        ['duration of the run', `${Math.round(data.elapsedMs / 1000)} s`],
        ['GC between contenders', machine.gc ? 'yes (`--expose-gc`)' : 'no'],
      ],
      ['l', 'l'],
    ),
    '',
    '## Figures',
    '',
    ...figures.map((f) => `- [${f.section.title}](#${anchorOf(f.section.title)})`),
  ];
  const charts: { path: string; svg: string }[] = [];
  for (const figure of figures) {
    const { section } = figure;
    lines.push('', `## ${section.title}`, '', section.what, '');
    if (figure.svg !== undefined) {
      const path = `${CHART_DIR}/${figure.id}.svg`;
      charts.push({ path, svg: figure.svg });
      lines.push(`![${escapeAlt(section.title)}](${path})`, '');
    }
    lines.push(markdownTable(section.headers, section.rows, section.align));
    if (section.notes.length > 0) lines.push('', ...section.notes.map((note) => `- ${note}`));
  }
  return { markdown: `${lines.join('\n')}\n`, charts };
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
export function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function escapeAlt(text: string): string {
  return text.replaceAll('[', '(').replaceAll(']', ')').replaceAll('`', '');
}

/**
 * Writes RESULTS.md into `dir`, its charts into `dir/results/` (removing charts of figures that are
 * gone) and the data as `dir/results/results.json`.
 */
export async function writeResultsFile(dir: string, data: ResultsData): Promise<string> {
  const { markdown, charts } = renderResultsFile(data);
  const chartDir = join(dir, CHART_DIR);
  await mkdir(chartDir, { recursive: true });
  const keep = new Set(charts.map((c) => c.path.slice(CHART_DIR.length + 1)));
  for (const name of await readdir(chartDir)) {
    if (name.endsWith('.svg') && !keep.has(name)) await rm(join(chartDir, name));
  }
  for (const chart of charts) await writeFile(join(dir, chart.path), chart.svg);
  await writeFile(join(chartDir, 'results.json'), `${JSON.stringify(data, null, 1)}\n`);
  const path = join(dir, 'RESULTS.md');
  await writeFile(path, markdown);
  return path;
}

/** The data of the last full run (`results/results.json`). */
export async function readResultsData(dir: string): Promise<ResultsData> {
  return JSON.parse(await readFile(join(dir, CHART_DIR, 'results.json'), 'utf8')) as ResultsData;
}
