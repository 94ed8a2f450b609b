import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { newPglite } from './helpers.ts';
import { hostileTests } from './hostile.ts';

let db: PGlite;
beforeAll(async () => {
  db = await newPglite();
});
afterAll(() => db.close());

describe('hostile input on PGlite', () => {
  hostileTests(
    () => postgresRecords({ client: db }),
    async () =>
      (await db.query<{ t: string | null }>(`SELECT to_regclass('writethrough_records') AS t`)).rows[0]?.t !=
      null,
  );
});
