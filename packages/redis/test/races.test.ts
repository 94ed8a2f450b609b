/**
 * The engine's deterministic races (`@writethrough/testing`'s `races`, the same interleavings the
 * core runs on memoryStore) with Redis as the shared L2: two engine instances in one process, each
 * with its own L1, sharing one redisStore namespace on the test Redis. R2/R12 and the model's
 * counterexamples make Redis lose a key's mark (or all of its state) as an eviction or an expiry
 * would, by deleting the Redis keys the store uses.
 */
import { memoryBus, memoryRecords, memoryStore } from '@writethrough/core';
import { describeEngineRaces, findRedis, type RedisTarget } from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { redisStore } from '../src/index.js';
import { redisKeys } from '../src/keys.js';

let target: RedisTarget;
let client: Redis;
let run = 0;
const prefix = `wt-race-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  target = await findRedis();
  client = new Redis(target.url, { lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  const stream = client.scanStream({ match: `${prefix}*`, count: 1_000 });
  for await (const keys of stream as AsyncIterable<string[]>)
    if (keys.length > 0) await client.unlink(...keys);
  client.disconnect();
  await target.stop();
});

describeEngineRaces('Redis L2 (two instances, one namespace)', () => {
  const namespace = `${prefix}-${++run}:`;
  const l2 = redisStore({ client, namespace });
  return {
    records: memoryRecords<string>(),
    l2,
    l1: () => memoryStore(),
    bus: memoryBus(),
    evictL2: async (key, loss) => {
      const keys = redisKeys(namespace, key);
      if (loss === 'mark') await client.del(keys.mark);
      else await client.del(keys.value, keys.lease, keys.mark);
    },
    cleanup: () => l2.close(),
  };
});
