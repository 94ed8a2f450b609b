/**
 * The transactional outbox, on PGlite and on a server: every committed write leaves exactly one
 * (version, key) row, written by the write's own statement; settled writes are cleaned up by the
 * writer; the relay applies the rest to the cache at least once.
 */
import {
  createCache,
  InvalidArgumentError,
  memoryBus,
  memoryStore,
  SizeLimitError,
} from '@writethrough/core';
import { chaosCacheStore, randomKey } from '@writethrough/testing';
import { expect, it } from 'vitest';
import { migrate, migrationSql, outboxRelay, postgresRecords } from '../src/index.ts';
import type { TestClient } from './own-table-shared.ts';

export interface OutboxEnv {
  readonly client: TestClient;
  readonly schema: string;
}

async function outboxRows(client: TestClient, schema: string, table: string) {
  const result = await client.query(
    `SELECT key, version::text AS version FROM "${schema}"."${table}_wt_outbox" ORDER BY version`,
  );
  return (result.rows as { key: string; version: string }[]).map((r) => ({
    key: r.key,
    version: Number(r.version),
  }));
}

/** An L2 that can be taken down: every call throws while `chaos.throwAlways()` holds. */
function downableTier() {
  const inner = memoryStore();
  const { store, chaos } = chaosCacheStore<unknown>(inner);
  return {
    store,
    inner,
    state: {
      set down(on: boolean) {
        if (on) chaos.throwAlways();
        else chaos.reset();
      },
    },
  };
}

let tables = 0;

