import { Rng } from '@writethrough/testing/tools';
import { describe, expect, it } from 'vitest';
import {
  checkConvergence,
  checkDurability,
  checkFailedWrites,
  checkLinearizability,
  checkLoads,
  checkStaleness,
  type FinalRecord,
  type TierEntryDump,
  type Violation,
} from '../src/check/index.js';
import { simulate } from '../src/check/simulate.js';
import type { History, Op, ReadOp, ReadTier, WriteKind, WriteOp } from '../src/history.js';

const INF = Number.POSITIVE_INFINITY;

interface Who {
  readonly key?: string;
  readonly instance?: number;
  readonly incarnation?: number;
}

/** A write `id` over [invoke, complete]; `v` is its version (ok writes only). */
function write(
  id: string,
  [invoke, complete]: [number, number],
  v: number | undefined,
  more: Who & { kind?: WriteKind; outcome?: WriteOp['outcome'] } = {},
): WriteOp {
  const outcome = more.outcome ?? 'ok';
  return {
    type: 'write',
    id,
    kind: more.kind ?? 'set',
    key: more.key ?? 'k',
    instance: more.instance ?? 0,
    incarnation: more.incarnation ?? 0,
    client: 0,
    invoke,
    complete,
    outcome,
    ...(v === undefined ? {} : { version: v }),
  };
}

const del = (
  id: string,
  t: [number, number],
  v: number | undefined,
  more: Who & { outcome?: WriteOp['outcome'] } = {},
) => write(id, t, v, { ...more, kind: 'delete' });

/** An ok read over [invoke, complete] that returned `w` (null: absent) at version `v`. */
function read(
  id: string,
  [invoke, complete]: [number, number],
  w: string | null,
  v?: number,
  more: Who & { tier?: ReadTier } = {},
): ReadOp {
  return {
    type: 'read',
    id,
    tier: more.tier ?? 'other',
    key: more.key ?? 'k',
    instance: more.instance ?? 0,
    incarnation: more.incarnation ?? 0,
    client: 0,
    invoke,
    complete,
    outcome: 'ok',
    value: w,
    ...(v === undefined ? {} : { version: v }),
  };
}

const l1 = (id: string, t: [number, number], w: string | null, v?: number, more: Who = {}) =>
  read(id, t, w, v, { instance: 1, ...more, tier: 'l1' });

function history(...ops: Op[]): History {
  return { ops: [...ops].sort((a, b) => a.invoke - b.invoke), loads: [], faults: [] };
}

const kinds = (violations: readonly Violation[]) =>
  violations.map((v) => `${v.check} ${v.kind} ${v.opId ?? v.key}`);

