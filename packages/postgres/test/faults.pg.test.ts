/**
 * Faults on a real server: the adapter's own backend terminated mid-write, statement_timeout, a
 * constraint violation inside a batch, an abort while a write waits, a refused connection, a
 * missing table. Each error is a RecordStoreError with the key, the driver error as cause, and
 * the classification the engine needs.
 */
import { AbortedError, CacheClosedError, RecordStoreError } from '@writethrough/core';
import { randomKey } from '@writethrough/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { serverConfig, serverSchema } from './helpers.ts';

const db = serverSchema();
beforeAll(() => db.setup());
afterAll(() => db.teardown());

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** Holds the row lock of `key` in an open transaction until `release()`. */
async function lockRow(key: string): Promise<{ release: () => Promise<void> }> {
  const locker = await db.pool.connect();
  await locker.query('BEGIN');
  await locker.query(`SELECT 1 FROM "${db.schema}"."${db.table}" WHERE key = $1 FOR UPDATE`, [key]);
  return {
    release: async () => {
      await locker.query('ROLLBACK');
      locker.release();
    },
  };
}

/** Waits until a backend is waiting on a lock. */
async function waitForLockWait(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [
      pid,
    ]);
    if (rows[0]?.wait_event_type === 'Lock') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`backend ${pid} never waited on a lock`);
}

