/** The transactional outbox and its relay on an in-memory PGlite. */
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe } from 'vitest';
import { outboxTests } from './outbox-shared.ts';

const schema = 'wt_outbox';
let db: PGlite;
beforeAll(async () => {
  db = new PGlite();
  await db.exec(`CREATE SCHEMA ${schema}`);
});
afterAll(() => db.close());

describe('outbox on PGlite', () => {
  outboxTests(() => ({ client: db, schema }));
});
