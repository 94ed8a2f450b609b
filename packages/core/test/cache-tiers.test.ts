import { describe, expect, it } from 'vitest';
import { CacheTierError, createCache, memoryRecords, memoryStore } from '../src/index.js';
import { flakyTier } from './helpers.js';

describe('a tier that fails', () => {
  it('reads fall back to the database while L2 is down', async () => {
    const records = memoryRecords<string>();
    await records.set('k', 'v');
    const l2 = flakyTier();
    const cache = createCache({ records, l1: false, l2: l2.store });
    l2.state.down = true;
    expect(await cache.get('k')).toBe('v');
    expect(cache.stats().l2.errors).toBe(1);
  });

  it('a write still commits while L2 is down; the key is repaired when it is back and never served stale', async () => {
    const records = memoryRecords<string>();
    const l2 = flakyTier();
    const errors: string[] = [];
    const cache = createCache({
      records,
      l1: false,
      l2: l2.store,
      repairIntervalMs: 5,
      breakerFailures: 100,
    });
    cache.on('error', (e) => errors.push(e.op));
    await cache.set('k', 'old');
    expect(await cache.get('k')).toBe('old');
    expect(l2.inner.inspect('k').entry?.version).toBeDefined();
    l2.state.down = true;
    const { version } = await cache.set('k', 'new');
    expect(records.peek('k')).toMatchObject({ value: 'new', version });
    expect(cache.stats().pendingRepairs).toBe(1);
    // While the repair is pending this instance reads the key from the database.
    expect(await cache.get('k')).toBe('new');
    l2.state.down = false;
    for (let i = 0; i < 100 && cache.stats().pendingRepairs > 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(cache.stats().pendingRepairs).toBe(0);
    expect(await cache.get('k')).toBe('new');
    expect(errors).toContain('beginWrite');
  });

  it('with the old value still in L2 when the write could not reach it, the repair removes it', async () => {
    const records = memoryRecords<string>();
    const l2 = flakyTier();
    const cache = createCache({ records, l1: false, l2: l2.store, repairIntervalMs: 5 });
    const other = createCache({ records, l1: false, l2: l2.store });
    await cache.set('k', 'old');
    expect(await other.get('k')).toBe('old');
    l2.state.down = true;
    await cache.set('k', 'new');
    l2.state.down = false;
    for (let i = 0; i < 100 && cache.stats().pendingRepairs > 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(await other.get('k')).toBe('new');
  });

  it("with onCacheError 'fail', a write whose beginWrite fails is refused before the database", async () => {
    const records = memoryRecords<string>();
    const l2 = flakyTier();
    const cache = createCache({ records, l1: false, l2: l2.store, onCacheError: 'fail' });
    l2.state.down = true;
    await expect(cache.set('k', 'v')).rejects.toBeInstanceOf(CacheTierError);
    expect(records.calls.set).toBe(0);
    await expect(cache.get('k')).rejects.toBeInstanceOf(CacheTierError);
  });

  describe("onCacheError 'fail-writes': one instance cut off from L2 that others still read", () => {
    // Two views of one L2: the writer's can be cut off while the reader's still answers.
    function partition() {
      const writerView = flakyTier();
      const readerView = flakyTier(writerView.inner);
      return { writerView, readerView };
    }

    it("'fallback' acknowledges the write and the other instance reads the old value from L2 (the gap)", async () => {
      const records = memoryRecords<string>();
      const { writerView, readerView } = partition();
      const writer = createCache({ records, l1: false, l2: writerView.store, breakerFailures: 100 });
      const reader = createCache({ records, l1: false, l2: readerView.store });
      await writer.set('k', 'old');
      expect(await reader.get('k')).toBe('old');
      writerView.state.down = true;
      await writer.set('k', 'new');
      expect(await reader.get('k')).toBe('old');
    });

    it("'fail-writes' refuses the write before the database; reads on the writer fall back", async () => {
      const records = memoryRecords<string>();
      const { writerView, readerView } = partition();
      const writer = createCache({
        records,
        l1: false,
        l2: writerView.store,
        onCacheError: 'fail-writes',
        breakerFailures: 100,
      });
      const reader = createCache({ records, l1: false, l2: readerView.store });
      await writer.set('k', 'old');
      expect(await reader.get('k')).toBe('old');
      writerView.state.down = true;
      const setsBefore = records.calls.set;
      await expect(writer.set('k', 'new')).rejects.toBeInstanceOf(CacheTierError);
      await expect(writer.delete('k')).rejects.toBeInstanceOf(CacheTierError);
      expect(records.calls.set).toBe(setsBefore);
      expect(records.peek('k')).toMatchObject({ value: 'old' });
      // Reads do not throw: they fall back to the database.
      expect(await writer.get('k')).toBe('old');
      expect(await reader.get('k')).toBe('old');
      writerView.state.down = false;
      await writer.set('k', 'new');
      expect(await reader.get('k')).toBe('new');
    });

    it("'fail-writes' refuses every key of a batch whose beginWriteMany cannot reach L2, and writes while the breaker is open", async () => {
      const records = memoryRecords<string>();
      const { writerView } = partition();
      const writer = createCache({
        records,
        l1: false,
        l2: writerView.store,
        onCacheError: 'fail-writes',
        breakerFailures: 1,
        breakerOpenMs: 60_000,
      });
      writerView.state.down = true;
      await expect(
        writer.setMany([
          { key: 'a', value: '1' },
          { key: 'b', value: '2' },
        ]),
      ).rejects.toBeInstanceOf(CacheTierError);
      expect(records.peek('a')).toMatchObject({ found: false, version: 0 });
      expect(records.peek('b')).toMatchObject({ found: false, version: 0 });
      // The breaker is open now: the tier is skipped, and a write is still refused.
      const calls = writerView.state.calls;
      await expect(writer.set('c', '3')).rejects.toBeInstanceOf(CacheTierError);
      expect(writerView.state.calls).toBe(calls);
      expect(records.peek('c')).toMatchObject({ found: false, version: 0 });
    });

    it("'fail-writes' acknowledges a write whose commitWrite fails after the commit (the mark sends reads to the database)", async () => {
      const records = memoryRecords<string>();
      const { writerView, readerView } = partition();
      const writer = createCache({
        records,
        l1: false,
        l2: writerView.store,
        onCacheError: 'fail-writes',
        breakerFailures: 100,
        debug: {
          hooks: {
            afterCommit: () => {
              writerView.state.down = true;
            },
          },
        },
      });
      const reader = createCache({ records, l1: false, l2: readerView.store });
      await records.set('k', 'old');
      expect(await reader.get('k')).toBe('old');
      await writer.set('k', 'new');
      expect(await reader.get('k')).toBe('new');
    });

    it("'fail-writes' does not refuse a write for L1 (this process's own tier): only a shared tier counts", async () => {
      const records = memoryRecords<string>();
      const inner = memoryStore();
      const l1 = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'beginWriteSync' || prop === 'beginWrite') {
            return () => {
              throw new Error('L1 refused the mark');
            };
          }
          return Reflect.get(target, prop, receiver);
        },
      });
      const cache = createCache({ records, l1, onCacheError: 'fail-writes', breakerFailures: 100 });
      const { version } = await cache.set('k', 'v');
      expect(records.peek('k')).toMatchObject({ value: 'v', version });
      const strict = createCache({ records, l1, onCacheError: 'fail', breakerFailures: 100 });
      await expect(strict.set('k', 'w')).rejects.toBeInstanceOf(CacheTierError);
    });

    it('refuses an unknown policy with the three it knows', () => {
      expect(() =>
        createCache({ records: memoryRecords(), onCacheError: 'strict' as unknown as 'fail' }),
      ).toThrow(/'fallback', 'fail-writes' or 'fail'/);
    });
  });

  it('the circuit breaker skips a failing tier after consecutive failures', async () => {
    const records = memoryRecords<string>();
    await records.set('k', 'v');
    const l2 = flakyTier();
    const cache = createCache({
      records,
      l1: false,
      l2: l2.store,
      breakerFailures: 2,
      breakerOpenMs: 60_000,
    });
    l2.state.down = true;
    for (let i = 0; i < 5; i++) expect(await cache.get('k')).toBe('v');
    expect(l2.state.calls).toBe(2);
  });

  it('too many pending repairs: the tier is cleared when it returns, then used again', async () => {
    const records = memoryRecords<string>();
    const l2 = flakyTier();
    const cache = createCache({
      records,
      l1: false,
      l2: l2.store,
      maxRepairs: 2,
      repairIntervalMs: 5,
      breakerFailures: 1000,
    });
    await cache.set('x', 'cached');
    l2.state.down = true;
    for (let i = 0; i < 4; i++) await cache.set(`k${i}`, 'v');
    l2.state.down = false;
    for (let i = 0; i < 100 && l2.inner.inspect('x').entry !== undefined; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(l2.inner.inspect('x').entry).toBeUndefined();
    expect(await cache.get('k3')).toBe('v');
    expect(await cache.get('k3')).toBe('v');
    expect(cache.stats().l2.hits).toBe(1);
  });
});
