/**
 * The tests of `purgeTombstones` that run on both PGlite and a server, in both modes: which
 * tombstones go (by age, set back in time with SQL), live rows untouched, batch bounds, versions
 * after a purge, invalid options, errors. Each test works on tables of its own.
 */
import { expect, it } from 'vitest';
import { migrate, postgresRecords } from '../src/index.ts';
import { purgeStatement, purgeTombstones } from '../src/purge.ts';

/** What the tests need of a client: query with params, rows as objects. */
export interface PurgeTestClient {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec?(text: string): Promise<unknown>;
}

export type PurgeMode = 'key/value' | 'own table';
export const purgeModes: readonly PurgeMode[] = ['key/value', 'own table'];

let tables = 0;

/**
 * A fresh table in `schema` for one test, in the given mode, migrated: its store options (also the
 * options of `purgeTombstones`) and SQL helpers to age and count its tombstones.
 */
export async function purgeTable(client: PurgeTestClient, schema: string, mode: PurgeMode) {
  const table = `purge_${mode === 'key/value' ? 'kv' : 'own'}_${++tables}_${Math.floor(Math.random() * 1e6)}`;
  const s = `"${schema}"`;
  let options: { schema: string; table: string; key?: string; columns?: string[] };
  let tombstones: string;
  let ageColumn: string;
  let liveTable: string;
  if (mode === 'key/value') {
    options = { schema, table };
    await migrate(client, options);
    tombstones = `${s}."${table}" WHERE deleted`;
    ageColumn = 'updated_at';
    liveTable = `${s}."${table}" WHERE NOT deleted`;
  } else {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE ${s}."${table}" (id text PRIMARY KEY, doc jsonb)`);
    options = { schema, table, key: 'id', columns: ['doc'] };
    await migrate(client, { ...options, addVersionColumn: true });
    tombstones = `${s}."${table}_wt_tombstones" WHERE true`;
    ageColumn = 'deleted_at';
    liveTable = `${s}."${table}" WHERE true`;
  }
  const q = async (text: string, params?: unknown[]) =>
    (await client.query(text, params)).rows as Record<string, unknown>[];
  return {
    options,
    store: (c: PurgeTestClient = client) =>
      postgresRecords<{ n: number }>({
        client: c,
        ...options,
        ...(mode === 'own table'
          ? { toRow: (v: unknown) => ({ doc: v }), fromRow: (r: Record<string, unknown>) => r.doc }
          : {}),
      } as Parameters<typeof postgresRecords<{ n: number }>>[0]),
    /** Sets the age of these keys' tombstones (and, in key/value mode, of live rows too) back by `ms`. */
    async age(keys: readonly string[], ms: number): Promise<void> {
      const target = mode === 'key/value' ? `${s}."${table}"` : `${s}."${table}_wt_tombstones"`;
      await q(
        `UPDATE ${target} SET ${ageColumn} = ${ageColumn} - $2::bigint * interval '1 millisecond' WHERE key = ANY($1::text[])`,
        [`{${keys.map((k) => `"${k}"`).join(',')}}`, ms],
      );
    },
    /** The keys that have a tombstone, sorted. */
    async tombstoneKeys(): Promise<string[]> {
      return (await q(`SELECT key::text AS key FROM ${tombstones} ORDER BY key`)).map((r) => String(r.key));
    },
    /** The live rows: key, version, value. */
    async liveRows(): Promise<{ key: string; version: string }[]> {
      const key = mode === 'key/value' ? 'key' : 'id';
      return (
        await q(`SELECT ${key}::text AS key, version::text AS version FROM ${liveTable} ORDER BY ${key}`)
      ).map((r) => ({ key: String(r.key), version: String(r.version) }));
    },
  };
}

/** A client that counts the statements sent through it. */
export function counting(client: PurgeTestClient) {
  const counter = {
    statements: 0,
    query(text: string, params?: unknown[]) {
      counter.statements++;
      return client.query(text, params);
    },
  };
  return counter;
}

const HOUR = 3_600_000;

/** Registers the shared tests; `env()` answers the client and a schema of the file's own. */
export function purgeTests(env: () => { client: PurgeTestClient; schema: string }): void {
  for (const mode of purgeModes) {
    it(`${mode}: only tombstones older than the bound go; younger tombstones and live rows (however old) stay`, async () => {
      const { client, schema } = env();
      const t = await purgeTable(client, schema, mode);
      const store = t.store();
      for (const key of ['live-old', 'live-new', 'gone-1', 'gone-2', 'young', 'recent'])
        await store.set(key, { n: 1 });
      const deletes = new Map<string, number>();
      for (const key of ['gone-1', 'gone-2', 'young', 'recent'])
        deletes.set(key, (await store.delete(key)).version);
      await t.age(['gone-1', 'gone-2', 'live-old'], 2 * HOUR);
      await t.age(['young'], HOUR / 2);
      const liveBefore = await t.liveRows();
      expect(liveBefore.map((r) => r.key)).toEqual(['live-new', 'live-old']);

      expect(await purgeTombstones(client, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 2 });
      expect(await t.tombstoneKeys()).toEqual(['recent', 'young']);
      expect(await t.liveRows(), 'live rows untouched, versions unchanged').toEqual(liveBefore);
      expect(await store.get('live-old')).toMatchObject({ found: true, value: { n: 1 } });
      expect(await store.get('gone-1')).toEqual({ found: false, version: 0 });
      expect(await store.get('young')).toEqual({ found: false, version: deletes.get('young') });
      expect(await store.get('recent')).toEqual({ found: false, version: deletes.get('recent') });
      // Nothing older than the bound is left: purging again deletes nothing.
      expect(await purgeTombstones(client, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 0 });
      // The minimum bound: the half-hour-old one goes, the one deleted just now stays.
      expect(await purgeTombstones(client, { ...t.options, olderThanMs: 60_000 })).toEqual({ purged: 1 });
      expect(await t.tombstoneKeys()).toEqual(['recent']);
    });

    it(`${mode}: the default bound is one day`, async () => {
      const { client, schema } = env();
      const t = await purgeTable(client, schema, mode);
      const store = t.store();
      for (const key of ['a', 'b']) {
        await store.set(key, { n: 1 });
        await store.delete(key);
      }
      await t.age(['a'], 23 * HOUR);
      await t.age(['b'], 25 * HOUR);
      expect(await purgeTombstones(client, t.options)).toEqual({ purged: 1 });
      expect(await t.tombstoneKeys()).toEqual(['a']);
    });

    it(`${mode}: batches are bounded by batchSize, the total by maxRows; the loop stops at the first short batch`, async () => {
      const { client, schema } = env();
      const t = await purgeTable(client, schema, mode);
      const store = t.store();
      const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      for (const key of keys) {
        await store.set(key, { n: 1 });
        await store.delete(key);
      }
      await store.set('live', { n: 2 });
      await t.age(keys, 2 * HOUR);
      const c = counting(client);
      // maxRows 15 in batches of 10: 10, then 5.
      expect(
        await purgeTombstones(c, { ...t.options, olderThanMs: HOUR, batchSize: 10, maxRows: 15 }),
      ).toEqual({ purged: 15 });
      expect(c.statements).toBe(2);
      expect(await t.tombstoneKeys()).toHaveLength(10);
      // Batches of 4 over the 10 left: 4, 4, 2 (short: stop).
      c.statements = 0;
      expect(await purgeTombstones(c, { ...t.options, olderThanMs: HOUR, batchSize: 4 })).toEqual({
        purged: 10,
      });
      expect(c.statements).toBe(3);
      expect(await t.tombstoneKeys()).toEqual([]);
      // Nothing to purge: one statement, 0.
      c.statements = 0;
      expect(await purgeTombstones(c, { ...t.options, olderThanMs: HOUR, batchSize: 4 })).toEqual({
        purged: 0,
      });
      expect(c.statements).toBe(1);
      // An exact multiple of the batch: 4, 4, then an empty batch.
      for (const key of keys.slice(0, 8)) {
        await store.set(key, { n: 3 });
        await store.delete(key);
      }
      await t.age(keys.slice(0, 8), 2 * HOUR);
      c.statements = 0;
      expect(await purgeTombstones(c, { ...t.options, olderThanMs: HOUR, batchSize: 4 })).toEqual({
        purged: 8,
      });
      expect(c.statements).toBe(3);
      expect((await t.liveRows()).map((r) => r.key)).toEqual(['live']);
    });

    it(`${mode}: after a purge get answers found:false at version 0, and a re-create gets a version above the purged tombstone's`, async () => {
      const { client, schema } = env();
      const t = await purgeTable(client, schema, mode);
      const store = t.store();
      const created = await store.set('x', { n: 1 });
      await store.set('y', { n: 1 });
      const xDeleted = await store.delete('x');
      const yDeleted = await store.delete('y');
      expect(xDeleted.version).toBeGreaterThan(created.version);
      expect(await store.get('x')).toEqual({ found: false, version: xDeleted.version });
      await t.age(['x', 'y'], 2 * HOUR);
      expect(await purgeTombstones(client, { ...t.options, olderThanMs: HOUR })).toEqual({ purged: 2 });
      expect(await store.get('x')).toEqual({ found: false, version: 0 });
      expect(await store.getMany(['x', 'y'])).toEqual(
        new Map([
          ['x', { found: false, version: 0 }],
          ['y', { found: false, version: 0 }],
        ]),
      );
      // A delete of a purged key finds nothing; an unconditional set and a create-if-absent both
      // take a fresh version from the sequence, above the delete's.
      expect(await store.delete('x')).toEqual({ deleted: false, version: 0 });
      const again = await store.set('x', { n: 2 });
      expect(again.version).toBeGreaterThan(xDeleted.version);
      expect(await store.get('x')).toEqual({ found: true, value: { n: 2 }, version: again.version });
      const yAgain = await store.set('y', { n: 3 }, { ifVersion: 0 });
      expect(yAgain.version).toBeGreaterThan(yDeleted.version);
      const yDeletedAgain = await store.delete('y', { ifVersion: yAgain.version });
      expect(yDeletedAgain.version).toBeGreaterThan(yAgain.version);
      expect(await store.get('y')).toEqual({ found: false, version: yDeletedAgain.version });
    });

    it(`${mode}: invalid options are refused with InvalidArgumentError before any statement`, async () => {
      const { client, schema } = env();
      const t = await purgeTable(client, schema, mode);
      const c = counting(client);
      const refused = async (options: object, what: string) => {
        await expect(purgeTombstones(c, { ...t.options, ...options } as never), what).rejects.toMatchObject({
          code: 'WT_INVALID_ARGUMENT',
        });
      };
      for (const olderThanMs of [
        59_999,
        0,
        -1,
        60_000.5,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        '60000',
        null,
      ])
        await refused({ olderThanMs }, `olderThanMs ${String(olderThanMs)}`);
      for (const batchSize of [0, -1, 1.5, 100_001, Number.NaN, '10'])
        await refused({ batchSize }, `batchSize ${String(batchSize)}`);
      for (const maxRows of [0, -1, 2.5, Number.POSITIVE_INFINITY, '10'])
        await refused({ maxRows }, `maxRows ${String(maxRows)}`);
      for (const name of ['a"b', "x'; DROP TABLE y; --", '', '1t', 'x'.repeat(64)])
        await refused({ table: name }, `table ${JSON.stringify(name)}`);
      await refused({ schema: 'no such' }, 'schema');
      expect(c.statements, 'no statement was sent').toBe(0);
      await expect(purgeTombstones(c, { ...t.options, olderThanMs: 30_000 })).rejects.toThrow(
        /olderThanMs must be an integer from 60000 .*a tombstone must outlive every cache mark/,
      );
      await expect(purgeTombstones({} as never, t.options)).rejects.toMatchObject({
        code: 'WT_INVALID_ARGUMENT',
      });
      const aborted = AbortSignal.abort();
      await expect(purgeTombstones(c, { ...t.options, signal: aborted })).rejects.toMatchObject({
        code: 'WT_ABORTED',
      });
      expect(c.statements).toBe(0);
    });
  }

  it('a statement error is a RecordStoreError with the SQLSTATE, not retryable for a missing table', async () => {
    const { client, schema } = env();
    for (const options of [
      { schema, table: 'no_such_table' },
      { schema, table: 'no_such_table', key: 'id' },
    ]) {
      const error = await purgeTombstones(client, options).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'WT_RECORD_STORE', retryable: false, outcome: 'failed' });
      expect((error as Error).message).toMatch(/^purgeTombstones failed after 0 tombstones: \[42P01\] /);
      expect((error as Error).cause).toBeDefined();
    }
  });

  it('the statement rechecks the tombstone condition on the row it deletes and skips locked rows', () => {
    const kv = purgeStatement({ schema: 's', table: 't' });
    expect(kv).toContain('FOR UPDATE SKIP LOCKED');
    expect(kv).toMatch(/DELETE FROM "s"\."t" AS t WHERE .* AND t\.deleted AND t\.updated_at < now\(\)/);
    const own = purgeStatement({ schema: 's', table: 't', key: 'id' });
    expect(own).toContain('FOR UPDATE SKIP LOCKED');
    expect(own).toMatch(/DELETE FROM "s"\."t_wt_tombstones" AS b WHERE .* AND b\.deleted_at < now\(\)/);
  });
}
