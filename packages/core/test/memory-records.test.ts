import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AbortedError,
  CacheClosedError,
  InvalidArgumentError,
  RecordStoreError,
  SerializationError,
  VersionConflictError,
} from '../src/errors.js';
import { type MemoryRecords, memoryRecords } from '../src/memory-records.js';

afterEach(() => {
  vi.useRealTimers();
});

async function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Which of `n` `get` calls failed, as a string of `x` (failed) and `.` (answered). */
async function failurePattern(records: MemoryRecords<unknown>, n: number): Promise<string> {
  let pattern = '';
  for (let i = 0; i < n; i++) pattern += (await settle(records.get('k'))).ok ? '.' : 'x';
  return pattern;
}

describe('memoryRecords: versions', () => {
  it('assigns strictly increasing versions from one counter, across keys, deletes and re-creates', async () => {
    const records = memoryRecords<string>();
    const a1 = await records.set('a', 'one');
    const b1 = await records.set('b', 'one');
    const a2 = await records.set('a', 'two');
    const del = await records.delete('a');
    const a3 = await records.set('a', 'three');
    expect([a1.version, b1.version, a2.version, del.version, a3.version]).toEqual([1, 2, 3, 4, 5]);
    expect(del.deleted).toBe(true);
    expect(records.lastVersion).toBe(5);
    expect(await records.get('a')).toEqual({ found: true, value: 'three', version: 5 });
  });

  it('keeps a tombstone at the delete version; a never-existing key is at version 0', async () => {
    const records = memoryRecords<string>();
    await records.set('a', 'x');
    const { version } = await records.delete('a');
    expect(await records.get('a')).toEqual({ found: false, version });
    expect(await records.get('never')).toEqual({ found: false, version: 0 });
    const many = await records.getMany(['a', 'never']);
    expect(many.get('a')).toEqual({ found: false, version });
    expect(many.get('never')).toEqual({ found: false, version: 0 });
  });

  it('deleting an absent key commits nothing and answers its absence version', async () => {
    const records = memoryRecords<string>();
    expect(await records.delete('never')).toEqual({ deleted: false, version: 0 });
    await records.set('a', 'x');
    const first = await records.delete('a');
    expect(await records.delete('a')).toEqual({ deleted: false, version: first.version });
    expect(records.lastVersion).toBe(first.version);
  });

  it('snapshot lists every key, tombstones included', async () => {
    const records = memoryRecords<number>();
    await records.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    await records.delete('a');
    expect(records.snapshot()).toEqual(
      new Map([
        ['a', { found: false, version: 3 }],
        ['b', { found: true, value: 2, version: 2 }],
      ]),
    );
  });
});