describe('K1 checkLinearizability', () => {
  const valid: [string, History][] = [
    [
      'sequential sets, a delete, an absence and a re-create',
      history(
        read('r0', [0, 1], null),
        write('w1', [2, 3], 1),
        read('r1', [4, 5], 'w1', 1),
        write('w2', [6, 7], 2, { kind: 'cas' }),
        read('r2', [8, 9], 'w2', 2),
        del('d3', [10, 11], 3),
        read('r3', [12, 13], null),
        del('d3b', [14, 15], 3), // deleting an absent key commits nothing, at the absence's version
        write('w4', [16, 17], 4, { kind: 'many' }),
        read('r4', [18, 19], 'w4', 4),
      ),
    ],
    [
      'overlapping writes, reads in the version order',
      history(
        write('w1', [0, 10], 1),
        write('w2', [2, 12], 2),
        read('r1', [3, 9], 'w2', 2),
        read('r2', [4, 8], 'w1', 1),
        read('r3', [13, 14], 'w2', 2),
      ),
    ],
    [
      'overlapping writes, committed in the other order',
      history(
        write('w1', [0, 10], 2),
        write('w2', [2, 12], 1),
        read('r1', [3, 9], 'w2', 1),
        read('r2', [4, 11], 'w1', 2),
        read('r3', [13, 14], 'w1', 2),
      ),
    ],
    [
      'an info write seen, at one version by two reads',
      history(
        write('w1', [0, 1], 1),
        write('w2', [2, INF], undefined, { outcome: 'info' }),
        read('r1', [3, 4], 'w1', 1),
        read('r2', [5, 6], 'w2', 2),
        read('r3', [7, 8], 'w2', 2),
      ),
    ],
    [
      'an info write never seen, and a failed one',
      history(
        write('w1', [0, 1], 1),
        write('w2', [2, 3], undefined, { outcome: 'info' }),
        write('w3', [2, 3], undefined, { outcome: 'fail' }),
        read('r1', [5, 6], 'w1', 1),
      ),
    ],
    [
      'an absence concurrent with a delete, then a value concurrent with a re-create',
      history(
        write('w1', [0, 1], 1),
        del('d2', [2, 6], 2),
        read('r1', [3, 4], 'w1', 1),
        read('r2', [5, 7], null),
        write('w3', [8, 12], 3),
        read('r3', [9, 10], null),
        read('r4', [11, 13], 'w3', 3),
      ),
    ],
    [
      'an absence after an ok set, with an info delete (benefit of the doubt)',
      history(
        write('w1', [0, 1], 1),
        del('d2', [2, INF], undefined, { outcome: 'info' }),
        read('r1', [5, 6], null),
      ),
    ],
    [
      'an L1 read that lags is left to K2',
      history(write('w1', [0, 1], 1), write('w2', [2, 3], 2), l1('r1', [4, 5], 'w1', 1)),
    ],
    [
      'keys are independent',
      history(
        write('a1', [0, 1], 1, { key: 'a' }),
        write('b1', [2, 3], 2, { key: 'b' }),
        read('r1', [4, 5], 'a1', 1, { key: 'a' }),
      ),
    ],
  ];
  for (const [name, h] of valid) {
    it(`accepts ${name}`, () => {
      const result = checkLinearizability(h);
      expect(kinds(result.violations)).toEqual([]);
      expect(result.staleReadIds.size).toBe(0);
    });
  }

  const invalid: [string, History, string, boolean][] = [
    ['phantom', history(write('w1', [0, 1], 1), read('r1', [2, 3], 'ghost', 1)), 'r1', false],
    ['phantom', history(write('w1', [0, 1], 1, { key: 'other' }), read('r1', [2, 3], 'w1', 1)), 'r1', false],
    [
      'read-of-failed-write',
      history(write('w1', [0, 1], undefined, { outcome: 'fail' }), read('r1', [2, 3], 'w1', 1)),
      'r1',
      false,
    ],
    ['read-from-future', history(read('r1', [0, 1], 'w1', 1), write('w1', [2, 3], 1)), 'r1', false],
    ['version-mismatch', history(write('w1', [0, 1], 1), read('r1', [2, 3], 'w1', 7)), 'r1', false],
    [
      'info-version-mismatch',
      history(
        write('w1', [0, INF], undefined, { outcome: 'info' }),
        read('r1', [2, 3], 'w1', 1),
        read('r2', [4, 5], 'w1', 2),
      ),
      'r2',
      false,
    ],
    [
      'stale-read',
      history(write('w1', [0, 1], 1), write('w2', [2, 3], 2), read('r1', [4, 5], 'w1', 1)),
      'r1',
      true,
    ],
    [
      'stale-read',
      history(write('w1', [0, 1], 1), del('d2', [2, 3], 2), read('r1', [4, 5], 'w1', 1)),
      'r1',
      true,
    ],
    [
      'non-monotonic-read',
      history(
        write('w1', [0, 1], 1),
        write('w2', [2, 20], 2),
        read('r1', [3, 4], 'w2', 2, { instance: 0 }),
        read('r2', [5, 6], 'w1', 1, { instance: 2 }),
      ),
      'r2',
      false,
    ],
    ['write-order', history(write('w1', [0, 1], 2), write('w2', [2, 3], 1)), 'w2', false],
    ['duplicate-version', history(write('w1', [0, 3], 1), write('w2', [1, 4], 1)), 'w2', false],
    ['stale-absent', history(write('w1', [0, 1], 1), read('r1', [2, 3], null)), 'r1', true],
    [
      'stale-absent',
      history(write('w1', [0, 1], 1), del('d2', [2, 3], 2), write('w3', [4, 5], 3), read('r1', [6, 7], null)),
      'r1',
      true,
    ],
    [
      'non-monotonic-read',
      history(write('w1', [0, 10], 1), read('r1', [2, 3], 'w1', 1), read('r2', [4, 5], null)),
      'r2',
      false,
    ],
  ];
  for (const [kind, h, opId, stale] of invalid) {
    it(`finds exactly one ${kind} (${h.ops.map((o) => o.id).join(' ')})`, () => {
      const result = checkLinearizability(h);
      expect(kinds(result.violations)).toEqual([`K1 ${kind} ${opId}`]);
      expect([...result.staleReadIds]).toEqual(stale ? [opId] : []);
    });
  }

  it('checks L1 reads for what they name, not for order', () => {
    const result = checkLinearizability(
      history(
        write('w1', [0, 1], 1),
        write('w2', [2, 3], 2),
        l1('r1', [4, 5], 'ghost', 2),
        l1('r2', [6, 7], 'w1', 1),
      ),
    );
    expect(kinds(result.violations)).toEqual(['K1 phantom r1']);
  });

  it('counts ok reads and every write', () => {
    const failedRead: ReadOp = { ...read('r2', [4, 5], null), outcome: 'fail' };
    const result = checkLinearizability(
      history(write('w1', [0, 1], 1), read('r1', [2, 3], 'w1', 1), failedRead),
    );
    expect(result.reads).toBe(1);
    expect(result.writes).toBe(1);
  });
});

