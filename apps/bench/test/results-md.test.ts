import { describe, expect, it } from 'vitest';
import type { MachineInfo } from '../src/measure.js';
import type { Section } from '../src/report.js';
import {
  anchorOf,
  chartOf,
  figuresOf,
  firstNumericColumn,
  parseNumber,
  type ResultsData,
  renderResultsFile,
} from '../src/results-md.js';

const machine: MachineInfo = {
  node: 'v20.20.2',
  v8: '11.3',
  cpu: 'AMD EPYC',
  cores: 2,
  memoryGiB: 24,
  platform: 'linux-x64',
  gc: true,
  load: 1.5,
};

const hits: Section = {
  title: 'L1 hit throughput (Zipf 0.99, every get a hit)',
  what: 'Nanoseconds per get.',
  headers: ['contender', 'call', 'ns/get (mean)', '× Map', 'notes'],
  rows: [
    ['`Map.get` (sync floor)', 'sync', '44.6', '1.00×', ''],
    ['writethrough `await cache.get`', 'async', '1,246.1', '27.9×', 'a | pipe'],
  ],
  notes: ['Target: **met**.'],
};

const data = (sections: Section[]): ResultsData => ({
  machine,
  date: '2026-11-26T16:00:00.000Z',
  elapsedMs: 296_000,
  sections,
});

describe('parseNumber', () => {
  it('reads the leading number of figures as the tables write them', () => {
    expect(parseNumber('1,234.5')).toBe(1234.5);
    expect(parseNumber('1.63×')).toBe(1.63);
    expect(parseNumber('63.40%')).toBe(63.4);
    expect(parseNumber('0.34 / 1.15')).toBe(0.34);
    expect(parseNumber(42)).toBe(42);
    expect(parseNumber('0')).toBe(0);
  });

  it('refuses text that merely contains digits', () => {
    expect(parseNumber('the 10k hottest keys, fixed')).toBeUndefined();
    expect(parseNumber('latency 1 ms, pool of 10')).toBeUndefined();
    expect(parseNumber('n/a')).toBeUndefined();
    expect(parseNumber('')).toBeUndefined();
    expect(parseNumber(undefined)).toBeUndefined();
  });
});

describe('charts of sections', () => {
  it('charts the first numeric column by default, rows named by their text cells', () => {
    expect(firstNumericColumn(hits)).toBe(2);
    const chart = chartOf(hits)!;
    expect(chart.series).toEqual(['ns/get (mean)']);
    expect(chart.rows).toEqual([
      { label: '`Map.get` (sync floor) · sync', values: [44.6] },
      { label: 'writethrough `await cache.get` · async', values: [1246.1] },
    ]);
  });

  it('charts the columns a section names, with its series names, unit and direction', () => {
    const chart = chartOf({
      ...hits,
      chart: { columns: [2, 3], labels: ['mean', 'ratio'], unit: 'ns', better: 'lower' },
    })!;
    expect(chart.series).toEqual(['mean', 'ratio']);
    expect(chart.unit).toBe('ns');
    expect(chart.subtitle).toBe('mean, ratio; lower is better');
    expect(chart.rows[1]!.values).toEqual([1246.1, 27.9]);
  });

  it('has no chart for a section without rows, without numbers, or with chart: false', () => {
    expect(chartOf({ ...hits, rows: [] })).toBeUndefined();
    expect(chartOf({ ...hits, chart: false })).toBeUndefined();
    expect(chartOf({ ...hits, headers: ['a', 'b'], rows: [['x', 'text only']] })).toBeUndefined();
  });

  it('gives every figure a distinct file name', () => {
    const figures = figuresOf([hits, hits, { ...hits, id: 'article' }]);
    expect(figures.map((f) => f.id)).toEqual([
      'l1-hit-throughput-zipf-0-99-every-get-a-hit',
      'l1-hit-throughput-zipf-0-99-every-get-a-hit-2',
      'article',
    ]);
  });
});

describe('renderResultsFile', () => {
  it('writes the machine, and each figure as its chart, its table with ratios and its notes', () => {
    const { markdown, charts } = renderResultsFile(
      data([hits, { ...hits, id: 'article', title: 'The article’s table' }]),
    );
    expect(markdown).toContain('| CPU | AMD EPYC |');
    expect(markdown).toContain('| cores | 2 |');
    expect(markdown).toContain('| Node | v20.20.2 (V8 11.3) |');
    expect(markdown).toContain('| date | 2026-11-26 |');
    expect(markdown).toContain('| duration of the run | 296 s |');
    expect(markdown).toContain(`## ${hits.title}`);
    expect(markdown).toContain(
      '![L1 hit throughput (Zipf 0.99, every get a hit)](results/l1-hit-throughput-zipf-0-99-every-get-a-hit.svg)',
    );
    expect(markdown).toContain('![The article’s table](results/article.svg)');
    expect(markdown).toContain('| writethrough `await cache.get` | async | 1,246.1 | 27.9× | a \\| pipe |');
    expect(markdown).toContain('- Target: **met**.');
    expect(charts.map((c) => c.path)).toEqual([
      'results/l1-hit-throughput-zipf-0-99-every-get-a-hit.svg',
      'results/article.svg',
    ]);
    expect(charts[0]!.svg).toContain('<svg');
  });

  it('links every figure from the list at the top by its heading anchor', () => {
    const { markdown } = renderResultsFile(data([hits]));
    expect(markdown).toContain(`- [${hits.title}](#l1-hit-throughput-zipf-099-every-get-a-hit)`);
    expect(anchorOf('Write path (b): 64 concurrent writers, batched vs unbatched')).toBe(
      'write-path-b-64-concurrent-writers-batched-vs-unbatched',
    );
  });

  it('writes a figure that was not measured without a chart', () => {
    const { markdown, charts } = renderResultsFile(
      data([
        {
          title: 'Postgres write-through',
          what: 'Not measured.',
          headers: ['contender'],
          rows: [],
          notes: ['no Postgres'],
        },
      ]),
    );
    expect(charts).toHaveLength(0);
    expect(markdown).toContain('Not measured.');
    expect(markdown).not.toContain('![');
  });
});
