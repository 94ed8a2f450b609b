/**
 * redisStore on a 3-master Redis Cluster that this file starts from the redis-server binary on
 * loopback ports (and stops): the CacheStore conformance suite unchanged, then the engine on it —
 * two instances sharing the cluster as L2, keys spread over every master, getMany across slots,
 * clear on every master.
 */
import { createCache, memoryRecords } from '@writethrough/core';
import { describeCacheStore, type RedisCluster, startRedisCluster } from '@writethrough/testing';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../src/keys.js';
import { redisStore } from '../src/store.js';

let cluster: RedisCluster;
let client: Cluster;
let namespaces = 0;
const ns = () => `wt-cluster-${++namespaces}:`;

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster([...cluster.nodes], { lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

describeCacheStore('redisStore (Cluster, 3 masters)', () => redisStore({ client, namespace: ns() }), {
  payload: (i) => JSON.stringify({ i, text: `sample ${i} ✓` }),
  ttlGranularityMs: 5,
  cleanup: (store) => store.clear(),
});

describe('the engine on a Redis Cluster L2', () => {
  it('two instances share the cluster: writes, reads, getMany across slots and clear reach every master', async () => {
    const namespace = ns();
    const records = memoryRecords<{ n: number }>();
    const stores = [redisStore({ client, namespace }), redisStore({ client, namespace })];
    const [a, b] = stores.map((l2, i) =>
      createCache<{ n: number }>({ name: 'cluster', records, l1: false, l2, instanceId: `c${i}` }),
    ) as [ReturnType<typeof createCache<{ n: number }>>, ReturnType<typeof createCache<{ n: number }>>];
    try {
      const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
      for (const [i, key] of keys.entries()) await a.set(key, { n: i });
      // b fills L2 through its own misses; a then hits what b filled.
      for (const [i, key] of keys.entries()) expect(await b.get(key)).toEqual({ n: i });
      const hitsBefore = a.stats().l2.hits;
      const many = await a.getMany(keys);
      expect(many.size).toBe(keys.length);
      expect(a.stats().l2.hits - hitsBefore).toBe(keys.length);

      // Concurrent single gets of keys on many slots: the hit path's MGETs go per slot.
      const singles = await Promise.all(keys.map((key) => b.get(key)));
      expect(singles).toEqual(keys.map((_, i) => ({ n: i })));

      // The keys landed on every master.
      const masters = client.nodes('master');
      expect(masters).toHaveLength(3);
      const perMaster = await Promise.all(masters.map((node) => node.dbsize()));
      for (const count of perMaster) expect(count).toBeGreaterThan(0);

      // A write on b is seen by a at once (L1 off: L2 and the database only).
      await b.set(keys[7]!, { n: 700 });
      expect(await a.get(keys[7]!)).toEqual({ n: 700 });

      await stores[0]!.clear();
      for (const node of masters) {
        // The restart marker (`<namespace>run-id:{n}`, on the master that checked it) stays.
        const left = (await node.keys(`${namespace}*`)).filter((key) => !/run-id:\{\d+\}$/.test(key));
        expect(left, `keys left on ${node.options.port}`).toEqual([]);
      }
      // Only this namespace: a key of another namespace survives the clear.
      const other = redisKeys(ns(), 'kept').value;
      await client.set(other, 'x');
      await stores[1]!.clear();
      expect(await client.get(other)).toBe('x');
    } finally {
      await a.close();
      await b.close();
      for (const store of stores) await store.close();
    }
  });
});
