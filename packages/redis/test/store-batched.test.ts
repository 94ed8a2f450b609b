/**
 * redisStore's batched steps (`beginWriteMany`, `commitWriteMany`, `invalidateMany`) beyond the
 * conformance suite: the engine's batched writes cost one script call per phase (not one per row),
 * the scripts are sent again after SCRIPT FLUSH, and a batched call is bounded and guarded like a
 * per-key step (timeout, not-ready, a reply across a reconnection).
 */

import { randomUUID } from 'node:crypto';
import { type CacheStore, CacheTierError, createCache, memoryRecords } from '@writethrough/core';
import {
  findRedis,
  freePort,
  type RedisTarget,
  redisTestsAvailable,
  startRedisServer,
  waitFor,
} from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisStore, redisStore } from '../src/store.js';

const ownServers = await redisTestsAvailable('redisStore batched steps on servers of their own', {
  needBinary: true,
});

const run = `wt-test:${randomUUID().slice(0, 8)}:`;
let target: RedisTarget;
let admin: Redis;
let namespaces = 0;
const opened: RedisStore[] = [];

function ns(): string {
  return `${run}${++namespaces}:`;
}

function open(namespace = ns()): RedisStore {
  const store = redisStore({ url: target.url, namespace });
  opened.push(store);
  return store;
}

beforeAll(async () => {
  target = await findRedis();
  admin = new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterAll(async () => {
  for (const store of opened) {
    await store.clear().catch(() => undefined);
    await store.close();
  }
  await admin.quit();
  await target.stop();
});

/**
 * Counts the script calls (EVALSHA and EVAL) the server runs on keys of `namespace` while `work`
 * runs, through MONITOR (other clients of a shared server are filtered out by the namespace).
 */
async function scriptCalls(namespace: string, work: () => Promise<void>): Promise<number> {
  const monitor = await admin.monitor();
  let calls = 0;
  const marker = `${namespace}monitor-marker:${randomUUID()}`;
  let markerSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    markerSeen = resolve;
  });
  monitor.on('monitor', (_time: string, args: string[]) => {
    const command = String(args[0]).toLowerCase();
    if ((command === 'evalsha' || command === 'eval') && args.some((a) => a.startsWith(namespace))) calls++;
    if (command === 'get' && args[1] === marker) markerSeen();
  });
  try {
    await work();
    // MONITOR streams commands in the order the server ran them: once the marker shows, every
    // script call of `work` has been counted.
    await admin.get(marker);
    await seen;
  } finally {
    monitor.disconnect();
  }
  return calls;
}

/** The store without its batched steps: the engine then sends the per-key steps. */
function perKeyOnly(store: RedisStore): CacheStore<unknown> {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'beginWriteMany' || prop === 'commitWriteMany' || prop === 'invalidateMany')
        return undefined;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as CacheStore<unknown>;
}

const rows = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ key: `row-${i}`, value: { i, tag } }));

describe('the engine’s batched writes on redisStore', () => {
  it('a 100-row setMany runs 2 script calls on Redis (beginWriteMany, commitWriteMany), not 200', async () => {
    const namespace = ns();
    const store = open(namespace);
    await store.ready();
    const cache = createCache<{ i: number; tag: string }>({
      records: memoryRecords(),
      l1: false,
      l2: store,
    });
    let versions = new Map<string, { version: number }>();
    const calls = await scriptCalls(namespace, async () => {
      versions = await cache.setMany(rows(100, 'a'));
    });
    expect(calls).toBe(2);
    expect(versions.size).toBe(100);
    // Every row is in Redis at its version, served as an L2 hit.
    const looks = await store.getMany(
      rows(100, 'a').map((r) => r.key),
      { leaseTtlMs: 1_000 },
    );
    for (const [i, look] of looks.entries()) {
      expect(look).toEqual({
        kind: 'hit',
        entry: {
          kind: 'value',
          payload: JSON.stringify({ i, tag: 'a' }),
          version: versions.get(`row-${i}`)!.version,
        },
      });
    }
    expect(await cache.get('row-42')).toEqual({ i: 42, tag: 'a' });
    await cache.close();
  });

  it('the write batcher with 100 concurrent sets: 2 script calls; without batched steps: 200', async () => {
    const counts: number[] = [];
    for (const batched of [true, false]) {
      const namespace = ns();
      const store = open(namespace);
      await store.ready();
      const cache = createCache<{ i: number; tag: string }>({
        records: memoryRecords(),
        l1: false,
        l2: batched ? store : perKeyOnly(store),
        batch: { maxSize: 100, maxWaitMs: 20 },
      });
      counts.push(
        await scriptCalls(namespace, async () => {
          await Promise.all(rows(100, 'b').map((r) => cache.set(r.key, r.value)));
        }),
      );
      expect(await cache.get('row-7')).toEqual({ i: 7, tag: 'b' });
      await cache.close();
    }
    expect(counts).toEqual([2, 200]);
  });

  it('a batch over Redis and an L1: the next write of a row in the batch is seen by a second instance', async () => {
    const namespace = ns();
    const records = memoryRecords<{ i: number; tag: string }>();
    const a = createCache({ records, l2: open(namespace), batch: { maxSize: 50, maxWaitMs: 5 } });
    const b = createCache({ records, l1: false, l2: open(namespace) });
    await a.setMany(rows(20, 'first'));
    expect(await b.get('row-3')).toEqual({ i: 3, tag: 'first' });
    await Promise.all(rows(20, 'second').map((r) => a.set(r.key, r.value)));
    for (let i = 0; i < 20; i++) expect(await b.get(`row-${i}`)).toEqual({ i, tag: 'second' });
    await a.close();
    await b.close();
  });
});

