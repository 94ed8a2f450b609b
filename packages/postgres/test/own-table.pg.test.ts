/**
 * The own-table mode on a Postgres server (a schema of its own, dropped afterwards): the conformance
 * suite, the shared own-table tests, and concurrent writers of one key through a pg.Pool — versions
 * strictly increase in commit order, also across deletes and re-creates.
 */
import { describeRecordStore, randomKey } from '@writethrough/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { newPool, randomSchema } from './helpers.ts';
import { createTables, docsOptions, ownTableTests } from './own-table-shared.ts';

const schema = randomSchema();
let pool: pg.Pool;
beforeAll(async () => {
  pool = newPool();
  await createTables(pool, schema);
});
afterAll(async () => {
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
});

describeRecordStore(
  'postgresRecords, own table, on pg.Pool (Postgres server)',
  () => postgresRecords(docsOptions(pool, schema)),
  {
    unstorableValue: { text: 'nul \u0000 inside' },
  },
);

describe('own-table mode on a Postgres server', () => {
  ownTableTests(() => ({ client: pool, schema }));

  it('16 concurrent writers on one key: every version distinct, each writer’s strictly increasing, reads never go back, the final row holds the highest', async () => {
    const store = postgresRecords(docsOptions(pool, schema));
    const key = randomKey('wt-own-concurrency');
    const acks: { writer: number; n: number; version: number; ackedAt: number }[] = [];
    const reads: { startedAt: number; version: number }[] = [];
    let writing = true;
    const reader = async () => {
      let last = 0;
      while (writing) {
        const startedAt = performance.now();
        const { version } = await store.get(key);
        expect(version, 'a read never goes back').toBeGreaterThanOrEqual(last);
        last = version;
        reads.push({ startedAt, version });
      }
    };
    const writer = async (writer: number) => {
      const mine: number[] = [];
      for (let n = 0; n < 8; n++) {
        const { version } = await store.set(key, { writer, n });
        acks.push({ writer, n, version, ackedAt: performance.now() });
        mine.push(version);
      }
      return mine;
    };
    const readers = [reader(), reader()];
    const perWriter = await Promise.all(Array.from({ length: 16 }, (_, i) => writer(i)));
    writing = false;
    await Promise.all(readers);
    expect(new Set(acks.map((a) => a.version)).size, 'distinct versions').toBe(16 * 8);
    for (const mine of perWriter)
      for (let j = 1; j < mine.length; j++) expect(mine[j]).toBeGreaterThan(mine[j - 1]!);
    for (const read of reads) {
      const floor = Math.max(0, ...acks.filter((a) => a.ackedAt < read.startedAt).map((a) => a.version));
      expect(read.version, 'a read after acknowledged writes').toBeGreaterThanOrEqual(floor);
    }
    const highest = acks.reduce((a, b) => (b.version > a.version ? b : a));
    expect(await store.get(key)).toEqual({
      found: true,
      value: { writer: highest.writer, n: highest.n },
      version: highest.version,
    });
  });

  it('16 concurrent writers mixing sets and deletes of one key (the row comes and goes): versions distinct and increasing, reads never go back, the final state is the highest write', async () => {
    const store = postgresRecords(docsOptions(pool, schema));
    const key = randomKey('wt-own-churn');
    const acks: {
      op: 'set' | 'delete';
      deleted: boolean;
      value?: unknown;
      version: number;
      ackedAt: number;
    }[] = [];
    const reads: { startedAt: number; version: number }[] = [];
    let writing = true;
    const reader = async () => {
      let last = 0;
      while (writing) {
        const startedAt = performance.now();
        const { version } = await store.get(key);
        expect(version, 'a read never goes back').toBeGreaterThanOrEqual(last);
        last = version;
        reads.push({ startedAt, version });
      }
    };
    const writer = async (w: number) => {
      let previous = 0;
      for (let n = 0; n < 8; n++) {
        if ((w + n) % 3 === 0) {
          const { deleted, version } = await store.delete(key);
          if (deleted) {
            expect(version, 'a delete above this writer’s earlier writes').toBeGreaterThan(previous);
            acks.push({ op: 'delete', deleted, version, ackedAt: performance.now() });
            previous = version;
          }
        } else {
          const value = { w, n };
          const { version } = await store.set(key, value);
          expect(version, 'a set above this writer’s earlier writes').toBeGreaterThan(previous);
          acks.push({ op: 'set', deleted: false, value, version, ackedAt: performance.now() });
          previous = version;
        }
      }
    };
    const readers = [reader(), reader()];
    await Promise.all(Array.from({ length: 16 }, (_, i) => writer(i)));
    writing = false;
    await Promise.all(readers);
    expect(new Set(acks.map((a) => a.version)).size, 'distinct versions').toBe(acks.length);
    expect(acks.filter((a) => a.op === 'delete').length, 'some deletes committed').toBeGreaterThan(0);
    for (const read of reads) {
      const floor = Math.max(0, ...acks.filter((a) => a.ackedAt < read.startedAt).map((a) => a.version));
      expect(read.version, 'a read after acknowledged writes').toBeGreaterThanOrEqual(floor);
    }
    const highest = acks.reduce((a, b) => (b.version > a.version ? b : a));
    expect(await store.get(key)).toEqual(
      highest.op === 'set'
        ? { found: true, value: highest.value, version: highest.version }
        : { found: false, version: highest.version },
    );
  });
});