describe('memoryRecords: compare-and-set', () => {
  it('sets when ifVersion matches, and ifVersion 0 creates', async () => {
    const records = memoryRecords<string>();
    const created = await records.set('a', 'x', { ifVersion: 0 });
    const updated = await records.set('a', 'y', { ifVersion: created.version });
    expect(updated.version).toBeGreaterThan(created.version);
    expect(records.peek('a')).toEqual({ found: true, value: 'y', version: updated.version });
  });

  it('throws VersionConflictError with both versions and writes nothing on a mismatch', async () => {
    const records = memoryRecords<string>();
    const { version } = await records.set('a', 'x');
    const result = await settle(records.set('a', 'y', { ifVersion: version + 7 }));
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(VersionConflictError);
    expect(error).toMatchObject({ expectedVersion: version + 7, currentVersion: version, key: 'a' });
    await expect(records.set('a', 'y', { ifVersion: 0 })).rejects.toMatchObject({ currentVersion: version });
    expect(records.peek('a')).toEqual({ found: true, value: 'x', version });
    expect(records.lastVersion).toBe(version);
  });

  it('compares with the live version: a deleted key counts as absent (0)', async () => {
    const records = memoryRecords<string>();
    const { version } = await records.set('a', 'x');
    const del = await records.delete('a', { ifVersion: version });
    expect(del.deleted).toBe(true);
    await expect(records.set('a', 'y', { ifVersion: del.version })).rejects.toMatchObject({
      expectedVersion: del.version,
      currentVersion: 0,
    });
    const again = await records.set('a', 'y', { ifVersion: 0 });
    expect(again.version).toBe(del.version + 1);
  });

  it('conditional delete: conflict on mismatch, nothing to delete when ifVersion 0 matches an absent key', async () => {
    const records = memoryRecords<string>();
    const { version } = await records.set('a', 'x');
    await expect(records.delete('a', { ifVersion: version - 1 })).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    expect(records.peek('a')).toMatchObject({ found: true, version });
    expect(await records.delete('b', { ifVersion: 0 })).toEqual({ deleted: false, version: 0 });
    await expect(records.delete('b', { ifVersion: 3 })).rejects.toMatchObject({ currentVersion: 0 });
  });

  it('refuses an invalid ifVersion', async () => {
    const records = memoryRecords<string>();
    await expect(records.set('a', 'x', { ifVersion: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(records.delete('a', { ifVersion: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('memoryRecords: setMany', () => {
  it('writes the rows in order, each at its own version', async () => {
    const records = memoryRecords<number>();
    await records.set('z', 0);
    const result = await records.setMany([
      { key: 'b', value: 1 },
      { key: 'a', value: 2 },
    ]);
    expect([...result]).toEqual([
      ['b', { version: 2 }],
      ['a', { version: 3 }],
    ]);
  });

  it('is all or nothing: a poison row fails the batch with a permanent error and writes nothing', async () => {
    const poison = new Error('check constraint "positive" violated');
    const records = memoryRecords<number>({ rejectValue: (_key, value) => (value < 0 ? poison : undefined) });
    await records.set('a', 1);
    const result = await settle(
      records.setMany([
        { key: 'a', value: 2 },
        { key: 'b', value: -1 },
        { key: 'c', value: 3 },
      ]),
    );
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error as RecordStoreError;
    expect(error).toBeInstanceOf(RecordStoreError);
    expect(error).toMatchObject({ retryable: false, outcome: 'failed', key: 'b' });
    expect(error.cause).toBe(poison);
    expect(records.classifyError(error)).toEqual({ retryable: false, outcome: 'failed' });
    expect(records.snapshot()).toEqual(new Map([['a', { found: true, value: 1, version: 1 }]]));
    expect(records.lastVersion).toBe(1);
  });

  it('applies the poison rule to set too, and it can be changed at run time', async () => {
    const records = memoryRecords<number>();
    await records.set('a', -1);
    records.setRejectValue((key) => (key === 'a' ? new Error('no') : undefined));
    await expect(records.set('a', 1)).rejects.toMatchObject({ retryable: false, outcome: 'failed' });
    records.setRejectValue(undefined);
    await expect(records.set('a', 1)).resolves.toEqual({ version: 2 });
  });

  it('refuses duplicate keys before reaching the store', async () => {
    const records = memoryRecords<number>();
    await expect(
      records.setMany([
        { key: 'a', value: 1 },
        { key: 'a', value: 2 },
      ]),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(records.snapshot().size).toBe(0);
    expect(records.calls.setMany).toBe(0);
  });

  it('an empty batch commits nothing', async () => {
    const records = memoryRecords<number>();
    expect((await records.setMany([])).size).toBe(0);
    expect(records.lastVersion).toBe(0);
  });
});

describe('memoryRecords: values are clones', () => {
  it('isolates stored values from the caller, on the way in and out', async () => {
    const records = memoryRecords<{ tags: string[] }>();
    const value = { tags: ['a'] };
    await records.set('k', value);
    value.tags.push('mutated after set');
    const read = await records.get('k');
    if (!read.found) throw new Error('expected a value');
    read.value.tags.push('mutated after get');
    const many = await records.getMany(['k']);
    const fromMany = many.get('k');
    if (!fromMany?.found) throw new Error('expected a value');
    fromMany.value.tags.push('mutated after getMany');
    const peeked = records.peek('k');
    if (!peeked.found) throw new Error('expected a value');
    peeked.value.tags.push('mutated after peek');
    expect(records.peek('k')).toEqual({ found: true, value: { tags: ['a'] }, version: 1 });
  });

  it('refuses a value that cannot be cloned with SerializationError', async () => {
    const records = memoryRecords<unknown>();
    await expect(records.set('k', { f: () => 1 })).rejects.toBeInstanceOf(SerializationError);
    expect(records.lastVersion).toBe(0);
  });
});

describe('memoryRecords: fault injection', () => {
  it('random failures: the same seed gives the same pattern, another seed another one', async () => {
    const a = memoryRecords({ seed: 7, failureRate: 0.5 });
    const b = memoryRecords({ seed: 7, failureRate: 0.5 });
    const c = memoryRecords({ seed: 8, failureRate: 0.5 });
    const pattern = await failurePattern(a, 64);
    expect(await failurePattern(b, 64)).toBe(pattern);
    expect(await failurePattern(c, 64)).not.toBe(pattern);
    expect(pattern).toMatch(/x/);
    expect(pattern).toMatch(/\./);
    expect(a.calls).toMatchObject({ get: 64, failures: pattern.replaceAll('.', '').length });
  });

  it('a random failure is transient and happens before any effect', async () => {
    const records = memoryRecords<number>({ failureRate: 1 });
    const result = await settle(records.set('k', 1));
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(RecordStoreError);
    expect(records.classifyError(error)).toEqual({ retryable: true, outcome: 'failed' });
    expect(records.peek('k')).toEqual({ found: false, version: 0 });
  });

  it('failureOps limits random failures to some operations', async () => {
    const records = memoryRecords<number>({ failureRate: 1, failureOps: 'reads' });
    await expect(records.set('k', 1)).resolves.toEqual({ version: 1 });
    await expect(records.get('k')).rejects.toBeInstanceOf(RecordStoreError);
    records.setFaults({ failureOps: ['delete'] });
    await expect(records.get('k')).resolves.toMatchObject({ found: true });
    await expect(records.delete('k')).rejects.toBeInstanceOf(RecordStoreError);
  });

  it.each([
    ['transient', { retryable: true, outcome: 'failed' }],
    ['permanent', { retryable: false, outcome: 'failed' }],
    ['unknown', { retryable: true, outcome: 'unknown' }],
  ] as const)('failNext(n, %s) fails the next n calls before any effect', async (kind, flags) => {
    const records = memoryRecords<number>();
    records.failNext(2, kind);
    for (let i = 0; i < 2; i++) {
      const result = await settle(records.set('k', i));
      expect(result.ok).toBe(false);
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(RecordStoreError);
      expect(error).toMatchObject({ ...flags, key: 'k' });
      expect(records.classifyError(error)).toEqual(flags);
    }
    expect(records.peek('k')).toEqual({ found: false, version: 0 });
    await expect(records.set('k', 9)).resolves.toEqual({ version: 1 });
    expect(records.calls).toMatchObject({ set: 3, failures: 2 });
  });

  it("an injected 'unknown' failure of a read reports outcome failed, as reads always are", async () => {
    const records = memoryRecords<number>();
    records.failNext(1, 'unknown');
    await expect(records.get('k')).rejects.toMatchObject({ retryable: true, outcome: 'failed' });
  });

  it('one-shot faults target operations and are used in the order they were queued', async () => {
    const records = memoryRecords<number>();
    records.failNext(1, 'permanent', 'writes');
    records.failNext(1, 'transient', ['get']);
    await expect(records.getMany(['k'])).resolves.toBeInstanceOf(Map);
    await expect(records.get('k')).rejects.toMatchObject({ retryable: true });
    await expect(records.get('k')).resolves.toMatchObject({ found: false });
    await expect(records.set('k', 1)).rejects.toMatchObject({ retryable: false });
    await expect(records.set('k', 1)).resolves.toEqual({ version: 1 });
  });

  it('failAfterCommitNext commits the write, then throws a retryable unknown-outcome error', async () => {
    const records = memoryRecords<string>();
    records.failAfterCommitNext(1);
    await expect(records.get('k')).resolves.toEqual({ found: false, version: 0 });
    const result = await settle(records.set('k', 'v'));
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(RecordStoreError);
    expect(records.classifyError(error)).toEqual({ retryable: true, outcome: 'unknown' });
    expect(records.peek('k')).toEqual({ found: true, value: 'v', version: 1 });
    expect(records.calls.failures).toBe(1);
  });

  it('failAfterCommitNext on setMany and delete', async () => {
    const records = memoryRecords<string>();
    records.failAfterCommitNext(2);
    await expect(records.setMany([{ key: 'a', value: 'x' }])).rejects.toMatchObject({ outcome: 'unknown' });
    await expect(records.delete('a')).rejects.toMatchObject({ outcome: 'unknown' });
    expect(records.peek('a')).toEqual({ found: false, version: 2 });
    expect(() => records.failAfterCommitNext(1, 'reads')).toThrow(InvalidArgumentError);
  });

  it('hangNext: the call never answers until its signal aborts, and nothing is written', async () => {
    const records = memoryRecords<string>();
    records.hangNext(1, 'writes');
    const controller = new AbortController();
    let settled = false;
    const pending = records.set('k', 'v', { signal: controller.signal }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    await expect(records.get('k')).resolves.toEqual({ found: false, version: 0 });
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const result = await settle(pending);
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toBe(reason);
    expect(records.classifyError(error)).toEqual({ retryable: false, outcome: 'failed' });
    expect(records.peek('k')).toEqual({ found: false, version: 0 });
    expect(records.calls.hangs).toBe(1);
  });

  it('close rejects hung calls with CacheClosedError', async () => {
    const records = memoryRecords<string>();
    records.hangNext(1);
    const pending = records.get('k');
    await records.close();
    await expect(pending).rejects.toBeInstanceOf(CacheClosedError);
  });

  it('an already aborted signal rejects at once, without counting a call', async () => {
    const records = memoryRecords<string>({ latencyMs: 10_000 });
    const signal = AbortSignal.abort();
    await expect(records.set('k', 'v', { signal })).rejects.toBeInstanceOf(AbortedError);
    await expect(records.getMany(['k'], { signal })).rejects.toBeInstanceOf(AbortedError);
    expect(records.calls).toMatchObject({ set: 0, getMany: 0 });
  });

  it('latency waits on real timers and an abort during it rejects before any effect', async () => {
    vi.useFakeTimers();
    const records = memoryRecords<string>({ latencyMs: 100 });
    let done = false;
    const pending = records.set('a', 'x').then((result) => {
      done = true;
      return result;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    expect(records.peek('a').found).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toEqual({ version: 1 });

    const controller = new AbortController();
    const aborted = settle(records.set('a', 'y', { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(50);
    controller.abort();
    expect((await aborted).ok).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(records.peek('a')).toEqual({ found: true, value: 'x', version: 1 });
  });

  it('latency 0 answers without a timer; latencyOps limits latency to some operations', async () => {
    vi.useFakeTimers();
    const records = memoryRecords<string>({ latencyMs: 100, latencyOps: 'writes' });
    await expect(records.get('a')).resolves.toEqual({ found: false, version: 0 });
    records.setFaults({ latencyMs: 0, latencyOps: 'all' });
    await expect(records.set('a', 'x')).resolves.toEqual({ version: 1 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('random latency is drawn from the seed: two stores with one seed answer at the same instants', async () => {
    vi.useFakeTimers();
    const answerTimes = async (records: MemoryRecords<number>) => {
      const start = Date.now();
      const times: number[] = [];
      const calls = Array.from({ length: 8 }, (_, i) =>
        records.set(`k${i}`, i).then(() => times.push(Date.now() - start)),
      );
      await vi.runAllTimersAsync();
      await Promise.all(calls);
      return times;
    };
    const a = await answerTimes(memoryRecords({ seed: 3, latencyMs: { min: 10, max: 500 } }));
    const b = await answerTimes(memoryRecords({ seed: 3, latencyMs: { min: 10, max: 500 } }));
    expect(b).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(1);
    for (const t of a) {
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThanOrEqual(500);
    }
  });

  it('clearFaults removes standing and queued faults', async () => {
    const records = memoryRecords<number>({ failureRate: 1 });
    records.failNext(5);
    records.clearFaults();
    await expect(records.set('k', 1)).resolves.toEqual({ version: 1 });
    expect(records.faults).toEqual({ latencyMs: 0, latencyOps: 'all', failureRate: 0, failureOps: 'all' });
  });

  it('validates fault settings', () => {
    expect(() => memoryRecords({ failureRate: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => memoryRecords({ failureRate: Number.NaN })).toThrow(InvalidArgumentError);
    expect(() => memoryRecords({ latencyMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => memoryRecords({ latencyMs: { min: 5, max: 1 } })).toThrow(InvalidArgumentError);
    expect(() => memoryRecords({ seed: 0.5 })).toThrow(InvalidArgumentError);
    expect(() => memoryRecords({ failureOps: ['put' as 'set'] })).toThrow(InvalidArgumentError);
    const records = memoryRecords();
    expect(() => records.failNext(-1)).toThrow(InvalidArgumentError);
    expect(() => records.hangNext(1.5)).toThrow(InvalidArgumentError);
    expect(() => records.failNext(1, 'sometimes' as 'transient')).toThrow(InvalidArgumentError);
  });
});

describe('memoryRecords: concurrency', () => {
  it('32 concurrent writers on one key get distinct versions, in commit order', async () => {
    const records = memoryRecords<number>({ seed: 11, latencyMs: { min: 1, max: 15 } });
    const answered: { writer: number; version: number }[] = [];
    await Promise.all(
      Array.from({ length: 32 }, (_, writer) =>
        records.set('k', writer).then(({ version }) => answered.push({ writer, version })),
      ),
    );
    const versions = answered.map((a) => a.version);
    expect(new Set(versions).size).toBe(32);
    // Each write answers right after it commits, so answer order is commit order.
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(versions).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    const last = answered.at(-1)!;
    expect(records.peek('k')).toEqual({ found: true, value: last.writer, version: last.version });
    // The random latency reordered the writers: commit order is not call order.
    expect(answered.map((a) => a.writer)).not.toEqual(Array.from({ length: 32 }, (_, i) => i));
  });

  it('conditional writers racing on one version: exactly one wins', async () => {
    const records = memoryRecords<number>({ seed: 5, latencyMs: { min: 1, max: 10 } });
    const { version } = await records.set('k', 0);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => settle(records.set('k', i + 1, { ifVersion: version }))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results.filter((r) => !r.ok)) expect(r.error).toBeInstanceOf(VersionConflictError);
  });
});

describe('memoryRecords: classifyError, counters, close', () => {
  it('classifies errors', () => {
    const records = memoryRecords();
    expect(records.classifyError(new RecordStoreError('x', { retryable: true, outcome: 'unknown' }))).toEqual(
      {
        retryable: true,
        outcome: 'unknown',
      },
    );
    expect(records.classifyError(new VersionConflictError(1, 2))).toEqual({
      retryable: false,
      outcome: 'failed',
    });
    expect(records.classifyError(new AbortedError('x'))).toEqual({ retryable: false, outcome: 'failed' });
    expect(records.classifyError(new Error('?'))).toEqual({ retryable: false, outcome: 'unknown' });
    expect(records.classifyError('a string')).toEqual({ retryable: false, outcome: 'unknown' });
  });

  it('counts calls per operation; peek and snapshot are not counted', async () => {
    const records = memoryRecords<number>();
    await records.set('a', 1);
    await records.get('a');
    await records.getMany(['a']);
    await records.setMany([{ key: 'b', value: 2 }]);
    await records.delete('a');
    records.peek('a');
    records.snapshot();
    expect(records.calls).toEqual({
      get: 1,
      getMany: 1,
      set: 1,
      setMany: 1,
      delete: 1,
      failures: 0,
      hangs: 0,
    });
    records.resetCalls();
    expect(records.calls.get).toBe(0);
  });

  it('after close every call throws CacheClosedError; peek still reads', async () => {
    const records = memoryRecords<number>();
    await records.set('a', 1);
    await records.close();
    await records.close();
    await expect(records.get('a')).rejects.toBeInstanceOf(CacheClosedError);
    await expect(records.set('a', 2)).rejects.toBeInstanceOf(CacheClosedError);
    await expect(records.delete('a')).rejects.toBeInstanceOf(CacheClosedError);
    expect(records.closed).toBe(true);
    expect(records.peek('a')).toEqual({ found: true, value: 1, version: 1 });
  });

  it('a call in flight when the store closes commits nothing', async () => {
    const records = memoryRecords<number>({ latencyMs: 5 });
    const pending = records.set('a', 1);
    await records.close();
    await expect(pending).rejects.toBeInstanceOf(CacheClosedError);
    expect(records.peek('a').found).toBe(false);
  });
});
