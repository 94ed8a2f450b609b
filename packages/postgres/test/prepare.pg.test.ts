/**
 * Named prepared statements: on by default for pg (parsed and planned once per connection), off on
 * request (PgBouncer in transaction mode) and for PGlite; the store behaves the same either way.
 */
import { PGlite } from '@electric-sql/pglite';
import { InvalidArgumentError } from '@writethrough/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, postgresRecords } from '../src/index.ts';
import { randomSchema, serverConfig } from './helpers.ts';

const schema = randomSchema();
let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client(serverConfig());
  await client.connect();
  await migrate(client, { schema, table: 'records' });
});
afterAll(async () => {
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

/** A connection of its own for one test (pg remembers what it prepared on each connection). */
async function fresh(): Promise<pg.Client> {
  const c = new pg.Client(serverConfig());
  await c.connect();
  return c;
}

async function prepared(on: pg.Client): Promise<string[]> {
  const result = await on.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return result.rows.map((r) => r.name);
}

describe('prepared statements', () => {
  it('a pg client gets named statements, one per statement text, reused by later calls', async () => {
    const own = await fresh();
    try {
      const store = postgresRecords<number>({ client: own, schema, table: 'records' });
      await store.set('a', 1);
      await store.set('b', 2);
      await store.get('a');
      const names = await prepared(own);
      expect(names).toHaveLength(2);
      expect(names.every((n) => /^wt_[0-9a-f]{24}$/.test(n))).toBe(true);
      await store.set('c', 3);
      await store.getMany(['a', 'b', 'c']);
      expect(await prepared(own)).toHaveLength(3);
      expect(await store.get('c')).toMatchObject({ found: true, value: 3 });
    } finally {
      await own.end();
    }
  });

  it('prepare: false sends every statement unnamed', async () => {
    const own = await fresh();
    try {
      const store = postgresRecords<number>({ client: own, schema, table: 'records', prepare: false });
      await store.set('x', 1);
      expect(await store.get('x')).toMatchObject({ found: true, value: 1 });
      expect(await prepared(own)).toEqual([]);
    } finally {
      await own.end();
    }
  });

  it('two stores on different tables of one connection do not collide', async () => {
    await migrate(client, { schema, table: 'other' });
    const one = postgresRecords<number>({ client, schema, table: 'records' });
    const two = postgresRecords<number>({ client, schema, table: 'other' });
    await one.set('same', 1);
    await two.set('same', 2);
    expect(await one.get('same')).toMatchObject({ value: 1 });
    expect(await two.get('same')).toMatchObject({ value: 2 });
  });

  it('PGlite is used without statement names; an invalid prepare is refused', async () => {
    const db = new PGlite();
    try {
      await migrate(db, {});
      const store = postgresRecords<number>({ client: db });
      await store.set('k', 1);
      expect(await store.get('k')).toMatchObject({ found: true, value: 1 });
    } finally {
      await db.close();
    }
    expect(() => postgresRecords({ client, prepare: 'yes' as never })).toThrow(InvalidArgumentError);
  });
});
