import { describe, expect, it } from 'vitest';
import {
  createCache,
  memoryRecords,
  memoryStore,
  RecordStoreError,
  VersionConflictError,
  WriteOutcomeUnknownError,
} from '../src/index.js';

const fastRetry = { attempts: 4, baseDelayMs: 1, maxDelayMs: 2, deadlineMs: 1_000 };

describe('writes: retry, failures, unknown outcomes', () => {
  it('retries transient failures with backoff and reports each retry', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records, retry: fastRetry });
    const retries: number[] = [];
    cache.on('retry', ({ attempt }) => retries.push(attempt));
    records.failNext(2, 'transient', 'writes');
    const { version } = await cache.set('k', 'v');
    expect(retries).toEqual([1, 2]);
    expect(records.peek('k')).toEqual({ found: true, value: 'v', version });
    expect(cache.stats().retries).toBe(2);
  });

  it('gives up after the attempts and leaves no trace in any tier', async () => {
    const records = memoryRecords<string>();
    const l1 = memoryStore();
    const cache = createCache({ records, l1, retry: fastRetry });
    await cache.set('k', 'old');
    records.failNext(4, 'transient', 'writes');
    const err = await cache.set('k', 'new').catch((e) => e);
    expect(err).toBeInstanceOf(RecordStoreError);
    expect(err.retryable).toBe(true);
    expect(records.peek('k')).toMatchObject({ value: 'old' });
    expect(l1.inspect('k').entry).toBeUndefined();
    expect(l1.inspect('k').inflight).toEqual([]);
    expect(await cache.get('k')).toBe('old');
    expect(cache.stats().writeFailures).toBe(1);
  });

  it('does not retry a permanent failure', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records, retry: fastRetry });
    records.failNext(1, 'permanent', 'writes');
    await expect(cache.set('k', 'v')).rejects.toMatchObject({ retryable: false, outcome: 'failed' });
    expect(records.calls.set).toBe(1);
    expect(records.peek('k')).toEqual({ found: false, version: 0 });
  });

  it('an unknown outcome after the commit: WriteOutcomeUnknownError, key invalidated, the next read sees the commit', async () => {
    const records = memoryRecords<string>();
    const l1 = memoryStore();
    const cache = createCache({ records, l1, retry: false });
    await cache.set('k', 'old');
    expect(await cache.get('k')).toBe('old');
    records.failAfterCommitNext(1);
    const err = await cache.set('k', 'new').catch((e) => e);
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(err.key).toBe('k');
    expect(l1.inspect('k').entry).toBeUndefined();
    // The mark stays until it expires, so reads go to the database and see the commit.
    expect(await cache.get('k')).toBe('new');
    expect(cache.stats().unknownOutcomes).toBe(1);
  });

  it('retries an unconditional write with an unknown outcome, but never a conditional one', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records, retry: fastRetry });
    const { version } = await cache.set('k', 'a');
    records.failNext(1, 'unknown', 'writes');
    await expect(cache.set('k', 'b')).resolves.toMatchObject({ version: expect.any(Number) });
    records.failNext(1, 'unknown', 'writes');
    const current = records.peek('k').version;
    await expect(cache.set('k', 'c', { ifVersion: current })).rejects.toBeInstanceOf(
      WriteOutcomeUnknownError,
    );
    expect(version).toBeLessThan(current);
  });

  it('a version conflict aborts the write: the tiers keep nothing newer than the database', async () => {
    const records = memoryRecords<string>();
    const l1 = memoryStore();
    const cache = createCache({ records, l1 });
    const { version } = await cache.set('k', 'a');
    await records.set('k', 'changed elsewhere');
    await expect(cache.set('k', 'b', { ifVersion: version })).rejects.toBeInstanceOf(VersionConflictError);
    expect(await cache.get('k')).toBe('changed elsewhere');
  });

  it('conditional delete', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records });
    const { version } = await cache.set('k', 'a');
    await expect(cache.delete('k', { ifVersion: version + 100 })).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    const del = await cache.delete('k', { ifVersion: version });
    expect(del).toEqual({ deleted: true, version: expect.any(Number) });
    expect(del.version).toBeGreaterThan(version);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('an AbortSignal stops a hanging write, which leaves no trace', async () => {
    const records = memoryRecords<string>();
    const l1 = memoryStore();
    const cache = createCache({ records, l1 });
    records.hangNext(1, 'writes');
    const controller = new AbortController();
    const pending = cache.set('k', 'v', { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'WT_ABORTED' });
    expect(records.peek('k').found).toBe(false);
    expect(l1.inspect('k').inflight).toEqual([]);
  });

  it('events report writes and conflicts', async () => {
    const cache = createCache({ records: memoryRecords<number>() });
    const seen: string[] = [];
    cache.on('write', (e) => seen.push(`write ${e.key} ${e.op}`));
    cache.on('conflict', (e) => seen.push(`conflict ${e.key}`));
    await cache.set('a', 1);
    await cache.delete('a');
    await cache.set('a', 2, { ifVersion: 999 }).catch(() => {});
    expect(seen).toEqual(['write a set', 'write a delete', 'conflict a']);
  });
});