describe('K2 checkStaleness', () => {
  it('measures the lag of L1 reads and asserts nothing on it', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 10], 1),
        write('w2', [20, 30], 2),
        write('w3', [40, 50], 3),
        l1('r1', [100, 101], 'w1', 1),
        l1('r2', [110, 111], 'w3', 3),
        read('r3', [120, 121], 'w1', 1, { instance: 2 }),
      ),
    );
    expect(result.l1Reads).toBe(2);
    expect(result.staleL1Reads).toBe(1);
    expect(result.lag).toEqual({ count: 2, p50: 0, p99: 70, p999: 70, max: 70 });
    expect(result.violations).toEqual([]);
  });

  it('measures absences against the deletes that could explain them', () => {
    const result = checkStaleness(
      history(
        del('d1', [0, 1], 2),
        write('w2', [10, 11], 3),
        l1('r1', [20, 21], null),
        l1('r2', [30, 31], null, undefined, { key: 'never' }),
      ),
    );
    expect(result.lag).toMatchObject({ count: 2, max: 9 });
    expect(result.violations).toEqual([]);
  });

  it('gives an absence after an info delete a lag of 0', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 1], 1),
        del('d2', [2, INF], undefined, { outcome: 'info' }),
        l1('r1', [20, 21], null),
      ),
    );
    expect(result.lag.max).toBe(0);
  });

  it('finds an L1 read that misses its own instance write', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 10], 1),
        write('w2', [20, 30], 2, { instance: 1 }),
        l1('r1', [40, 41], 'w1', 1),
      ),
    );
    expect(kinds(result.violations)).toEqual(['K2 l1-read-your-writes r1']);
  });

  it('finds an L1 absence after its own instance set', () => {
    const result = checkStaleness(
      history(write('w1', [0, 10], 1, { instance: 1 }), l1('r1', [40, 41], null)),
    );
    expect(kinds(result.violations)).toEqual(['K2 l1-read-your-writes r1']);
  });

  it('accepts an L1 absence after its own delete, and a value after a later set elsewhere', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 1], 1),
        del('d2', [2, 3], 2, { instance: 1 }),
        l1('r1', [4, 5], null),
        write('w3', [6, 7], 3),
        l1('r2', [8, 9], null),
        l1('r3', [10, 11], 'w3', 3),
      ),
    );
    expect(result.violations).toEqual([]);
    expect(result.staleL1Reads).toBe(1);
  });

  it('finds an L1 read that goes back after a read of the same incarnation', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 10], 1),
        write('w2', [20, 30], 2),
        read('r1', [40, 41], 'w2', 2, { instance: 1 }),
        l1('r2', [50, 51], 'w1', 1),
      ),
    );
    expect(kinds(result.violations)).toEqual(['K2 l1-non-monotonic r2']);
  });

  it('finds an L1 absence after a read of a value, with no delete', () => {
    const result = checkStaleness(
      history(write('w1', [0, 100], 1), l1('r1', [40, 41], 'w1', 1), l1('r2', [50, 51], null)),
    );
    expect(kinds(result.violations)).toEqual(['K2 l1-non-monotonic r2']);
  });

  it('lets another instance, or a restarted one, lag behind', () => {
    const result = checkStaleness(
      history(
        write('w1', [0, 10], 1),
        write('w2', [20, 30], 2, { instance: 1 }),
        read('r1', [40, 41], 'w2', 2, { instance: 1 }),
        l1('r2', [50, 51], 'w1', 1, { instance: 1, incarnation: 1 }),
        l1('r3', [50, 51], 'w1', 1, { instance: 2 }),
      ),
    );
    expect(result.violations).toEqual([]);
    expect(result.staleL1Reads).toBe(2);
  });
});

