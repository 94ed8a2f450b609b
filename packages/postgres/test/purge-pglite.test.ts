/** `purgeTombstones` on an in-memory PGlite, both modes: the shared tests. */
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe } from 'vitest';
import { purgeTests } from './purge-shared.ts';

const schema = 'wt_purge';
let db: PGlite;
beforeAll(async () => {
  db = new PGlite();
  await db.exec(`CREATE SCHEMA "${schema}"`);
});
afterAll(() => db.close());

describe('purgeTombstones on PGlite', () => {
  purgeTests(() => ({ client: db, schema }));
});
