/** The engine on postgresRecords and a real server: reads and writes through the cache, and a batch with a refused row. */
import { createCache, memoryStore } from '@writethrough/core';
import { randomKey } from '@writethrough/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, postgresRecords } from '../src/index.ts';
import { serverSchema } from './helpers.ts';

const db = serverSchema();
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describe('createCache on postgresRecords (Postgres server)', () => {
  it('set, get, delete and re-create through the cache follow the database versions', async () => {
    const records = db.store<{ name: string }>();
    const cache = createCache<{ name: string }>({ name: 'engine', records, l1: memoryStore() });
    try {
      const key = randomKey('wt-engine');
      await cache.set(key, { name: 'Ada' });
      expect(await cache.get(key)).toEqual({ name: 'Ada' });
      const inDb = await records.get(key);
      expect(inDb).toMatchObject({ found: true, value: { name: 'Ada' } });
      await cache.delete(key);
      expect(await cache.get(key)).toBeUndefined();
      await cache.set(key, { name: 'Grace' });
      expect(await cache.get(key)).toEqual({ name: 'Grace' });
      expect((await records.get(key)).version).toBeGreaterThan(inDb.version);
    } finally {
      await cache.close();
    }
  });

  it('a constraint violation inside a batch: the engine splits the batch, the other rows commit, the refused one fails', async () => {
    const table = 'engine_constrained';
    await migrate(db.pool, { schema: db.schema, table });
    await db.pool.query(
      `ALTER TABLE "${db.schema}"."${table}" ADD CONSTRAINT no_poison CHECK (value->>'poison' IS NULL)`,
    );
    const records = postgresRecords<Record<string, unknown>>({ client: db.pool, schema: db.schema, table });
    const cache = createCache<Record<string, unknown>>({
      name: 'engine-batch',
      records,
      batch: { maxSize: 16, maxWaitMs: 5 },
    });
    try {
      const keys = Array.from({ length: 8 }, () => randomKey('wt-engine-batch'));
      const results = await Promise.allSettled(
        keys.map((key, i) => cache.set(key, i === 3 ? { poison: true } : { i })),
      );
      for (const [i, result] of results.entries()) {
        expect(result.status, `row ${i}`).toBe(i === 3 ? 'rejected' : 'fulfilled');
      }
      for (const [i, key] of keys.entries()) {
        const read = await records.get(key);
        if (i === 3) expect(read).toEqual({ found: false, version: 0 });
        else expect(read).toMatchObject({ found: true, value: { i } });
      }
      const stats = cache.stats();
      expect(stats.batchedRows, 'rows went through setMany batches').toBeGreaterThanOrEqual(8);
    } finally {
      await cache.close();
    }
  });
});
