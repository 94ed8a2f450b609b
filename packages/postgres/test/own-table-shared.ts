/**
 * The own-table mode's tests that run on both PGlite and a server: tables, the conformance store's
 * options, value round-trips through mapped columns, extra columns, deletes, migrate, hostile names.
 */
import { expect, it } from 'vitest';
import { migrate, migrationSql, type OwnTableOptions, postgresRecords } from '../src/index.ts';
import { injectionStrings } from './hostile.ts';

/** What the tests need of a client: query with params, rows as objects. */
export interface TestClient {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec?(text: string): Promise<unknown>;
}

/** Creates the tables of the tests in `schema` (none has a version column yet) and migrates `docs`. */
export async function createTables(client: TestClient, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const script = `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE ${s}.docs (id text PRIMARY KEY, doc jsonb, kind text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE ${s}.users (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  email text UNIQUE,
  age integer,
  tags text[],
  active boolean NOT NULL DEFAULT true,
  profile jsonb,
  internal_note text DEFAULT 'kept by the database',
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ${s}.users (id, name, email) VALUES (1, 'Existing', 'existing@example.com');
CREATE TABLE ${s}.things (id uuid PRIMARY KEY, label text, version bigint NOT NULL DEFAULT 0);`;
  if (client.exec !== undefined) await client.exec(script);
  else await client.query(script);
  await migrate(client, { schema, table: 'docs', key: 'id', addVersionColumn: true });
}

/** The conformance store: any JSON value in a jsonb column, plus a second mapped column. */
export function docsOptions(client: TestClient, schema: string): OwnTableOptions<unknown> {
  return {
    client,
    schema,
    table: 'docs',
    key: 'id',
    columns: ['doc', 'kind'],
    toRow: (value) => ({ doc: value, kind: Array.isArray(value) ? 'array' : typeof value }),
    fromRow: (row) => row.doc,
  };
}

interface User {
  name: string;
  email: string | null;
  age: number | null;
  tags: string[] | null;
  isActive: boolean;
  profile: unknown;
}

function usersOptions(client: TestClient, schema: string): OwnTableOptions<User> {
  return {
    client,
    schema,
    table: 'users',
    key: 'id',
    keyType: 'bigint',
    columns: {
      name: 'name',
      email: 'email',
      age: 'age',
      tags: 'tags',
      isActive: 'active',
      profile: 'profile',
    },
  };
}

