/**
 * Batched writes on a tier with batched steps (`beginWriteMany`, `commitWriteMany`,
 * `invalidateMany`): one call per tier and batch instead of one per row, and each failure handled
 * per key exactly as a failed per-key step.
 */
import { describe, expect, it } from 'vitest';
import { type CacheStore, CacheTierError, createCache, memoryRecords, memoryStore } from '../src/index.js';

/** Every method a spy counts. */
type Method =
  | 'get'
  | 'getMany'
  | 'fill'
  | 'beginWrite'
  | 'commitWrite'
  | 'abortWrite'
  | 'invalidate'
  | 'beginWriteMany'
  | 'commitWriteMany'
  | 'invalidateMany';

/**
 * A remote-like tier over a memoryStore: asynchronous (no synchronous steps), counting each call,
 * with or without the batched steps, and failing the methods in `down`.
 */
function spyTier(options: { batched: boolean }) {
  const inner = memoryStore<unknown>();
  const calls = new Map<Method, number>();
  const down = new Set<Method>();
  const count = <T>(method: Method, run: () => Promise<T>): Promise<T> => {
    calls.set(method, (calls.get(method) ?? 0) + 1);
    if (down.has(method)) return Promise.reject(new Error(`ECONNRESET (${method} injected)`));
    return run();
  };
  const store: CacheStore<unknown> = {
    capabilities: { shared: true, serialized: false, sync: false },
    get: (key, o) => count('get', () => inner.get(key, o)),
    getMany: (keys, o) => count('getMany', () => inner.getMany(keys, o)),
    fill: (key, token, entry, ttl) => count('fill', () => inner.fill(key, token, entry, ttl)),
    beginWrite: (key, token, ttl) => count('beginWrite', () => inner.beginWrite(key, token, ttl)),
    commitWrite: (key, token, entry, ttl) =>
      count('commitWrite', () => inner.commitWrite(key, token, entry, ttl)),
    abortWrite: (key, token) => count('abortWrite', () => inner.abortWrite(key, token)),
    invalidate: (key, version) => count('invalidate', () => inner.invalidate(key, version)),
    clear: () => inner.clear(),
    close: () => inner.close(),
    ...(options.batched
      ? {
          beginWriteMany: (items, ttl) => count('beginWriteMany', () => inner.beginWriteMany(items, ttl)),
          commitWriteMany: (items) => count('commitWriteMany', () => inner.commitWriteMany(items)),
          invalidateMany: (items) => count('invalidateMany', () => inner.invalidateMany(items)),
        }
      : {}),
  } satisfies CacheStore<unknown>;
  const n = (method: Method): number => calls.get(method) ?? 0;
  return { store, inner, calls, down, n, reset: () => calls.clear() };
}

const rows = (n: number, prefix = 'k', value = 'v') =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: `${value}${i}` }));

