/** Classification, migration SQL and client typing; no server (the migration runs on PGlite). */
import { PGlite } from '@electric-sql/pglite';
import { InvalidArgumentError } from '@writethrough/core';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  classifyPostgresError,
  migrate,
  migrationSql,
  type PostgresClient,
  postgresRecords,
} from '../src/index.ts';

const withCode = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code });

describe('classifyPostgresError', () => {
  const cases: [
    string,
    unknown,
    { retryable: boolean; outcome: 'failed' | 'unknown' },
    { retryable: boolean; outcome: 'failed' | 'unknown' },
  ][] = [
    // [label, error, as a write, as a read]
    [
      '40001 serialization failure',
      withCode('40001'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '40P01 deadlock',
      withCode('40P01'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '53300 too many connections',
      withCode('53300'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '57014 statement timeout',
      withCode('57014'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '57P01 admin shutdown',
      withCode('57P01'),
      { retryable: true, outcome: 'unknown' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '08006 connection failure',
      withCode('08006'),
      { retryable: true, outcome: 'unknown' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '08001 cannot connect',
      withCode('08001'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      '23505 unique violation',
      withCode('23505'),
      { retryable: false, outcome: 'failed' },
      { retryable: false, outcome: 'failed' },
    ],
    [
      '23514 check violation',
      withCode('23514'),
      { retryable: false, outcome: 'failed' },
      { retryable: false, outcome: 'failed' },
    ],
    [
      '22P02 invalid text',
      withCode('22P02'),
      { retryable: false, outcome: 'failed' },
      { retryable: false, outcome: 'failed' },
    ],
    [
      '42P01 missing table',
      withCode('42P01'),
      { retryable: false, outcome: 'failed' },
      { retryable: false, outcome: 'failed' },
    ],
    [
      'ECONNREFUSED',
      withCode('ECONNREFUSED'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'ECONNRESET',
      withCode('ECONNRESET'),
      { retryable: true, outcome: 'unknown' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'pg: Connection terminated unexpectedly',
      new Error('Connection terminated unexpectedly'),
      { retryable: true, outcome: 'unknown' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'pg: Query read timeout',
      new Error('Query read timeout'),
      { retryable: true, outcome: 'unknown' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'pg.Pool: connect timeout',
      new Error('timeout exceeded when trying to connect'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'pg.Client: not queryable',
      new Error('Client has encountered a connection error and is not queryable'),
      { retryable: true, outcome: 'failed' },
      { retryable: true, outcome: 'failed' },
    ],
    [
      'an unknown error',
      new Error('something else'),
      { retryable: false, outcome: 'unknown' },
      { retryable: false, outcome: 'failed' },
    ],
    [
      'not an error',
      'boom',
      { retryable: false, outcome: 'unknown' },
      { retryable: false, outcome: 'failed' },
    ],
  ];
  for (const [label, error, write, read] of cases) {
    it(label, () => {
      expect(classifyPostgresError(error, { write: true }), 'as a write').toEqual(write);
      expect(classifyPostgresError(error, { write: false }), 'as a read').toEqual(read);
    });
  }
});

describe('migrationSql and migrate', () => {
  it('migrationSql: one transaction behind an advisory lock, quoted names, IF NOT EXISTS everywhere', () => {
    const sql = migrationSql({ schema: 'app', table: 'Records' });
    expect(sql).toMatch(/^BEGIN;\nSELECT pg_advisory_xact_lock\(/);
    expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "app";');
    expect(sql).toContain('CREATE SEQUENCE IF NOT EXISTS "app"."Records_version_seq" AS bigint;');
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."Records" (');
    expect(sql).toContain(
      'CREATE INDEX IF NOT EXISTS "Records_tombstones" ON "app"."Records" (updated_at) WHERE deleted;',
    );
    expect(sql.trimEnd()).toMatch(/COMMIT;$/);
    expect(() => migrationSql({ table: 'x; DROP TABLE y' })).toThrow(InvalidArgumentError);
  });

  it('the printed SQL and migrate both run twice on PGlite; a store works on either', async () => {
    const db = new PGlite();
    try {
      await db.exec(migrationSql({ schema: 'own' }));
      await db.exec(migrationSql({ schema: 'own' }));
      await migrate(db, { schema: 'own' });
      await migrate(db);
      await migrate(db);
      for (const schema of ['own', 'public']) {
        const store = postgresRecords({ client: db, schema });
        const { version } = await store.set('k', { schema });
        expect(await store.get('k')).toEqual({ found: true, value: { schema }, version });
      }
      const columns = await db.query<{ column_name: string; data_type: string; is_nullable: string }>(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = 'writethrough_records' ORDER BY ordinal_position`,
      );
      expect(columns.rows).toEqual([
        { column_name: 'key', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'value', data_type: 'jsonb', is_nullable: 'NO' },
        { column_name: 'version', data_type: 'bigint', is_nullable: 'NO' },
        { column_name: 'deleted', data_type: 'boolean', is_nullable: 'NO' },
        { column_name: 'updated_at', data_type: 'timestamp with time zone', is_nullable: 'NO' },
      ]);
    } finally {
      await db.close();
    }
  });

  it('one sequence shared by two tables still gives each key increasing versions', async () => {
    const db = new PGlite();
    try {
      await migrate(db, { table: 'a', sequence: 'shared_seq' });
      await migrate(db, { table: 'b', sequence: 'shared_seq' });
      const a = postgresRecords({ client: db, table: 'a', sequence: 'shared_seq' });
      const b = postgresRecords({ client: db, table: 'b', sequence: 'shared_seq' });
      const v1 = await a.set('k', 1);
      const v2 = await b.set('k', 2);
      const v3 = await a.set('k', 3);
      expect(v2.version).toBeGreaterThan(v1.version);
      expect(v3.version).toBeGreaterThan(v2.version);
    } finally {
      await db.close();
    }
  });
});

describe('clients', () => {
  it('a pg.Pool, a pg.Client and a PGlite are PostgresClients (checked by tsc); anything without query is refused', () => {
    const typed = (client: PostgresClient) => client;
    const pool = (p: pg.Pool) => typed(p);
    const client = (c: pg.Client) => typed(c);
    const lite = (l: PGlite) => typed(l);
    expect([pool, client, lite]).toHaveLength(3);
    expect(() => postgresRecords({ client: {} as PostgresClient })).toThrow(InvalidArgumentError);
  });
});

describe('batches on PGlite', () => {
  it('setMany writes a key given twice once, with its last value; getMany answers every key asked for, duplicates included', async () => {
    const db = new PGlite();
    try {
      const store = postgresRecords({ client: db, migrate: true });
      const result = await store.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
        { key: 'a', value: 3 },
      ]);
      expect([...result.keys()].sort()).toEqual(['a', 'b']);
      expect(await store.get('a')).toEqual({ found: true, value: 3, version: result.get('a')!.version });
      const many = await store.getMany(['a', 'a', 'missing', 'b']);
      expect([...many.keys()]).toEqual(['a', 'missing', 'b']);
      expect(many.get('missing')).toEqual({ found: false, version: 0 });
      expect(await store.setMany([])).toEqual(new Map());
    } finally {
      await db.close();
    }
  });
});
