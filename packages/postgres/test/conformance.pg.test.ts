import { describeRecordStore } from '@writethrough/testing';
import { afterAll, beforeAll } from 'vitest';
import { serverSchema } from './helpers.ts';

// Every run in a schema of its own, dropped afterwards.
const db = serverSchema();
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describeRecordStore('postgresRecords on pg.Pool (Postgres server)', () => db.store(), {
  // Refused before the statement (Postgres jsonb cannot hold \u0000): the batch must not commit.
  unstorableValue: { text: 'nul \u0000 inside' },
});