describe('redisStore batched steps: failures', () => {
  it('fail fast with CacheTierError when the client is not ready', async () => {
    const port = await freePort();
    const lazy = new Redis({ port, lazyConnect: true });
    const store = redisStore({ client: lazy, namespace: ns(), timeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(store.beginWriteMany([{ key: 'a', token: 'w' }], 1_000)).rejects.toBeInstanceOf(
        CacheTierError,
      );
      await expect(
        store.commitWriteMany([
          { key: 'a', token: 'w', entry: { kind: 'value', payload: 'x', version: 1 }, ttlMs: 1_000 },
        ]),
      ).rejects.toBeInstanceOf(CacheTierError);
      await expect(store.invalidateMany([{ key: 'a', version: 1 }])).rejects.toBeInstanceOf(CacheTierError);
      expect(performance.now() - started).toBeLessThan(300 + 200);
      expect(store.stats.notReady).toBe(3);
    } finally {
      await store.close();
      lazy.disconnect();
    }
  });

  it.skipIf(ownServers.skip)(
    'send their scripts again after SCRIPT FLUSH (NOSCRIPT), also across several chunks',
    async () => {
      const server = await startRedisServer();
      const flusher = new Redis(server.url);
      const store = redisStore({ url: server.url, namespace: ns() });
      try {
        await store.ready();
        const keys = Array.from({ length: 600 }, (_, i) => `k${i}`);
        await flusher.script('FLUSH');
        await store.beginWriteMany(
          keys.map((key) => ({ key, token: 'w' })),
          60_000,
        );
        await flusher.script('FLUSH');
        const installed = await store.commitWriteMany(
          keys.map((key, i) => ({
            key,
            token: 'w',
            entry: { kind: 'value', payload: `p${i}`, version: i + 1 },
            ttlMs: 60_000,
          })),
        );
        expect(installed.every(Boolean)).toBe(true);
        await flusher.script('FLUSH');
        await store.invalidateMany(keys.map((key, i) => ({ key, version: i + 2 })));
        expect(store.stats.scriptReloads).toBe(3);
        expect((await store.get('k5', { leaseTtlMs: 1_000 })).kind).toBe('lease');
      } finally {
        await store.close();
        flusher.disconnect();
        await server.stop();
      }
    },
  );

  it.skipIf(ownServers.skip)(
    'are bounded by timeoutMs on a server that does not answer (SIGSTOP)',
    async () => {
      const server = await startRedisServer();
      const client = new Redis(server.url);
      const store = redisStore({ client, namespace: ns(), timeoutMs: 300 });
      try {
        await store.ready();
        server.pause();
        const started = performance.now();
        const error = await store
          .commitWriteMany([
            { key: 'a', token: 'w', entry: { kind: 'value', payload: 'x', version: 1 }, ttlMs: 1_000 },
            { key: 'b', token: 'w', entry: { kind: 'value', payload: 'y', version: 2 }, ttlMs: 1_000 },
          ])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CacheTierError);
        expect(performance.now() - started).toBeLessThan(300 + 200);
        expect(store.stats.timeouts).toBe(1);
      } finally {
        server.resume();
        await store.close();
        client.disconnect();
        await server.stop();
      }
    },
  );

  it.skipIf(ownServers.skip)(
    'do not use a reply that ioredis re-sent after a reconnect to a restarted server (old snapshot)',
    async () => {
      const server = await startRedisServer();
      // A caller's client with ioredis defaults: offline queue on, unanswered commands re-sent.
      const client = new Redis(server.url, { retryStrategy: () => 20 });
      client.on('error', () => undefined);
      const store = redisStore({ client, namespace: ns(), timeoutMs: 4_000 });
      try {
        await store.ready();
        const snapshot = await server.snapshot();
        server.pause();
        const begin = store.beginWriteMany(
          [
            { key: 'a', token: 'w' },
            { key: 'b', token: 'w' },
          ],
          60_000,
        );
        begin.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await server.restart({ snapshot });
        expect(
          await begin.then(
            () => 'applied',
            (error: unknown) => error,
          ),
        ).toBeInstanceOf(CacheTierError);
        await waitFor(() => store.connected, { timeoutMs: 10_000, what: 'the store checked the server' });
        expect((await store.get('a', { leaseTtlMs: 1_000 })).kind).not.toBe('hit');
      } finally {
        await store.close();
        client.disconnect();
        await server.stop();
      }
    },
  );
});