export function outboxTests(env: () => OutboxEnv): void {
  /** A key/value table of its own, migrated with an outbox. */
  async function kvStore(options: { cleanupIntervalMs?: number } = {}) {
    const { client, schema } = env();
    const table = `ob_kv_${++tables}`;
    await migrate(client, { schema, table, outbox: true });
    const records = postgresRecords<unknown>({
      client,
      schema,
      table,
      outbox: { cleanupIntervalMs: options.cleanupIntervalMs ?? 60_000 },
    });
    return { client, schema, table, records, rows: () => outboxRows(client, schema, table) };
  }

  it('migrationSql prints the outbox table only when asked for', () => {
    expect(migrationSql({ table: 't', outbox: true })).toContain(
      'CREATE TABLE IF NOT EXISTS "public"."t_wt_outbox"',
    );
    expect(migrationSql({ table: 't', outbox: { table: 'my_outbox' } })).toContain('"public"."my_outbox"');
    expect(migrationSql({ table: 't' })).not.toContain('outbox');
    expect(migrationSql({ table: 'users', key: 'id', outbox: true })).toContain('"public"."users_wt_outbox"');
    expect(() => postgresRecords({ client: env().client, outbox: { table: 'x; DROP TABLE y' } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => postgresRecords({ client: env().client, outbox: 'yes' as never })).toThrow(
      InvalidArgumentError,
    );
  });

  it('each committed write leaves one row with its version; refused and empty writes leave none', async () => {
    const { records, rows } = await kvStore();
    const a = await records.set('a', { n: 1 });
    const created = await records.set('b', 1, { ifVersion: 0 });
    const updated = await records.set('b', 2, { ifVersion: created.version });
    await expect(records.set('b', 3, { ifVersion: created.version })).rejects.toThrow(/version/i);
    await expect(records.set('a', 3, { ifVersion: 0 })).rejects.toThrow(/version/i);
    const deleted = await records.delete('a');
    expect(await records.delete('a')).toEqual({ deleted: false, version: deleted.version });
    await records.delete('never');
    const many = await records.setMany([
      { key: 'c', value: 1 },
      { key: 'd', value: 2 },
      { key: 'c', value: 3 },
    ]);
    expect(await rows()).toEqual(
      [
        { key: 'a', version: a.version },
        { key: 'b', version: created.version },
        { key: 'b', version: updated.version },
        { key: 'a', version: deleted.version },
        { key: 'd', version: many.get('d')!.version },
        { key: 'c', version: many.get('c')!.version },
      ].sort((x, y) => x.version - y.version),
    );
  });

  it('a batch that fails leaves no row of any of its keys (one statement)', async () => {
    const { client, schema, table, records, rows } = await kvStore();
    await client.query(
      `ALTER TABLE "${schema}"."${table}" ADD CONSTRAINT small CHECK (length(value::text) < 100)`,
    );
    await expect(
      records.setMany([
        { key: 'ok', value: 1 },
        { key: 'big', value: 'x'.repeat(200) },
      ]),
    ).rejects.toThrow(/23514|check/i);
    expect(await rows()).toEqual([]);
  });

  it('own-table mode: set, delete and setMany leave their rows; keys are the cache keys', async () => {
    const { client, schema } = env();
    const table = `ob_own_${++tables}`;
    await client.query(`CREATE TABLE "${schema}"."${table}" (id bigint PRIMARY KEY, name text)`);
    const options = {
      client,
      schema,
      table,
      key: 'id',
      keyType: 'bigint' as const,
      columns: ['name'],
      outbox: true,
    };
    await migrate(client, { ...options, addVersionColumn: true });
    const records = postgresRecords<{ name: string }>(options);
    const one = await records.set('1', { name: 'a' });
    const two = await records.set('1', { name: 'b' }, { ifVersion: one.version });
    const gone = await records.delete('1');
    const many = await records.setMany([
      { key: '2', value: { name: 'c' } },
      { key: '-3', value: { name: 'd' } },
    ]);
    expect(await outboxRows(client, schema, table)).toEqual(
      [
        { key: '1', version: one.version },
        { key: '1', version: two.version },
        { key: '1', version: gone.version },
        { key: '2', version: many.get('2')!.version },
        { key: '-3', version: many.get('-3')!.version },
      ].sort((x, y) => x.version - y.version),
    );
  });

  it('writes the engine reports settled are cleaned up by the writer; the others stay for the relay', async () => {
    const { records, rows } = await kvStore();
    const l2 = downableTier();
    const cache = createCache({ records, l2: l2.store, l1: false, batch: { maxWaitMs: 1 } });
    await cache.set('a', 1);
    await Promise.all([cache.set('b', 2), cache.set('c', 3)]);
    await cache.delete('a');
    l2.state.down = true;
    const unsettled = await cache.set('d', 4);
    l2.state.down = false;
    await records.flushOutbox();
    expect(await rows()).toEqual([{ key: 'd', version: unsettled.version }]);
    expect(records.outboxStats).toMatchObject({ settled: 4, cleaned: 4, cleanupErrors: 0 });
    await cache.close();
  });

  it('the cleanup runs by itself every cleanupIntervalMs, in one statement per interval', async () => {
    const { records, rows } = await kvStore({ cleanupIntervalMs: 20 });
    const cache = createCache({ records, l2: memoryStore(), l1: false });
    for (let i = 0; i < 5; i++) await cache.set(`k${i}`, i);
    await expect.poll(rows, { timeout: 5_000, interval: 20 }).toEqual([]);
    await cache.close();
  });

  it('the relay applies a write made around the cache: stale entries go, in every tier and on the other instances', async () => {
    const { records, rows } = await kvStore();
    const l2 = memoryStore();
    const hub = memoryBus();
    const a = createCache({
      name: 'c',
      records,
      l2,
      l1: memoryStore(),
      bus: hub.connect('a'),
      instanceId: 'a',
    });
    const b = createCache({
      name: 'c',
      records,
      l2,
      l1: memoryStore(),
      bus: hub.connect('b'),
      instanceId: 'b',
    });
    const key = randomKey('ob');
    await a.set(key, 'v1');
    await records.flushOutbox();
    expect(await b.get(key)).toBe('v1');
    // A writer that committed and then died: its row is all that is left of its write.
    const { version } = await records.set(key, 'v2');
    expect(await a.get(key)).toBe('v1');
    expect(await b.get(key)).toBe('v1');
    const relay = outboxRelay({ records, cache: a, graceMs: 0, autoStart: false });
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
    await new Promise((r) => setTimeout(r, 0));
    expect(await a.get(key)).toBe('v2');
    expect(await b.get(key)).toBe('v2');
    expect(l2.inspect(key).floor).toBeGreaterThanOrEqual(version);
    expect(await rows()).toEqual([]);
    await relay.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('rows younger than graceMs are left to their writer', async () => {
    const { records, rows } = await kvStore();
    await records.set('young', 1);
    const cache = createCache({ records, l2: memoryStore(), l1: false });
    const relay = outboxRelay({ records, cache, graceMs: 60_000, autoStart: false });
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 0, retried: 0 });
    expect(await rows()).toHaveLength(1);
    await relay.close();
  });

  it('at least once: a row the cache could not apply stays, and is applied when the tier is back', async () => {
    const { records, rows } = await kvStore();
    const l2 = downableTier();
    const cache = createCache({ records, l2: l2.store, l1: false });
    const key = randomKey('ob');
    await cache.set(key, 'v1');
    await records.flushOutbox();
    const { version } = await records.set(key, 'v2');
    const errors: unknown[] = [];
    const relay = outboxRelay({
      records,
      cache,
      graceMs: 0,
      autoStart: false,
      onError: (e) => errors.push(e),
    });
    l2.state.down = true;
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 0, retried: 1 });
    expect(errors).toHaveLength(1);
    expect(await rows()).toEqual([{ key, version }]);
    // Still stale in L2 while it is down (the relay is what will fix it).
    expect(l2.inner.inspect(key).entry?.version).toBeLessThan(version);
    l2.state.down = false;
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
    expect(l2.inner.inspect(key).entry).toBeUndefined();
    expect(await cache.get(key)).toBe('v2');
    expect(await rows()).toEqual([]);
    expect(relay.stats).toMatchObject({ applied: 1, retried: 1 });
    await relay.close();
  });

  it('a key the cache can never accept is dropped and reported, so it cannot wedge the relay', async () => {
    const { records, rows } = await kvStore();
    const long = 'k'.repeat(300);
    await records.set(long, 1);
    await records.set('fine', 2);
    const cache = createCache({ records, l2: memoryStore(), l1: false, maxKeyBytes: 100 });
    const errors: unknown[] = [];
    const relay = outboxRelay({
      records,
      cache,
      graceMs: 0,
      autoStart: false,
      onError: (e) => errors.push(e),
    });
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
    expect(relay.stats.refused).toBe(1);
    expect(errors[0]).toBeInstanceOf(SizeLimitError);
    expect(await rows()).toEqual([]);
    await relay.close();
  });

  it('a pass takes at most batchSize rows, oldest first; one invalidate per key at its highest version', async () => {
    const { records, rows } = await kvStore();
    const calls: [string, number | undefined][] = [];
    const cache = { invalidate: async (key: string, version?: number) => void calls.push([key, version]) };
    const v1 = await records.set('x', 1);
    const v2 = await records.set('x', 2);
    const v3 = await records.set('y', 3);
    const relay = outboxRelay({ records, cache, graceMs: 0, batchSize: 2, autoStart: false });
    expect(await relay.runOnce()).toEqual({ leader: true, applied: 2, retried: 0 });
    expect(calls).toEqual([['x', v2.version]]);
    expect(await rows()).toEqual([{ key: 'y', version: v3.version }]);
    expect(v1.version).toBeLessThan(v2.version);
    await relay.runOnce();
    expect(calls).toEqual([
      ['x', v2.version],
      ['y', v3.version],
    ]);
    await relay.close();
  });

  it('runs passes by itself every intervalMs once started', async () => {
    const { records, rows } = await kvStore();
    const cache = createCache({ records, l2: memoryStore(), l1: false });
    const relay = outboxRelay({ records, cache, graceMs: 0, intervalMs: 10 });
    await records.set('auto', 1);
    await expect.poll(rows, { timeout: 5_000, interval: 10 }).toEqual([]);
    expect(relay.stats.passes).toBeGreaterThan(0);
    await relay.close();
    await expect(relay.runOnce()).rejects.toThrow(/closed/);
  });

  it('refuses invalid options', () => {
    const records = postgresRecords({ client: env().client, outbox: true });
    const cache = { invalidate: async () => {} };
    expect(() => outboxRelay({ records: postgresRecords({ client: env().client }), cache })).toThrow(
      /outbox/,
    );
    expect(() => outboxRelay({ records, cache: {} as never })).toThrow(/invalidate/);
    expect(() => outboxRelay({ records, cache, intervalMs: 0 })).toThrow(InvalidArgumentError);
    expect(() => outboxRelay({ records, cache, graceMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => outboxRelay({ records, cache, batchSize: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => outboxRelay({ records, cache, connect: 'x' as never })).toThrow(InvalidArgumentError);
    expect(() => postgresRecords({ client: env().client, outbox: { cleanupIntervalMs: 0 } })).toThrow(
      InvalidArgumentError,
    );
  });
}