describe('K3 checkDurability', () => {
  const final = (entries: Record<string, [string | null, number]>) =>
    new Map<string, FinalRecord>(
      Object.entries(entries).map(([k, [value, version]]) => [k, { value, version }]),
    );

  it('accepts the last write, an info write above it, a delete and a key never written', () => {
    const h = history(
      write('a1', [0, 1], 1, { key: 'a' }),
      write('a2', [2, 3], 2, { key: 'a' }),
      write('b1', [0, 1], 3, { key: 'b' }),
      write('b2', [2, INF], undefined, { key: 'b', outcome: 'info' }),
      write('c1', [0, 1], 5, { key: 'c' }),
      del('c2', [2, 3], 6, { key: 'c' }),
      write('d1', [0, 1], undefined, { key: 'd', outcome: 'fail' }),
      del('e1', [0, INF], undefined, { key: 'e', outcome: 'info' }),
    );
    const result = checkDurability(h, final({ a: ['a2', 2], b: ['b2', 7], c: [null, 6], e: [null, 9] }));
    expect(result).toEqual({ okWrites: 5, lost: 0, violations: [] });
  });

  const cases: [string, History, Map<string, FinalRecord>, string, number][] = [
    ['lost-write', history(write('w1', [0, 1], 1), write('w2', [2, 3], 2)), final({ k: ['w1', 1] }), 'w2', 1],
    ['lost-write', history(write('w1', [0, 1], 1), del('d2', [2, 3], 2)), final({ k: ['w1', 1] }), 'd2', 1],
    ['lost-write', history(write('w1', [0, 1], 1)), final({}), 'w1', 1],
    [
      'lost-write',
      history(write('w1', [0, 1], 1), write('w2', [2, INF], undefined, { outcome: 'info' })),
      final({ k: ['w2', 1] }),
      'w1',
      1,
    ],
    ['phantom-final', history(write('w1', [0, 1], 1)), final({ k: ['ghost', 2] }), 'k', 0],
    ['phantom-final', history(write('w1', [0, 1], 1)), final({ k: [null, 2] }), 'k', 0],
    [
      'final-from-failed-write',
      history(write('w1', [0, 1], undefined, { outcome: 'fail' })),
      final({ k: ['w1', 1] }),
      'w1',
      0,
    ],
    ['final-version-mismatch', history(write('w1', [0, 1], 1)), final({ k: ['w1', 2] }), 'w1', 0],
  ];
  for (const [kind, h, rows, opId, lost] of cases) {
    it(`finds exactly one ${kind} (${opId})`, () => {
      const result = checkDurability(h, rows);
      expect(kinds(result.violations)).toEqual([`K3 ${kind} ${opId}`]);
      expect(result.lost).toBe(lost);
    });
  }
});

describe('K4 checkConvergence', () => {
  const value = (w: string, version: number): TierEntryDump => ({ kind: 'value', w, version });
  const absent = (version: number): TierEntryDump => ({ kind: 'absent', version });
  const postgres = new Map<string, FinalRecord>([
    ['a', { value: 'w1', version: 1 }],
    ['b', { value: null, version: 4 }],
  ]);

  it('accepts entries equal to Postgres, absences at or above its version, and missing entries', () => {
    const result = checkConvergence({
      postgres,
      redis: new Map([
        ['a', value('w1', 1)],
        ['b', absent(4)],
        ['never', absent(0)],
      ]),
      l1: new Map([
        [0, new Map([['b', absent(5)]])],
        [1, new Map()],
      ]),
    });
    expect(result).toEqual({ keys: 2, entries: 4, violations: [] });
  });

  it('finds every entry that differs from Postgres', () => {
    const result = checkConvergence({
      postgres,
      redis: new Map([
        ['a', value('w0', 1)],
        ['b', absent(3)],
      ]),
      l1: new Map([
        [0, new Map([['a', value('w1', 2)]])],
        [
          2,
          new Map([
            ['a', absent(9)],
            ['c', value('w9', 9)],
          ]),
        ],
      ]),
    });
    expect(result.violations.map((v) => `${v.kind} ${v.key} ${v.detail}`)).toEqual([
      'not-converged a redis holds w=w0 at version 1, Postgres w=w1 at version 1',
      'not-converged b redis holds absent at version 3, Postgres absent at version 4',
      'not-converged a L1 of instance 0 holds w=w1 at version 2, Postgres w=w1 at version 1',
      'not-converged a L1 of instance 2 holds absent at version 9, Postgres w=w1 at version 1',
      'not-converged c L1 of instance 2 holds w=w9 at version 9, Postgres absent at version 0',
    ]);
  });
});

