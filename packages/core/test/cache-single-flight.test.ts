import { describe, expect, it } from 'vitest';
import { createCache, memoryRecords, memoryStore } from '../src/index.js';
import { gate, readAfterRemoteWrite, tick } from './helpers.js';

describe('single flight: a read joins only a load that began after it', () => {
  for (const read of ['get', 'getEntry', 'getMany', 'getManyEntries'] as const) {
    it(`${read} begun after another instance's acknowledged write returns it (no bus, no L1)`, async () => {
      const { first, second, written } = await readAfterRemoteWrite(read, {});
      expect(written).toBe(2);
      expect(first).toBe('v1'); // began before the write: either version is right
      expect(second).toBe('v2');
    });

    it(`${read} with L2: the same`, async () => {
      expect((await readAfterRemoteWrite(read, { l2: memoryStore() })).second).toBe('v2');
    });

    it(`${read} with the guard off (join any load in flight) returns the older version`, async () => {
      const { second } = await readAfterRemoteWrite(read, {
        debug: { unsafeDisable: ['join-earlier-load'] },
      });
      expect(second).toBe('v1');
    });
  }

  it('a burst of reads loads the database once with L1; without tiers, once per load begun after them', async () => {
    const records = memoryRecords<string>();
    await records.set('k', 'v');
    const cache = createCache<string>({ records });
    const reads = await Promise.all(Array.from({ length: 50 }, () => cache.get('k')));
    expect(new Set(reads)).toEqual(new Set(['v']));
    // The first read's load fills L1; the 49 others waited for it (it began before them) and hit L1.
    expect(records.calls.get).toBe(1);
    const bare = memoryRecords<string>();
    await bare.set('k', 'v');
    const noTiers = createCache<string>({ records: bare, l1: false });
    const more = await Promise.all(Array.from({ length: 50 }, () => noTiers.get('k')));
    expect(new Set(more)).toEqual(new Set(['v']));
    // The 49 waited for the first load, then shared one load begun after them: one at a time.
    expect(bare.calls.get).toBe(2);
  });

  it('a read that waited for an earlier load is counted once (getMany: one L1 miss, no extra hit)', async () => {
    const records = memoryRecords<string>();
    await records.set('k', 'v');
    const paused = gate();
    const reached = gate();
    let pause = true;
    const cache = createCache<string>({
      records,
      debug: {
        hooks: {
          afterRecordRead: async () => {
            if (!pause) return;
            pause = false;
            reached.open();
            await paused.opened;
          },
        },
      },
    });
    const first = cache.get('k');
    await reached.opened;
    const second = cache.getMany(['k']);
    await tick();
    paused.open();
    expect(await first).toBe('v');
    expect((await second).get('k')).toBe('v');
    const stats = cache.stats();
    expect(stats.reads).toBe(2);
    expect(stats.l1.hits + stats.l1.misses).toBe(2);
  });
});
