import { parseHistory } from '@writethrough/chaos/history';
import { describe, expect, it } from 'vitest';
import { articleSection, latencies, type PatternResult } from '../src/article.js';
import { chartOf } from '../src/results-md.js';

const result = (
  pattern: PatternResult['pattern'],
  writeP50: number,
  readP50: number,
  extra: Partial<PatternResult> = {},
): PatternResult => ({
  pattern,
  ops: 10_000,
  elapsedMs: 2_000,
  write: { p50: writeP50, p99: writeP50 * 4, count: 1_000 },
  read: { p50: readP50, p99: readP50 * 4, count: 9_000 },
  l1Reads: 0,
  k1Reads: 9_000,
  staleReads: 0,
  otherViolations: 0,
  killAcked: 500,
  lost: 0,
  killed: 'SIGKILL; 3 writes in flight (info)',
  notes: '',
  ...extra,
});

describe('articleSection', () => {
  const section = articleSection(
    [
      result('write-through', 2, 0.04, { l1Reads: 8_000 }),
      result('write-back', 0.5, 0.4, { lost: 120 }),
      result('cache-aside', 1.8, 0.5, { staleReads: 9 }),
      result('no-cache', 1.6, 0.8),
    ],
    60_000,
  );

  it('divides p50 latencies by the no-cache ones', () => {
    const ours = section.rows[0]!;
    expect(ours[1]).toBe('2.00 / 8.00');
    expect(ours[2]).toBe('1.25×');
    expect(ours[4]).toBe('0.05×');
    expect(section.rows[3]![2]).toBe('1.00×');
  });

  it('counts stale reads over the reads K1 checks (ours: not the L1 reads) and lost writes over acknowledged ones', () => {
    expect(section.rows[0]![6]).toBe('0 of 1,000 (0.00%)');
    expect(section.rows[2]![6]).toBe('9 of 9,000 (0.10%)');
    expect(section.rows[1]![7]).toBe('120 of 500');
  });

  it('charts write and read p50 per pattern', () => {
    const chart = chartOf(section)!;
    expect(chart.series).toEqual(['write p50', 'read p50']);
    expect(chart.rows[1]!.values).toEqual([0.5, 0.4]);
  });
});

describe('latencies', () => {
  it('takes p50 and p99 of ok operations in ms, leaving out the seed writes', () => {
    const lines = [
      {
        ev: 'invoke',
        id: 'seed.k',
        instance: 99,
        incarnation: 0,
        client: 0,
        key: 'k',
        type: 'write',
        kind: 'set',
        invoke: 0,
      },
      { ev: 'complete', id: 'seed.k', complete: 50e6, outcome: 'ok', version: 1 },
      ...[1, 2, 3, 4].flatMap((ms, i) => [
        {
          ev: 'invoke',
          id: `w${i}`,
          instance: 0,
          incarnation: 0,
          client: 0,
          key: 'k',
          type: 'write',
          kind: 'set',
          invoke: 100e6,
        },
        {
          ev: 'complete',
          id: `w${i}`,
          complete: 100e6 + ms * 1e6,
          outcome: i === 3 ? 'info' : 'ok',
          version: i + 2,
        },
      ]),
    ];
    const history = parseHistory([lines.map((l) => JSON.stringify(l)).join('\n')]);
    expect(latencies(history, 'write')).toEqual({ p50: 2, p99: 3, count: 3 });
    expect(latencies(history, 'read').count).toBe(0);
  });
});
