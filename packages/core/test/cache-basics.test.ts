import { describe, expect, it } from 'vitest';
import {
  createCache,
  InvalidArgumentError,
  memoryRecords,
  memoryStore,
  SerializationError,
  SizeLimitError,
  ValidationError,
  VersionConflictError,
} from '../src/index.js';

describe('createCache: write-through basics', () => {
  it('writes to the database first, then serves hits from L1', async () => {
    const records = memoryRecords<{ name: string }>();
    const cache = createCache({ records });
    const { version } = await cache.set('user:1', { name: 'Alice' });
    expect(version).toBeGreaterThan(0);
    expect(records.peek('user:1')).toEqual({ found: true, value: { name: 'Alice' }, version });
    const before = records.calls.get;
    expect(await cache.get('user:1')).toEqual({ name: 'Alice' });
    expect(await cache.getEntry('user:1')).toEqual({ value: { name: 'Alice' }, version });
    expect(records.calls.get).toBe(before);
    const stats = cache.stats();
    expect(stats.l1.hits).toBe(2);
    expect(stats.writes).toBe(1);
  });

  it('loads a miss from the database once and caches it, absence included', async () => {
    const records = memoryRecords<number>();
    await records.set('a', 1);
    const cache = createCache({ records });
    expect(await cache.get('a')).toBe(1);
    expect(await cache.get('a')).toBe(1);
    expect(await cache.get('nope')).toBeUndefined();
    expect(await cache.get('nope')).toBeUndefined();
    expect(records.calls.get).toBe(2);
    const stats = cache.stats();
    expect(stats.reads).toBe(4);
    expect(stats.hits).toBe(2);
    expect(stats.misses).toBe(2);
  });

  it('an insert wins over a cached absence, and a delete leaves a tombstone', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records });
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', 'v1');
    expect(await cache.get('k')).toBe('v1');
    const del = await cache.delete('k');
    expect(del.deleted).toBe(true);
    expect(await cache.get('k')).toBeUndefined();
    const calls = records.calls.get;
    expect(await cache.get('k')).toBeUndefined();
    expect(records.calls.get).toBe(calls);
  });

  it('single-flight: concurrent misses of one key load it once', async () => {
    const records = memoryRecords<number>({ latencyMs: 5 });
    await records.set('x', 7);
    const cache = createCache({ records });
    const before = records.calls.get;
    const values = await Promise.all(Array.from({ length: 50 }, () => cache.get('x')));
    expect(values.every((v) => v === 7)).toBe(true);
    expect(records.calls.get - before).toBe(1);
  });

  it('conditional writes: ifVersion match commits, mismatch throws VersionConflictError and keeps nothing', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records });
    const v1 = await cache.set('p', 'a');
    const v2 = await cache.set('p', 'b', { ifVersion: v1.version });
    expect(v2.version).toBeGreaterThan(v1.version);
    const err = await cache.set('p', 'c', { ifVersion: v1.version }).catch((e) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err.currentVersion).toBe(v2.version);
    expect(await cache.get('p')).toBe('b');
    expect(cache.stats().conflicts).toBe(1);
  });

  it('refuses bad input before anything is written', async () => {
    const records = memoryRecords<unknown>();
    const l1 = memoryStore();
    const cache = createCache<unknown>({
      records,
      l1,
      maxValueBytes: 100,
      maxKeyBytes: 10,
      validate: (v) => {
        if (typeof v !== 'object' || v === null) throw new Error('must be an object');
        return v;
      },
    });
    await expect(cache.set('', {})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.set('k'.repeat(11), {})).rejects.toBeInstanceOf(SizeLimitError);
    await expect(cache.set('k', undefined)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.set('k', 5)).rejects.toBeInstanceOf(ValidationError);
    await expect(cache.set('k', { big: 'x'.repeat(200) })).rejects.toBeInstanceOf(SizeLimitError);
    await expect(cache.set('k', { n: 10n })).rejects.toBeInstanceOf(SerializationError);
    await expect(cache.set('k', {}, { ttlMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.set('k', {}, { ifVersion: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.get(42 as unknown as string)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(records.calls.set).toBe(0);
    expect(l1.size).toBe(0);
    expect(() => createCache({ records, ttlMs: Number.NaN })).toThrow(InvalidArgumentError);
    expect(() => createCache({ records, tllMs: 5 } as never)).toThrow(/unknown option "tllMs"/);
    expect(() => createCache({ records: {} as never })).toThrow(/records must have a get\(\) method/);
  });

  it('returns frozen values so a caller cannot corrupt the cache', async () => {
    const records = memoryRecords<{ n: number[] }>();
    const cache = createCache({ records });
    const value = { n: [1] };
    await cache.set('f', value);
    value.n.push(2);
    const got = await cache.get('f');
    expect(got).toEqual({ n: [1] });
    expect(Object.isFrozen(got)).toBe(true);
    expect(Object.isFrozen(got!.n)).toBe(true);
    expect(Object.isFrozen(value)).toBe(false);
  });

  it('getMany: L1 hits, one database call for the rest, absent keys left out', async () => {
    const records = memoryRecords<number>();
    for (let i = 0; i < 5; i++) await records.set(`k${i}`, i);
    const cache = createCache({ records });
    await cache.get('k0');
    const before = { get: records.calls.get, getMany: records.calls.getMany };
    const got = await cache.getMany(['k0', 'k1', 'k2', 'missing', 'k1']);
    expect([...got]).toEqual([
      ['k0', 0],
      ['k1', 1],
      ['k2', 2],
    ]);
    expect(records.calls.getMany - before.getMany).toBe(1);
    expect(records.calls.get - before.get).toBe(0);
    expect(cache.stats().l1).toMatchObject({ hits: 1, misses: 4 });
    const again = await cache.getMany(['k1', 'k2', 'missing']);
    expect(again.size).toBe(2);
    expect(records.calls.getMany - before.getMany).toBe(1);
  });

  it('setMany writes all keys in one transaction with one version each', async () => {
    const records = memoryRecords<string>();
    const cache = createCache({ records });
    const result = await cache.setMany([
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
      { key: 'a', value: '3' },
    ]);
    expect(records.calls.setMany).toBe(1);
    expect(result.size).toBe(2);
    expect(await cache.get('a')).toBe('3');
    expect(await cache.get('b')).toBe('2');
  });

  it('close() refuses later calls', async () => {
    const cache = createCache({ records: memoryRecords<number>() });
    await cache.close();
    await expect(cache.get('a')).rejects.toMatchObject({ code: 'WT_CACHE_CLOSED' });
    await expect(cache.set('a', 1)).rejects.toMatchObject({ code: 'WT_CACHE_CLOSED' });
  });
});

describe('the default L1', () => {
  it('counts SIEVE evictions in the stats', async () => {
    const records = memoryRecords<number>();
    const cache = createCache({ records });
    for (let i = 0; i < 10_050; i++) await cache.set(`k${i}`, i);
    expect(cache.stats().l1.evictions).toBe(50);
  });
});