describe('batched tier steps', () => {
  it('a 100-row setMany is one beginWriteMany and one commitWriteMany on L2 (not 200 per-key steps)', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const cache = createCache<string>({ records, l1: false, l2: l2.store, ttlJitter: 0 });
    const versions = await cache.setMany(rows(100));
    expect([l2.n('beginWriteMany'), l2.n('commitWriteMany')]).toEqual([1, 1]);
    expect([l2.n('beginWrite'), l2.n('commitWrite'), l2.n('invalidate'), l2.n('invalidateMany')]).toEqual([
      0, 0, 0, 0,
    ]);
    // The tier holds each committed row, installed by the batched commit.
    for (const { key, value } of rows(100)) {
      expect(l2.inner.inspect(key)).toMatchObject({
        entry: { kind: 'value', payload: value, version: versions.get(key)!.version },
        inflight: [],
      });
    }
  });

  it('without batched steps a tier gets the per-key steps (200 calls for 100 rows)', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: false });
    const cache = createCache<string>({ records, l1: false, l2: l2.store });
    await cache.setMany(rows(100));
    expect([l2.n('beginWrite'), l2.n('commitWrite')]).toEqual([100, 100]);
    expect(await cache.get('k7')).toBe('v7');
  });

  it('the write batcher sends 100 concurrent sets as one setMany and one batched step per phase, L1 kept in step', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const cache = createCache<string>({ records, l2: l2.store, batch: { maxSize: 100, maxWaitMs: 50 } });
    const results = await Promise.all(rows(100).map(({ key, value }) => cache.set(key, value)));
    expect(records.calls.setMany).toBe(1);
    expect([
      l2.n('beginWriteMany'),
      l2.n('commitWriteMany'),
      l2.n('beginWrite'),
      l2.n('commitWrite'),
    ]).toEqual([1, 1, 0, 0]);
    expect(new Set(results.map((r) => r.version)).size).toBe(100);
    // L1 (in-process, synchronous) took each row too: reads hit without touching L2.
    l2.reset();
    expect(await cache.get('k42')).toBe('v42');
    expect(l2.n('get')).toBe(0);
  });

  it('a failed beginWriteMany leaves each key not begun: the writes commit, then invalidateMany drops the old values', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const errors: { op: string; key?: string }[] = [];
    const cache = createCache<string>({ records, l1: false, l2: l2.store, breakerFailures: 100 });
    cache.on('error', (e) => errors.push({ op: e.op, ...(e.key === undefined ? {} : { key: e.key }) }));
    await cache.setMany(rows(10, 'k', 'old'));
    for (let i = 0; i < 10; i++) expect(await cache.get(`k${i}`)).toBe(`old${i}`);
    l2.reset();
    l2.down.add('beginWriteMany');
    const versions = await cache.setMany(rows(10, 'k', 'new'));
    expect(errors.filter((e) => e.op === 'beginWrite').map((e) => e.key)).toEqual(rows(10).map((r) => r.key));
    // Not begun on L2: no commitWrite there, but invalidate(version) of each key, in one call.
    expect([
      l2.n('commitWriteMany'),
      l2.n('commitWrite'),
      l2.n('invalidateMany'),
      l2.n('invalidate'),
    ]).toEqual([0, 0, 1, 0]);
    for (const { key } of rows(10)) {
      expect(l2.inner.inspect(key).entry, `${key}: the old value is gone`).toBeUndefined();
      expect(l2.inner.inspect(key).floor).toBe(versions.get(key)!.version);
    }
    l2.down.clear();
    for (let i = 0; i < 10; i++) expect(await cache.get(`k${i}`)).toBe(`new${i}`);
    expect(cache.stats().pendingRepairs).toBe(0);
  });

  it('a failed commitWriteMany queues each key for repair (read from the database meanwhile), and the repair lands', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const settled: string[] = [];
    const errors: string[] = [];
    const cache = createCache<string>({
      records: Object.assign(records, {
        settled: (writes: readonly { key: string }[]) => settled.push(...writes.map((w) => w.key)),
      }),
      l1: false,
      l2: l2.store,
      repairIntervalMs: 5,
      breakerFailures: 100,
    });
    cache.on('error', (e) => errors.push(`${e.op}:${e.key}`));
    l2.down.add('commitWriteMany');
    await cache.setMany(rows(10));
    expect(errors.sort()).toEqual(
      rows(10)
        .map((r) => `commitWrite:${r.key}`)
        .sort(),
    );
    expect(cache.stats().pendingRepairs).toBe(10);
    expect(settled, 'a write whose tier step failed is never reported settled').toEqual([]);
    // Until the repair ran, this instance reads the keys from the database.
    const reads = records.calls.get;
    expect(await cache.get('k3')).toBe('v3');
    expect(records.calls.get).toBe(reads + 1);
    l2.down.clear();
    for (let i = 0; i < 200 && cache.stats().pendingRepairs > 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(cache.stats().pendingRepairs).toBe(0);
    for (let i = 0; i < 10; i++) expect(await cache.get(`k${i}`)).toBe(`v${i}`);
  });

  it('a batch whose L2 commit succeeded reports every row settled once', async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const settled: string[] = [];
    const cache = createCache<string>({
      records: Object.assign(records, {
        settled: (writes: readonly { key: string }[]) => settled.push(...writes.map((w) => w.key)),
      }),
      l2: l2.store,
    });
    await cache.setMany(rows(5));
    expect(settled.sort()).toEqual(rows(5).map((r) => r.key));
  });

  it("with onCacheError 'fail', a failed beginWriteMany sends no row to the database", async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const cache = createCache<string>({ records, l2: l2.store, onCacheError: 'fail', breakerFailures: 100 });
    l2.down.add('beginWriteMany');
    await expect(cache.setMany(rows(5))).rejects.toBeInstanceOf(CacheTierError);
    expect(records.calls.setMany).toBe(0);
    // L1 had begun: its marks were aborted, so reads are not sent to the database forever.
    l2.down.clear();
    expect(await cache.get('k1')).toBeUndefined();
  });

  it("with onCacheError 'fail', a failed commitWriteMany rejects after the commit, keys queued for repair", async () => {
    const records = memoryRecords<string>();
    const l2 = spyTier({ batched: true });
    const cache = createCache<string>({ records, l2: l2.store, onCacheError: 'fail', breakerFailures: 100 });
    l2.down.add('commitWriteMany');
    await expect(cache.setMany(rows(5))).rejects.toBeInstanceOf(CacheTierError);
    expect(records.peek('k2')).toMatchObject({ found: true, value: 'v2' });
    expect(cache.stats().pendingRepairs).toBe(5);
  });
});
