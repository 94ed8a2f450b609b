/**
 * `redisBus` on a Redis Cluster of its own (three masters started from PATH): classic pub/sub is
 * cluster-wide, so two buses whose connections land on different nodes still hear each other.
 */

import { randomUUID } from 'node:crypto';
import { describeBus, type RedisCluster, startRedisCluster, waitFor } from '@writethrough/testing';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisBus } from '../src/bus.js';

let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
});

afterAll(async () => {
  await cluster?.stop();
});

function clusterClient(): Cluster {
  return new Cluster([...cluster.nodes], { redisOptions: { connectTimeout: 1_000 } });
}

describeBus(
  'redisBus on a Redis Cluster (user Cluster clients, duplicated subscribers)',
  () => {
    const channel = `wt-test:bus:${randomUUID()}`;
    const clientA = clusterClient();
    const clientB = clusterClient();
    return {
      a: redisBus({ client: clientA, channel, heartbeatMs: 100 }),
      b: redisBus({ client: clientB, channel, heartbeatMs: 100 }),
      cleanup: async () => {
        await clientA.quit();
        await clientB.quit();
      },
    };
  },
  { timeoutMs: 10_000 },
);

describe('redisBus on a Redis Cluster', () => {
  it('refuses heartbeatMs 0: only heartbeats reveal frames lost while ioredis moves the subscriber', async () => {
    const client = clusterClient();
    try {
      expect(() => redisBus({ client, channel: `wt-c:${randomUUID()}`, heartbeatMs: 0 })).toThrow(
        /heartbeatMs must not be 0/,
      );
    } finally {
      client.disconnect();
    }
  });

  it('keeps each publisher’s order across nodes (no false gaps) and its epoch and heartbeats without false alarms', async () => {
    const channel = `wt-test:bus:${randomUUID()}`;
    const clientA = clusterClient();
    const clientB = clusterClient();
    const a = redisBus({ client: clientA, channel, heartbeatMs: 50 });
    const b = redisBus({ client: clientB, channel, heartbeatMs: 50 });
    const states: string[] = [];
    const versions: number[] = [];
    b.subscribe(
      (message) => versions.push(message.version),
      (state) => states.push(state),
    );
    try {
      await waitFor(() => a.connected && b.connected, { timeoutMs: 10_000, what: 'connected' });
      const sends: Promise<void>[] = [];
      for (let version = 1; version <= 300; version++) {
        sends.push(a.publish({ cache: 'c', key: `k${version}`, version, origin: 'a' }));
      }
      await Promise.all(sends);
      await waitFor(() => versions.length >= 300, { timeoutMs: 10_000, what: 'b to receive 300' });
      expect(versions).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(states).toEqual(['connected']);
      expect(b.stats).toMatchObject({ gaps: 0, flushes: 0, heartbeatLosses: 0 });
    } finally {
      await a.close();
      await b.close();
      await clientA.quit();
      await clientB.quit();
    }
  });
});
