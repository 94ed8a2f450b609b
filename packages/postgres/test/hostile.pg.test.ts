import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { serverSchema } from './helpers.ts';
import { hostileTests, injectionStrings } from './hostile.ts';

const db = serverSchema();
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describe('hostile input on a Postgres server', () => {
  hostileTests(
    () => db.store(),
    async () => {
      const { rows } = await db.pool.query('SELECT to_regclass($1) AS t', [`"${db.schema}"."${db.table}"`]);
      return rows[0]?.t != null;
    },
  );

  it('invalid schema, table and sequence names are refused at construction, before any statement', () => {
    for (const bad of [
      ...injectionStrings().filter((s) => s !== 'NULL'),
      '',
      '1records',
      'a-b',
      'a b',
      'públic',
      'x'.repeat(64),
      'a"b',
      "a'b",
    ]) {
      expect(() => postgresRecords({ client: db.pool, table: bad }), `table ${JSON.stringify(bad)}`).toThrow(
        expect.objectContaining({ code: 'WT_INVALID_ARGUMENT' }),
      );
      expect(
        () => postgresRecords({ client: db.pool, schema: bad }),
        `schema ${JSON.stringify(bad)}`,
      ).toThrow(expect.objectContaining({ code: 'WT_INVALID_ARGUMENT' }));
      expect(
        () => postgresRecords({ client: db.pool, sequence: bad }),
        `sequence ${JSON.stringify(bad)}`,
      ).toThrow(expect.objectContaining({ code: 'WT_INVALID_ARGUMENT' }));
    }
    // A table name whose derived sequence name would be truncated by Postgres needs `sequence`.
    const long = `t${'x'.repeat(55)}`;
    expect(() => postgresRecords({ client: db.pool, table: long })).toThrow(/sequence/);
    expect(() => postgresRecords({ client: db.pool, table: long, sequence: 'short_seq' })).not.toThrow();
  });
});
