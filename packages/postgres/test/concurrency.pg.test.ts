/**
 * Concurrency on a real server through a pg.Pool (max 10): versions of one key strictly increase in
 * commit order and none is lost; compare-and-set loses no update; delete and re-create go up.
 */
import { VersionConflictError } from '@writethrough/core';
import { randomKey } from '@writethrough/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSchema } from './helpers.ts';

const db = serverSchema();
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describe('32 concurrent writers on one key through a pg.Pool (max 10)', () => {
  it('every acknowledged version is distinct, reads never go back, a read after an ack sees at least its version, the final row holds the highest', async () => {
    const store = db.store<{ writer: number; n: number }>();
    const key = randomKey('wt-concurrency');
    const acks: { writer: number; n: number; version: number; ackedAt: number }[] = [];
    const reads: { startedAt: number; version: number }[] = [];
    let writing = true;
    const reader = async () => {
      const seen: number[] = [];
      while (writing) {
        const startedAt = performance.now();
        const read = await store.get(key);
        reads.push({ startedAt, version: read.version });
        seen.push(read.version);
      }
      return seen;
    };
    const writer = async (writer: number) => {
      const mine: number[] = [];
      for (let n = 0; n < 5; n++) {
        const { version } = await store.set(key, { writer, n });
        acks.push({ writer, n, version, ackedAt: performance.now() });
        mine.push(version);
      }
      return mine;
    };
    const readers = [reader(), reader()];
    const perWriter = await Promise.all(Array.from({ length: 32 }, (_, i) => writer(i)));
    writing = false;
    const seenByReader = await Promise.all(readers);

    const versions = acks.map((a) => a.version);
    expect(new Set(versions).size, 'distinct versions').toBe(32 * 5);
    for (const [i, mine] of perWriter.entries()) {
      for (let j = 1; j < mine.length; j++)
        expect(mine[j], `writer ${i}, write ${j}`).toBeGreaterThan(mine[j - 1]!);
    }
    for (const seen of seenByReader) {
      for (let j = 1; j < seen.length; j++)
        expect(seen[j], `read ${j} of a reader`).toBeGreaterThanOrEqual(seen[j - 1]!);
    }
    // Real-time order: a read that started after a write was acknowledged sees that write or a later one.
    for (const read of reads) {
      const floor = Math.max(0, ...acks.filter((a) => a.ackedAt < read.startedAt).map((a) => a.version));
      expect(read.version, 'a read after acknowledged writes').toBeGreaterThanOrEqual(floor);
    }
    const highest = acks.reduce((a, b) => (b.version > a.version ? b : a));
    expect(await store.get(key), 'the final row').toEqual({
      found: true,
      value: { writer: highest.writer, n: highest.n },
      version: highest.version,
    });
  });

  it('32 read-modify-write increments with ifVersion lose no update; the versions of the successful writes form one increasing chain', async () => {
    const store = db.store<number>();
    const key = randomKey('wt-cas');
    const created = await store.set(key, 0);
    const chain: { from: number; to: number }[] = [];
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (;;) {
          const read = await store.get(key);
          if (!read.found) throw new Error('the counter vanished');
          try {
            const { version } = await store.set(key, (read.value as number) + 1, { ifVersion: read.version });
            chain.push({ from: read.version, to: version });
            return;
          } catch (error) {
            if (!(error instanceof VersionConflictError)) throw error;
            expect(error.currentVersion, 'the conflict names a newer version').toBeGreaterThan(read.version);
            conflicts++;
          }
        }
      }),
    );
    const final = await store.get(key);
    expect(final.found && final.value, 'the counter').toBe(32);
    // Each successful write replaced the previous one: following `from → to` from the creation visits all 32.
    const byFrom = new Map(chain.map((link) => [link.from, link.to]));
    let at = created.version;
    for (let i = 0; i < 32; i++) {
      const next = byFrom.get(at);
      expect(next, `link ${i} of the chain`).toBeDefined();
      expect(next!).toBeGreaterThan(at);
      at = next!;
    }
    expect(final.version, 'the end of the chain').toBe(at);
    expect(conflicts, 'some increments conflicted and retried').toBeGreaterThan(0);
  });

  it('delete then re-create gets a higher version; concurrent sets and deletes get distinct versions and the last one wins', async () => {
    const store = db.store<number>();
    const key = randomKey('wt-recreate');
    const first = await store.set(key, 1);
    const deleted = await store.delete(key);
    expect(deleted.deleted).toBe(true);
    expect(deleted.version).toBeGreaterThan(first.version);
    expect(await store.get(key)).toEqual({ found: false, version: deleted.version });
    const again = await store.set(key, 2);
    expect(again.version).toBeGreaterThan(deleted.version);

    const results = await Promise.all(
      Array.from({ length: 32 }, async (_, i) =>
        i % 3 === 0
          ? { op: 'delete' as const, i, ...(await store.delete(key)) }
          : { op: 'set' as const, i, deleted: false, ...(await store.set(key, i)) },
      ),
    );
    const committed = results.filter((r) => r.op === 'set' || r.deleted);
    expect(new Set(committed.map((r) => r.version)).size, 'distinct committed versions').toBe(
      committed.length,
    );
    for (const r of results)
      expect(r.version, `op ${r.i} above the re-create`).toBeGreaterThan(again.version);
    const last = committed.reduce((a, b) => (b.version > a.version ? b : a));
    const final = await store.get(key);
    if (last.op === 'set') expect(final).toEqual({ found: true, value: last.i, version: last.version });
    else expect(final).toEqual({ found: false, version: last.version });
    // A delete that found nothing answered the tombstone it saw, which some delete committed.
    const tombstones = new Set(results.filter((r) => r.op === 'delete' && r.deleted).map((r) => r.version));
    for (const r of results) {
      if (r.op === 'delete' && !r.deleted)
        expect(tombstones, `delete ${r.i} answered a committed tombstone`).toContain(r.version);
    }
  });
});