describe('K5 checkLoads', () => {
  it('counts loads per key and overlaps on one instance incarnation', () => {
    const load = (key: string, start: number, end: number, instance = 0, incarnation = 0) => ({
      key,
      start,
      end,
      instance,
      incarnation,
    });
    const result = checkLoads({
      ops: [],
      faults: [],
      loads: [
        load('a', 0, 10),
        load('a', 5, 8), // overlaps
        load('a', 9, 12), // overlaps the first
        load('a', 20, 30),
        load('a', 21, 22, 1), // another instance
        load('a', 22, 23, 0, 1), // another incarnation
        load('b', 0, INF),
        load('b', 100, 101), // overlaps a load cut off by a kill
        load('c', 0, 1),
        load('d', 0, 1),
        load('e', 0, 1),
        load('f', 0, 1),
      ],
    });
    expect(result).toEqual({
      loads: 12,
      keysLoaded: 6,
      maxLoadsPerKey: 6,
      overlapping: 3,
      perKeyTop: [
        { key: 'a', loads: 6 },
        { key: 'b', loads: 2 },
        { key: 'c', loads: 1 },
        { key: 'd', loads: 1 },
        { key: 'e', loads: 1 },
      ],
    });
  });

  it('reports zeros for no loads', () => {
    expect(checkLoads(history())).toEqual({
      loads: 0,
      keysLoaded: 0,
      maxLoadsPerKey: 0,
      overlapping: 0,
      perKeyTop: [],
    });
  });
});

describe('K6 checkFailedWrites', () => {
  const failed = write('w1', [0, 1], undefined, { outcome: 'fail' });
  const dumps = (redis: [string, TierEntryDump][], l1s: [number, [string, TierEntryDump][]][]) => ({
    redis: new Map(redis),
    l1: new Map(l1s.map(([i, entries]) => [i, new Map(entries)] as const)),
  });

  it('accepts identical dumps', () => {
    const before = dumps(
      [['k', { kind: 'value', w: 'w0', version: 1 }]],
      [[0, [['k', { kind: 'absent', version: 0 }]]]],
    );
    const after = dumps(
      [['k', { kind: 'value', w: 'w0', version: 1 }]],
      [[0, [['k', { kind: 'absent', version: 0 }]]]],
    );
    expect(checkFailedWrites([{ write: failed, before, after }])).toEqual({
      probes: 1,
      removedEntries: 0,
      violations: [],
    });
  });

  it('finds an entry a failed write added', () => {
    const before = dumps([], [[1, [['x', { kind: 'absent', version: 2 }]]]]);
    const after = dumps(
      [['k', { kind: 'value', w: 'w1', version: 2 }]],
      [
        [1, [['x', { kind: 'absent', version: 2 }]]],
        [2, [['y', { kind: 'absent', version: 0 }]]],
      ],
    );
    const result = checkFailedWrites([{ write: failed, before, after }]);
    expect(result.violations.map((v) => `${v.kind} ${v.key} ${v.opId}: ${v.detail}`)).toEqual([
      'tier-entry-added-by-failed-write k w1: redis held nothing before the failed set w1 of key k, w=w1 at version 2 after',
      'tier-entry-added-by-failed-write y w1: L1 of instance 2 held nothing before the failed set w1 of key k, absent at version 0 after',
    ]);
    expect(result.removedEntries).toBe(0);
  });

  it('finds an entry a failed write changed: its w, its version or its kind', () => {
    const before = dumps(
      [['k', { kind: 'value', w: 'w0', version: 1 }]],
      [
        [0, [['k', { kind: 'value', w: 'w0', version: 1 }]]],
        [1, [['k', { kind: 'value', w: 'w0', version: 1 }]]],
      ],
    );
    const after = dumps(
      [['k', { kind: 'value', w: 'w1', version: 1 }]],
      [
        [0, [['k', { kind: 'value', w: 'w0', version: 2 }]]],
        [1, [['k', { kind: 'absent', version: 1 }]]],
      ],
    );
    const result = checkFailedWrites([{ write: failed, before, after }]);
    expect(result.violations.map((v) => `${v.kind} ${v.key}: ${v.detail}`)).toEqual([
      'tier-entry-changed-by-failed-write k: redis held w=w0 at version 1 before the failed set w1 of key k, w=w1 at version 1 after',
      'tier-entry-changed-by-failed-write k: L1 of instance 0 held w=w0 at version 1 before the failed set w1 of key k, w=w0 at version 2 after',
      'tier-entry-changed-by-failed-write k: L1 of instance 1 held w=w0 at version 1 before the failed set w1 of key k, absent at version 1 after',
    ]);
  });

  it('allows an entry a failed write removed, and counts it', () => {
    const before = dumps(
      [['k', { kind: 'value', w: 'w0', version: 1 }]],
      [
        [0, [['k', { kind: 'value', w: 'w0', version: 1 }]]],
        [1, [['k', { kind: 'absent', version: 0 }]]],
      ],
    );
    const after = dumps([], [[0, []]]);
    expect(checkFailedWrites([{ write: failed, before, after }])).toEqual({
      probes: 1,
      removedEntries: 3,
      violations: [],
    });
  });

  it('skips probes of writes that did not fail', () => {
    const before = dumps([], []);
    const after = dumps([['k', { kind: 'absent', version: 3 }]], []);
    const info = write('w2', [0, INF], undefined, { outcome: 'info' });
    expect(checkFailedWrites([{ write: info, before, after }])).toEqual({
      probes: 0,
      removedEntries: 0,
      violations: [],
    });
  });
});

