/**
 * `purgeTombstones` on a Postgres server (a schema of its own, dropped afterwards): the shared tests
 * through a pg.Pool, a pg.Client, and forced interleavings with a writer that re-creates or
 * re-deletes a key in an open transaction while a purge runs — the purge skips the row it holds
 * (SKIP LOCKED), and, when made to wait for it, rechecks the tombstone condition on the committed
 * row (EvalPlanQual) and leaves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeStatement, purgeTombstones } from '../src/purge.ts';
import { serverSchema } from './helpers.ts';
import { actor, tracked, waitingFor } from './lock-wait.ts';
import { type PurgeMode, purgeTable, purgeTests } from './purge-shared.ts';

const HOUR = 3_600_000;
const server = serverSchema({ migrate: false });
const { schema } = server;
beforeAll(server.setup);
afterAll(server.teardown);

describe('purgeTombstones on a Postgres server (pg.Pool)', () => {
  purgeTests(() => ({ client: server.pool, schema }));
});

/** Two old tombstones, `k` (the contended key) and `j` (a bystander), and a writer B on a connection of its own. */
async function contended(mode: PurgeMode) {
  const t = await purgeTable(server.pool, schema, mode);
  const store = t.store();
  for (const key of ['k', 'j']) await store.set(key, { n: 1 });
  const kDeleted = await store.delete('k');
  await store.delete('j');
  await t.age(['k', 'j'], 2 * HOUR);
  const b = await actor();
  return { t, store, kDeleted, b, storeB: t.store(b) };
}

describe('purgeTombstones against a concurrent writer of the same key', () => {
  it('works through a pg.Client', async () => {
    const t = await purgeTable(server.pool, schema, 'key/value');
    await t.store().set('a', { n: 1 });
    await t.store().delete('a');
    await t.age(['a'], 2 * HOUR);
    const client = await actor();
    try {
      expect(await purgeTombstones(client, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 1 });
    } finally {
      await client.end();
    }
  });

  for (const mode of ['key/value', 'own table'] as const) {
    it(`${mode}: a re-delete in an open transaction holds the tombstone: the purge skips it without waiting, and the new tombstone stays`, async () => {
      const { t, store, kDeleted, b, storeB } = await contended(mode);
      try {
        await b.query('BEGIN');
        const recreated = await storeB.set('k', { n: 2 });
        const redeleted = await storeB.delete('k');
        expect(recreated.version).toBeGreaterThan(kDeleted.version);
        // B still holds the row: the purge answers without waiting for it, with the bystander only.
        expect(await purgeTombstones(server.pool, { ...t.options, olderThanMs: HOUR })).toEqual({
          purged: 1,
        });
        await b.query('COMMIT');
        expect(await t.tombstoneKeys()).toEqual(['k']);
        expect(await store.get('k')).toEqual({ found: false, version: redeleted.version });
        // The new tombstone is young: not purged.
        expect(await purgeTombstones(server.pool, { ...t.options, olderThanMs: HOUR })).toEqual({
          purged: 0,
        });
      } finally {
        await b.end();
      }
    });
  }

  it('key/value: a re-create in an open transaction holds the tombstone row: the purge skips it without waiting, and the re-created row survives', async () => {
    const { t, store, kDeleted, b, storeB } = await contended('key/value');
    try {
      await b.query('BEGIN');
      const recreated = await storeB.set('k', { n: 2 });
      expect(await purgeTombstones(server.pool, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 1 });
      await b.query('COMMIT');
      expect(await store.get('k')).toEqual({ found: true, value: { n: 2 }, version: recreated.version });
      expect(recreated.version).toBeGreaterThan(kDeleted.version);
      expect(await t.tombstoneKeys()).toEqual([]);
    } finally {
      await b.end();
    }
  });

  it('own table: a re-create in an open transaction does not touch the tombstone table: the old tombstone goes, the re-created row stays', async () => {
    const { t, store, kDeleted, b, storeB } = await contended('own table');
    try {
      await b.query('BEGIN');
      const recreated = await storeB.set('k', { n: 2 });
      expect(await purgeTombstones(server.pool, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 2 });
      await b.query('COMMIT');
      expect(await store.get('k')).toEqual({ found: true, value: { n: 2 }, version: recreated.version });
      expect(recreated.version).toBeGreaterThan(kDeleted.version);
      expect(await t.liveRows()).toEqual([{ key: 'k', version: String(recreated.version) }]);
    } finally {
      await b.end();
    }
  });

  // The purge statement made to wait for the row (SKIP LOCKED removed): its snapshot still sees the
  // old tombstone, B commits a change of the row, and the lock's recheck on the committed row
  // (EvalPlanQual: deleted / updated_at, deleted_at) must exclude it.
  const changes = [
    { mode: 'key/value', change: 're-create' },
    { mode: 'key/value', change: 're-delete' },
    { mode: 'own table', change: 're-delete' },
  ] as const;
  for (const { mode, change } of changes) {
    it(`${mode}: a purge that waited for a concurrent ${change} rechecks the committed row and leaves it (EvalPlanQual)`, async () => {
      const { t, store, b, storeB } = await contended(mode);
      const p = await actor();
      try {
        const waiting = purgeStatement(t.options).replace(' SKIP LOCKED', '');
        expect(waiting).not.toContain('SKIP LOCKED');
        await b.query('BEGIN');
        const written = await storeB.set('k', { n: 2 });
        const expected =
          change === 're-create'
            ? { found: true, value: { n: 2 }, version: written.version }
            : { found: false, version: (await storeB.delete('k')).version };
        const purge = tracked(p.query(waiting, [HOUR, 1000]));
        expect(await waitingFor(server.pool, p.pid, purge.settled)).toBe('transactionid');
        await b.query('COMMIT');
        const { rows } = await purge.promise;
        expect(rows, 'only the bystander was purged').toEqual([{ purged: 1 }]);
        expect(await store.get('k')).toEqual(expected);
        expect(await store.get('j')).toEqual({ found: false, version: 0 });
      } finally {
        await Promise.all([b.end(), p.end()]);
      }
    });
  }

  it('concurrent purges share the work: every old tombstone purged exactly once', async () => {
    const t = await purgeTable(server.pool, schema, 'key/value');
    const store = t.store();
    const keys = Array.from({ length: 60 }, (_, i) => `c${i}`);
    await store.setMany(keys.map((key) => ({ key, value: { n: 1 } })));
    for (const key of keys) await store.delete(key);
    await t.age(keys, 2 * HOUR);
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        purgeTombstones(server.pool, { ...t.options, olderThanMs: HOUR, batchSize: 7 }),
      ),
    );
    expect(results.reduce((sum, r) => sum + r.purged, 0)).toBe(60);
    expect(await t.tombstoneKeys()).toEqual([]);
  });
});
