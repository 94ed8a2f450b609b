import { describe, expect, it } from 'vitest';
import {
  CacheTierError,
  createCache,
  InvalidArgumentError,
  memoryBus,
  memoryRecords,
  memoryStore,
  type RecordStore,
} from '../src/index.js';
import { flakyTier } from './helpers.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** memoryRecords with a `settled` hook. */
function withSettled(
  records: RecordStore<string>,
  settled: (writes: readonly { key: string; version: number }[]) => void,
): RecordStore<string> {
  return {
    get: (key, o) => records.get(key, o),
    getMany: (keys, o) => records.getMany(keys, o),
    set: (key, value, o) => records.set(key, value, o),
    setMany: (entries, o) => records.setMany(entries, o),
    delete: (key, o) => records.delete(key, o),
    settled,
  };
}

/** memoryRecords that remembers what the engine reported as settled. */
function recordingRecords() {
  const records = memoryRecords<string>();
  const settled: { key: string; version: number }[] = [];
  const store = withSettled(records, (writes) => settled.push(...writes));
  return { records, store, settled };
}

describe('cache.invalidate(key, version): a write made around the cache', () => {
  it('drops older entries in every tier and on the other instances, and raises the floor', async () => {
    const records = memoryRecords<string>();
    const l2 = memoryStore();
    const hub = memoryBus();
    const l1A = memoryStore();
    const l1B = memoryStore();
    const a = createCache({ name: 'c', records, l2, l1: l1A, bus: hub.connect('a'), instanceId: 'a' });
    const b = createCache({ name: 'c', records, l2, l1: l1B, bus: hub.connect('b'), instanceId: 'b' });
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    // Someone writes the database directly (a crashed writer's commit, a script): the tiers do not know.
    const { version } = await records.set('k', 'v2');
    expect(await a.get('k')).toBe('v1');
    expect(await b.get('k')).toBe('v1');
    await a.invalidate('k', version);
    await tick();
    expect(l2.inspect('k').entry).toBeUndefined();
    expect(l2.inspect('k').floor).toBe(version);
    expect(l1A.inspect('k').floor).toBe(version);
    expect(l1B.inspect('k').entry).toBeUndefined();
    expect(await a.get('k')).toBe('v2');
    expect(await b.get('k')).toBe('v2');
  });

  it('keeps an entry at or above the version (invalidate is idempotent and never loses a newer write)', async () => {
    const records = memoryRecords<string>();
    const l2 = memoryStore();
    const cache = createCache({ records, l2, l1: false });
    const first = await cache.set('k', 'v1');
    const second = await cache.set('k', 'v2');
    await cache.invalidate('k', first.version);
    expect(l2.inspect('k').entry?.version).toBe(second.version);
    await cache.invalidate('k', second.version);
    expect(l2.inspect('k').entry?.version).toBe(second.version);
    expect(await cache.get('k')).toBe('v2');
  });

  it('without a version removes the entry whatever its version', async () => {
    const records = memoryRecords<string>();
    const l2 = memoryStore();
    const cache = createCache({ records, l2, l1: false });
    await cache.set('k', 'v1');
    await cache.invalidate('k');
    expect(l2.inspect('k').entry).toBeUndefined();
  });

  it('rejects with CacheTierError when a tier is down, queues the key and reads it from the database', async () => {
    const records = memoryRecords<string>();
    const l2 = flakyTier();
    const cache = createCache({ records, l2: l2.store, l1: false, repairIntervalMs: 5 });
    await cache.set('k', 'v1');
    const { version } = await records.set('k', 'v2');
    l2.state.down = true;
    await expect(cache.invalidate('k', version)).rejects.toBeInstanceOf(CacheTierError);
    // While queued, this instance does not read the key from L2 (which still holds v1).
    expect(l2.inner.inspect('k').entry?.version).toBeLessThan(version);
    l2.state.down = false;
    expect(await cache.get('k')).toBe('v2');
    await new Promise((r) => setTimeout(r, 30));
    expect(l2.inner.inspect('k').floor).toBeGreaterThanOrEqual(version);
  });

  it('refuses invalid keys and versions', async () => {
    const cache = createCache({ records: memoryRecords<string>(), l1: false, l2: memoryStore() });
    await expect(cache.invalidate('', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.invalidate('k', -1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.invalidate('k', 1.5)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('RecordStore.settled: the engine reports writes every tier holds', () => {
  it('reports set, delete and batched writes once their tier steps succeeded', async () => {
    const { store, settled } = recordingRecords();
    const cache = createCache({ records: store, l2: memoryStore(), batch: { maxWaitMs: 1 } });
    const a = await cache.set('a', 'x');
    const d = await cache.delete('a');
    const [b, c] = await Promise.all([cache.set('b', 'y'), cache.set('c', 'z')]);
    expect(settled).toEqual(
      expect.arrayContaining([
        { key: 'a', version: a.version },
        { key: 'a', version: d.version },
        { key: 'b', version: b!.version },
        { key: 'c', version: c!.version },
      ]),
    );
    expect(settled).toHaveLength(4);
  });

  it('does not report a delete that committed nothing, nor a write whose tier step failed', async () => {
    const { store, settled } = recordingRecords();
    const l2 = flakyTier();
    const cache = createCache({ records: store, l2: l2.store, l1: false });
    await cache.delete('never');
    l2.state.down = true;
    await cache.set('k', 'v');
    expect(settled).toEqual([]);
    l2.state.down = false;
    const ok = await cache.set('k', 'w');
    expect(settled).toEqual([{ key: 'k', version: ok.version }]);
  });

  it('a throwing settled() does not fail the write', async () => {
    const records = memoryRecords<string>();
    const store = withSettled(records, () => {
      throw new Error('boom');
    });
    const errors: unknown[] = [];
    const cache = createCache({ records: store, l2: memoryStore() });
    cache.on('error', (info) => errors.push(info.op));
    await expect(cache.set('k', 'v')).resolves.toMatchObject({ version: expect.any(Number) });
    expect(errors).toEqual(['settled']);
  });
});