describe('faults on a Postgres server', () => {
  it('pg_terminate_backend of the store’s own backend while a write waits: retryable, outcome unknown, 57P01 as the cause; the row is unchanged', async () => {
    const client = new pg.Client(serverConfig());
    client.on('error', () => {});
    await client.connect();
    try {
      const store = postgresRecords({ client, schema: db.schema, table: db.table });
      const key = randomKey('wt-terminate');
      const before = await store.set(key, 'before');
      const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const lock = await lockRow(key);
      const write = caught(store.set(key, 'during'));
      await waitForLockWait(pid);
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await write;
      await lock.release();
      expect(error).toBeInstanceOf(RecordStoreError);
      expect(error).toMatchObject({ key, retryable: true, outcome: 'unknown', cause: { code: '57P01' } });
      expect(store.classifyError(error)).toEqual({ retryable: true, outcome: 'unknown' });
      const reader = db.store();
      expect(await reader.get(key)).toEqual({ found: true, value: 'before', version: before.version });
      // The client is gone: the next call fails as never sent (retryable, failed), not as unknown.
      const next = await caught(store.get(key));
      expect(next).toMatchObject({ retryable: true, outcome: 'failed' });
    } finally {
      await client.end().catch(() => {});
    }
  });

  it('statement_timeout while a write waits for the row lock: retryable, certainly failed (57014), nothing written', async () => {
    const pool = new pg.Pool({ ...serverConfig(), max: 1, options: '-c statement_timeout=200' });
    try {
      const store = postgresRecords({ client: pool, schema: db.schema, table: db.table });
      const key = randomKey('wt-timeout');
      const before = await store.set(key, 'before');
      const lock = await lockRow(key);
      const error = await caught(store.set(key, 'during'));
      const conditional = await caught(store.set(key, 'during', { ifVersion: before.version }));
      const deletion = await caught(store.delete(key));
      await lock.release();
      for (const e of [error, conditional, deletion]) {
        expect(e).toMatchObject({ key, retryable: true, outcome: 'failed', cause: { code: '57014' } });
      }
      expect(await store.get(key)).toEqual({ found: true, value: 'before', version: before.version });
    } finally {
      await pool.end();
    }
  });

  it('a constraint violation inside a setMany fails the whole batch (permanent, 23514) and no row commits', async () => {
    const table = 'constrained';
    const schema = db.schema;
    const { migrate } = await import('../src/index.ts');
    await migrate(db.pool, { schema, table });
    await db.pool.query(
      `ALTER TABLE "${schema}"."${table}" ADD CONSTRAINT no_poison CHECK (value->>'poison' IS NULL)`,
    );
    const store = postgresRecords({ client: db.pool, schema, table });
    const [a, b, c] = [randomKey('wt-batch'), randomKey('wt-batch'), randomKey('wt-batch')];
    const before = await store.set(a, { n: 0 });
    const error = await caught(
      store.setMany([
        { key: a, value: { n: 1 } },
        { key: b, value: { poison: 'yes' } },
        { key: c, value: { n: 3 } },
      ]),
    );
    expect(error).toMatchObject({ retryable: false, outcome: 'failed', cause: { code: '23514' } });
    expect(await store.get(a)).toEqual({ found: true, value: { n: 0 }, version: before.version });
    expect(await store.get(b)).toEqual({ found: false, version: 0 });
    expect(await store.get(c)).toEqual({ found: false, version: 0 });
    const single = await caught(store.set(b, { poison: 1 }));
    expect(single).toMatchObject({ key: b, retryable: false, outcome: 'failed', cause: { code: '23514' } });
  });

  it('an abort before the call sends nothing (AbortedError); an abort while a write waits is an unknown outcome; an aborted read is AbortedError', async () => {
    const store = db.store();
    const key = randomKey('wt-abort');
    const before = await store.set(key, 'before');
    const aborted = AbortSignal.abort(new Error('gone'));
    expect(await caught(store.set(key, 'x', { signal: aborted }))).toBeInstanceOf(AbortedError);
    expect(await caught(store.get(key, { signal: aborted }))).toBeInstanceOf(AbortedError);
    expect(await caught(store.setMany([{ key, value: 1 }], { signal: aborted }))).toBeInstanceOf(
      AbortedError,
    );

    const lock = await lockRow(key);
    const controller = new AbortController();
    const write = caught(store.set(key, 'during', { signal: controller.signal }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('caller gave up'));
    const error = await write;
    expect(error).toBeInstanceOf(RecordStoreError);
    expect(error).toMatchObject({ key, outcome: 'unknown', cause: expect.any(AbortedError) });
    await lock.release();
    // The statement was not cancelled: it committed once the lock was released.
    await expect.poll(async () => (await store.get(key)).version).toBeGreaterThan(before.version);
    expect(await store.get(key)).toMatchObject({ found: true, value: 'during' });
  });

  it('a refused connection is retryable and certainly failed; a missing table is permanent (42P01); a closed store refuses calls', async () => {
    const refused = new pg.Pool({ host: '127.0.0.1', port: 1, database: 'test', user: 'postgres' });
    try {
      const error = await caught(postgresRecords({ client: refused }).set('k', 1));
      expect(error).toMatchObject({ key: 'k', retryable: true, outcome: 'failed' });
    } finally {
      await refused.end();
    }
    const missing = postgresRecords({ client: db.pool, schema: db.schema, table: 'never_migrated' });
    expect(await caught(missing.set('k', 1))).toMatchObject({
      retryable: false,
      outcome: 'failed',
      cause: { code: '42P01' },
    });
    expect(await caught(missing.get('k'))).toMatchObject({ retryable: false, outcome: 'failed' });
    const store = db.store();
    await store.close();
    expect(await caught(store.get('k'))).toBeInstanceOf(CacheClosedError);
    expect(await caught(store.set('k', 1))).toBeInstanceOf(CacheClosedError);
  });

  it('migrate: option `migrate: true` creates the table on first use; migrate runs twice, and concurrently, without error', async () => {
    const { migrate } = await import('../src/index.ts');
    const table = 'auto_migrated';
    const store = postgresRecords({ client: db.pool, schema: db.schema, table, migrate: true });
    const { version } = await store.set('k', 1);
    expect(await store.get('k')).toEqual({ found: true, value: 1, version });
    await Promise.all(Array.from({ length: 4 }, () => migrate(db.pool, { schema: `${db.schema}_m`, table })));
    await migrate(db.pool, { schema: `${db.schema}_m`, table });
    await db.pool.query(`DROP SCHEMA "${db.schema}_m" CASCADE`);
  });
});
