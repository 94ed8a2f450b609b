import { describe, expect, it } from 'vitest';
import { CacheTierError, createCache, memoryRecords } from '../src/index.js';
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
