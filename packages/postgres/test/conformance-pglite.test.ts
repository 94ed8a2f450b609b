import type { PGlite } from '@electric-sql/pglite';
import { describeRecordStore } from '@writethrough/testing';
import { afterAll, beforeAll } from 'vitest';
import { postgresRecords } from '../src/index.ts';
import { newPglite } from './helpers.ts';

let db: PGlite;
beforeAll(async () => {
  db = await newPglite({ schema: 'wt_conformance' });
});
afterAll(() => db.close());

describeRecordStore(
  'postgresRecords on PGlite',
  () => postgresRecords({ client: db, schema: 'wt_conformance' }),
  { unstorableValue: { text: 'lone surrogate \ud800 inside' } },
);