/** Registers the shared tests; `env()` answers the client and schema once `createTables` ran. */
export function ownTableTests(env: () => { client: TestClient; schema: string }): void {
  const q = async (text: string, params?: unknown[]) =>
    (await env().client.query(text, params)).rows as Record<string, unknown>[];

  it('migrate refuses a table without the version column and names the ALTER TABLE; addVersionColumn adds it and numbers existing rows', async () => {
    const { client, schema } = env();
    const options = usersOptions(client, schema);
    await expect(migrate(client, options)).rejects.toThrow(
      `ALTER TABLE "${schema}"."users" ADD COLUMN IF NOT EXISTS "version" bigint NOT NULL DEFAULT nextval('"${schema}"."users_wt_version_seq"'::regclass);`,
    );
    expect(migrationSql(options)).toContain('-- ALTER TABLE');
    await migrate(client, { ...options, addVersionColumn: true });
    await migrate(client, { ...options, addVersionColumn: true }); // idempotent
    await migrate(client, options); // the column exists now: nothing to refuse
    const store = postgresRecords(options);
    const existing = await store.get('1');
    expect(existing.found).toBe(true);
    expect(existing.version).toBeGreaterThanOrEqual(1);
    expect(existing).toMatchObject({
      value: { name: 'Existing', email: 'existing@example.com', age: null, isActive: true },
    });
    await expect(migrate(client, { schema, table: 'no_such_table', key: 'id' })).rejects.toThrow(
      /does not exist/,
    );
  });

  it('values round-trip through the mapped columns (text, integer, text[], boolean, jsonb, NULL); extra columns keep their defaults and values', async () => {
    const { client, schema } = env();
    const store = postgresRecords(usersOptions(client, schema));
    const ada: User = {
      name: 'Ada “Countess” O’Lovelace; DROP TABLE users; --',
      email: 'ada@example.com',
      age: 36,
      tags: ['math', 'poetry, "science"', ''],
      isActive: false,
      profile: { born: 1815, notes: ['engine', { nested: null }], 'quote"key': 'ключ 🔑' },
    };
    const { version } = await store.set('42', ada);
    expect(await store.get('42')).toEqual({ found: true, value: ada, version });
    const row = (
      await q(
        `SELECT name, age, active, tags, internal_note, version::text AS v FROM "${schema}".users WHERE id = 42`,
      )
    )[0]!;
    expect(row).toMatchObject({
      name: ada.name,
      age: 36,
      active: false,
      internal_note: 'kept by the database',
      v: String(version),
    });
    // An update writes only the mapped columns: a column changed by someone else stays.
    await q(`UPDATE "${schema}".users SET internal_note = 'changed elsewhere' WHERE id = 42`);
    const bob: User = { name: 'Bob', email: null, age: null, tags: null, isActive: true, profile: null };
    const second = await store.set('42', bob, { ifVersion: version });
    expect(second.version).toBeGreaterThan(version);
    expect(await store.get('42')).toEqual({ found: true, value: bob, version: second.version });
    expect((await q(`SELECT internal_note FROM "${schema}".users WHERE id = 42`))[0]).toEqual({
      internal_note: 'changed elsewhere',
    });
    // A missing field is written as NULL and read back as null.
    const { version: third } = await store.set('42', { name: 'Carol', isActive: true } as User);
    expect(await store.get('42')).toEqual({
      found: true,
      value: { name: 'Carol', email: null, age: null, tags: null, isActive: true, profile: null },
      version: third,
    });
    const many = await store.setMany([
      { key: '43', value: { ...bob, name: 'Dan', email: 'dan@example.com' } },
      { key: '44', value: { ...bob, name: 'Eve', tags: ['x'] } },
    ]);
    const read = await store.getMany(['43', '44', '45']);
    expect(read.get('43')).toEqual({
      found: true,
      value: { ...bob, name: 'Dan', email: 'dan@example.com' },
      version: many.get('43')!.version,
    });
    expect(read.get('44')).toMatchObject({ found: true, value: { name: 'Eve', tags: ['x'] } });
    expect(read.get('45') ?? { found: false, version: 0 }).toEqual({ found: false, version: 0 });
  });

  it('a delete removes the row and records a tombstone; get answers its version; a re-create goes higher; the constraint of the table still applies', async () => {
    const { client, schema } = env();
    const store = postgresRecords(usersOptions(client, schema));
    const user: User = {
      name: 'Temp',
      email: 'temp@example.com',
      age: 1,
      tags: [],
      isActive: true,
      profile: {},
    };
    const created = await store.set('77', user);
    const deleted = await store.delete('77');
    expect(deleted).toEqual({ deleted: true, version: expect.any(Number) });
    expect(deleted.version).toBeGreaterThan(created.version);
    expect(await q(`SELECT 1 FROM "${schema}".users WHERE id = 77`)).toEqual([]);
    expect(
      await q(
        `SELECT key::text AS key, version::text AS version FROM "${schema}".users_wt_tombstones WHERE key = 77`,
      ),
    ).toEqual([{ key: '77', version: String(deleted.version) }]);
    expect(await store.get('77')).toEqual({ found: false, version: deleted.version });
    expect(await store.delete('77')).toEqual({ deleted: false, version: deleted.version });
    const again = await store.set('77', user, { ifVersion: 0 });
    expect(again.version).toBeGreaterThan(deleted.version);
    expect(await store.get('77')).toEqual({ found: true, value: user, version: again.version });
    // The table's own constraints are enforced: a duplicate email is a constraint error, not retryable.
    const error = await store.set('78', { ...user }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WT_RECORD_STORE', retryable: false, outcome: 'failed' });
    expect(await store.get('78')).toEqual({ found: false, version: 0 });
  });

  it('keys must be the canonical text of the key type (bigint, uuid); a uuid key column works', async () => {
    const { client, schema } = env();
    const users = postgresRecords(usersOptions(client, schema));
    for (const bad of ['007', '+7', '7.0', ' 7', 'abc', '9223372036854775808', '']) {
      await expect(users.get(bad), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'WT_INVALID_ARGUMENT',
      });
    }
    // `things` already has a version column (default 0 for old rows); only the library's objects are added.
    await migrate(client, { schema, table: 'things', key: 'id', keyType: 'uuid' });
    const things = postgresRecords<{ label: string }>({
      client,
      schema,
      table: 'things',
      key: 'id',
      keyType: 'uuid',
      columns: ['label'],
    });
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    await expect(things.set(id.toUpperCase(), { label: 'x' })).rejects.toMatchObject({
      code: 'WT_INVALID_ARGUMENT',
    });
    const { version } = await things.set(id, { label: 'x' });
    expect(await things.getMany([id])).toEqual(
      new Map([[id, { found: true, value: { label: 'x' }, version }]]),
    );
    const gone = await things.delete(id, { ifVersion: version });
    expect(await things.get(id)).toEqual({ found: false, version: gone.version });
  });

  it('values that do not fit the mapping are refused before any statement', async () => {
    const { client, schema } = env();
    const store = postgresRecords<unknown>(usersOptions(client, schema) as OwnTableOptions<unknown>);
    const k = String(Math.floor(Math.random() * 1e9) + 1000);
    await expect(store.set(k, { name: 'x', isActive: true, unmapped: 1 })).rejects.toMatchObject({
      code: 'WT_INVALID_ARGUMENT',
    });
    await expect(store.set(k, 'not an object')).rejects.toMatchObject({ code: 'WT_SERIALIZATION' });
    await expect(store.set(k, { name: 'nul \u0000', isActive: true })).rejects.toMatchObject({
      code: 'WT_INVALID_ARGUMENT',
    });
    const withToRow = postgresRecords<unknown>({
      ...usersOptions(client, schema),
      toRow: () => ({ name: 'x', internal_note: 'not mapped' }),
    } as OwnTableOptions<unknown>);
    await expect(withToRow.set(k, {})).rejects.toMatchObject({ code: 'WT_INVALID_ARGUMENT' });
    expect(await store.get(k)).toEqual({ found: false, version: 0 });
  });

  it('invalid identifiers and mappings are refused at construction, before any statement', () => {
    const { client } = env();
    const base = { client, table: 'users', key: 'id', columns: ['name'] } as const;
    const bad = [
      ...injectionStrings().filter((s) => s !== 'NULL'),
      '',
      '1users',
      'a-b',
      'a b',
      'públic',
      'x'.repeat(64),
      'a"b',
      "a'b",
    ];
    const refused = (options: unknown, what: string) =>
      expect(() => postgresRecords(options as OwnTableOptions), what).toThrow(
        expect.objectContaining({ code: 'WT_INVALID_ARGUMENT' }),
      );
    for (const name of bad) {
      const n = JSON.stringify(name);
      refused({ ...base, table: name }, `table ${n}`);
      refused({ ...base, schema: name }, `schema ${n}`);
      refused({ ...base, key: name }, `key ${n}`);
      refused({ ...base, version: name }, `version ${n}`);
      refused({ ...base, sequence: name }, `sequence ${n}`);
      refused({ ...base, tombstones: name }, `tombstones ${n}`);
      refused({ ...base, columns: ['name', name] }, `column ${n}`);
      refused({ ...base, columns: { name: 'name', field: name } }, `mapped column ${n}`);
      refused({ ...base, keyType: name }, `keyType ${n}`);
    }
    refused({ ...base, columns: [] }, 'no columns');
    refused({ ...base, columns: ['name', 'id'] }, 'the key column mapped');
    refused({ ...base, columns: ['name', 'version'] }, 'the version column mapped');
    refused({ ...base, columns: { a: 'name', b: 'name' } }, 'a column mapped twice');
    refused({ ...base, key: 'version' }, 'key = version');
    refused({ client, table: 'users', key: 'id' }, 'columns missing');
    refused({ client, key: 'id', columns: ['name'] }, 'table missing');
    refused({ client, table: 'users', columns: ['name'] }, 'key missing');
    refused({ ...base, toRow: 'x' }, 'toRow not a function');
    // A table name whose derived names would be truncated needs explicit ones.
    const long = `t${'x'.repeat(55)}`;
    expect(() => postgresRecords({ ...base, table: long })).toThrow(/sequence|tombstone/);
    expect(() => postgresRecords({ ...base, table: long, sequence: 's', tombstones: 'tb' })).not.toThrow();
  });
}