describe('batching', () => {
  it('sends concurrent writes as one setMany; each caller gets its own commit version', async () => {
    const records = memoryRecords<number>();
    const cache = createCache({ records, batch: { maxSize: 64, maxWaitMs: 5 } });
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => cache.set(`k${i}`, i)));
    expect(records.calls.setMany).toBe(1);
    expect(records.calls.set).toBe(0);
    for (let i = 0; i < 64; i++) {
      expect(records.peek(`k${i}`)).toEqual({ found: true, value: i, version: results[i]!.version });
      expect(await cache.get(`k${i}`)).toBe(i);
    }
    const stats = cache.stats();
    expect(stats.batches).toBe(1);
    expect(stats.batchedRows).toBe(64);
  });

  it('coalesces writes to one key in a batch: the last value wins, both callers get its version', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records, batch: { maxSize: 10, maxWaitMs: 5 } });
    const [a, b] = await Promise.all([cache.set('k', 'first'), cache.set('k', 'second')]);
    expect(a.version).toBe(b.version);
    expect(records.peek('k')).toMatchObject({ value: 'second', version: b.version });
    expect(await cache.get('k')).toBe('second');
  });

  it('isolates a poison row by splitting: the other rows commit', async () => {
    const records = memoryRecords<number>({
      rejectValue: (_key, value) => (value === 13 ? new Error('check constraint: unlucky') : undefined),
    });
    const cache = createCache({ records, batch: { maxSize: 32, maxWaitMs: 5 }, retry: false });
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => cache.set(`k${i}`, i)));
    const rejected = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
    expect(rejected).toEqual([13]);
    for (let i = 0; i < 20; i++) {
      expect(records.peek(`k${i}`).found).toBe(i !== 13);
    }
    expect(await cache.get('k13')).toBeUndefined();
  });

  it('a lone write goes at the end of its event-loop turn, without waiting maxWaitMs', async () => {
    const records = memoryRecords<number>();
    const cache = createCache({ records, batch: { maxSize: 100, maxWaitMs: 10_000 } });
    const began = Date.now();
    await cache.set('k', 1);
    // Well under maxWaitMs: nothing was in flight, so the batch did not wait for the timer.
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(records.calls.setMany).toBe(1);
    await cache.close();
  });

  it('with maxInFlight batches in flight, later writes gather and go when one finishes', async () => {
    const records = memoryRecords<number>();
    const gates: (() => void)[] = [];
    const sizes: number[] = [];
    const gated = {
      get: records.get.bind(records),
      getMany: records.getMany.bind(records),
      set: records.set.bind(records),
      delete: records.delete.bind(records),
      setMany: async (entries: readonly { key: string; value: number }[]) => {
        sizes.push(entries.length);
        await new Promise<void>((resolve) => gates.push(resolve));
        return records.setMany(entries);
      },
    };
    const cache = createCache({ records: gated, batch: { maxSize: 100, maxWaitMs: 10_000, maxInFlight: 2 } });
    const writes: Promise<unknown>[] = [];
    const turn = () => new Promise((r) => setImmediate(r));
    writes.push(cache.set('a', 1));
    await turn();
    writes.push(cache.set('b', 2));
    await turn();
    // Two batches in flight (the limit): these three wait, together.
    writes.push(cache.set('c', 3), cache.set('d', 4));
    await turn();
    writes.push(cache.set('e', 5));
    await turn();
    expect(sizes).toEqual([1, 1]);
    gates.shift()!();
    await writes[0];
    await turn();
    expect(sizes).toEqual([1, 1, 3]);
    while (gates.length > 0) {
      gates.shift()!();
      await turn();
    }
    await Promise.all(writes);
    expect(records.peek('e')).toMatchObject({ found: true, value: 5 });
    expect(() => createCache({ records, batch: { maxInFlight: 0 } })).toThrow(/maxInFlight/);
  });

  it('close() flushes a pending batch', async () => {
    const records = memoryRecords<number>();
    const cache = createCache({ records, batch: { maxSize: 100, maxWaitMs: 10_000 } });
    const pending = cache.set('k', 1);
    await cache.close();
    await expect(pending).resolves.toMatchObject({ version: expect.any(Number) });
    expect(records.peek('k').found).toBe(true);
  });
});

describe('deletes of absent keys', () => {
  it('a delete of a key that never existed answers deleted: false at version 0 and caches the absence', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records });
    await expect(cache.delete('never')).resolves.toEqual({ deleted: false, version: 0 });
    await expect(cache.delete('never', { ifVersion: 0 })).resolves.toEqual({ deleted: false, version: 0 });
    expect(await cache.get('never')).toBeUndefined();
    await cache.set('never', 'now');
    expect(await cache.get('never')).toBe('now');
  });
});
