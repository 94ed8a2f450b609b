/** The own-table mode on an in-memory PGlite: the conformance suite and the shared own-table tests. */
import { PGlite } from '@electric-sql/pglite';
import { describeRecordStore } from '@writethrough/testing';
import { afterAll, beforeAll, describe } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { createTables, docsOptions, ownTableTests } from './own-table-shared.ts';

const schema = 'wt_own';
let db: PGlite;
beforeAll(async () => {
  db = new PGlite();
  await createTables(db, schema);
});
afterAll(() => db.close());

describeRecordStore('postgresRecords, own table, on PGlite', () => postgresRecords(docsOptions(db, schema)), {
  unstorableValue: { text: 'lone surrogate \ud800 inside' },
});

describe('own-table mode on PGlite', () => {
  ownTableTests(() => ({ client: db, schema }));
});
