/**
 * ioredis 5 as the caller's client: the peer range is `^5 || ^6` because BentoCache and other
 * libraries in users' apps still pin 5. The conformance suite and the bus's run on a v5 client
 * (installed beside v6 under the alias `ioredis5`).
 */
import { randomUUID } from 'node:crypto';
import { describeBus, describeCacheStore, findRedis, type RedisTarget } from '@writethrough/testing';
import { Redis as Redis5 } from 'ioredis5';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisBus, redisStore } from '../src/index.js';

let target: RedisTarget;
let client: InstanceType<typeof Redis5>;
let namespaces = 0;
const run = `wt-v5:${randomUUID().slice(0, 8)}:`;

beforeAll(async () => {
  target = await findRedis();
  client = new Redis5(target.url, { lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  const keys = await client.keys(`${run}*`);
  if (keys.length > 0) await client.unlink(...keys);
  client.disconnect();
  await target.stop();
});

it('the caller’s client really is ioredis 5', async () => {
  const { version } = (await import('ioredis5/package.json', { with: { type: 'json' } })).default as {
    version: string;
  };
  expect(version).toMatch(/^5\./);
});

describeCacheStore(
  'redisStore on an ioredis 5 client',
  () => redisStore({ client: client as never, namespace: `${run}${++namespaces}:` }),
  { payload: (i) => JSON.stringify({ i }), cleanup: (store) => store.clear() },
);

describeBus(
  'redisBus on ioredis 5 clients',
  () => {
    const channel = `${run}bus:${++namespaces}`;
    const [clientA, clientB] = [new Redis5(target.url), new Redis5(target.url)];
    return {
      a: redisBus({ client: clientA as never, channel }),
      b: redisBus({ client: clientB as never, channel }),
      cleanup: async () => {
        await clientA.quit();
        await clientB.quit();
      },
    };
  },
  { timeoutMs: 5_000 },
);