describe('the checkers on simulated correct histories', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`find nothing in a linearizable register's history (seed ${seed}), and a read made stale`, () => {
      const { history: h, final } = simulate(new Rng(seed), { ops: 5_000, keys: 20 });
      expect(kinds(checkLinearizability(h).violations)).toEqual([]);
      expect(kinds(checkStaleness(h).violations)).toEqual([]);
      const durability = checkDurability(h, final);
      expect(kinds(durability.violations)).toEqual([]);
      expect(durability.okWrites).toBeGreaterThan(1_000);

      // Mutate one read to an older value: one whose write completed before it was invoked, of a
      // key with an older ok set.
      const writes = new Map(h.ops.filter((o): o is WriteOp => o.type === 'write').map((w) => [w.id, w]));
      const rng = new Rng(seed * 7919);
      const candidates = h.ops.flatMap((op, index) => {
        if (op.type !== 'read' || op.tier !== 'other' || op.value == null) return [];
        const seen = writes.get(op.value)!;
        if (seen.outcome !== 'ok' || seen.complete >= op.invoke) return [];
        const older = h.ops.find(
          (o): o is WriteOp =>
            o.type === 'write' &&
            o.key === op.key &&
            o.kind !== 'delete' &&
            o.outcome === 'ok' &&
            o.version! < seen.version!,
        );
        return older === undefined ? [] : [{ index, read: op, older }];
      });
      expect(candidates.length).toBeGreaterThan(10);
      const { index, read: victim, older } = candidates[Math.floor(rng.nextDouble() * candidates.length)]!;
      const ops = [...h.ops];
      ops[index] = { ...victim, value: older.id, version: older.version! };
      const result = checkLinearizability({ ...h, ops });
      expect(result.violations.filter((v) => v.opId === victim.id).map((v) => v.kind)).toEqual([
        'stale-read',
      ]);
      expect(result.staleReadIds.has(victim.id)).toBe(true);
    });
  }

  it('check 200k operations (a sanity check of the sorted sweeps, with no timing assertion)', () => {
    const { history: h, final } = simulate(new Rng(42), { ops: 200_000, keys: 1_000, spreadNs: 50_000 });
    const k1 = checkLinearizability(h);
    expect(k1.reads + k1.writes).toBeGreaterThan(190_000);
    expect(k1.violations).toEqual([]);
    expect(checkStaleness(h).violations).toEqual([]);
    expect(checkDurability(h, final).violations).toEqual([]);
  });

  it('check one hot key with 50k operations', () => {
    const { history: h } = simulate(new Rng(43), { ops: 50_000, keys: 1, spreadNs: 20_000 });
    expect(checkLinearizability(h).violations).toEqual([]);
    expect(checkStaleness(h).violations).toEqual([]);
  });
});
