/**
 * redisStore on a real Redis (REDIS_URL, else 127.0.0.1:6379, else a throwaway redis-server): the
 * CacheStore conformance suite, then what is special to Redis — key layout and hash tags, script
 * reload after SCRIPT FLUSH, owned and caller's connections, option validation, the value size
 * limit, failing fast when Redis is not ready, restart detection, getMany ordering.
 * Each run uses namespaces of its own and deletes only its own keys; a missing server fails the run.
 */

import { randomUUID } from 'node:crypto';
import {
  CacheClosedError,
  type CacheStore,
  CacheTierError,
  InvalidArgumentError,
  SizeLimitError,
} from '@writethrough/core';
import {
  describeCacheStore,
  findRedis,
  freePort,
  hostileKeys,
  type RedisTarget,
  redisTestsAvailable,
  startRedisServer,
  waitFor,
} from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeKey, keySlot, redisKeys } from '../src/keys.js';
import { type RedisStore, redisStore } from '../src/store.js';

/** The tests that start a redis-server of their own need the binary (a laptop may have only a server). */
const ownServers = await redisTestsAvailable(
  'redisStore tests on servers of their own (slots, NOSCRIPT, SIGSTOP, restart)',
  {
    needBinary: true,
  },
);

const LEASE = { leaseTtlMs: 30_000 };
const run = `wt-test:${randomUUID().slice(0, 8)}:`;
let target: RedisTarget;
let admin: Redis;
let namespaces = 0;

/** A fresh namespace of this run. */
function ns(): string {
  return `${run}${++namespaces}:`;
}

/** Every key of this run's namespaces. */
async function keysOf(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

beforeAll(async () => {
  target = await findRedis();
  admin = new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterAll(async () => {
  const left = await keysOf(run);
  for (let i = 0; i < left.length; i += 500) await admin.unlink(...left.slice(i, i + 500));
  await admin.quit();
  await target.stop();
});

describeCacheStore('redisStore (standalone)', () => redisStore({ url: target.url, namespace: ns() }), {
  payload: (i) => JSON.stringify({ i, text: `sample ${i} ✓ 🔑`, list: [i, null, true] }),
  ttlGranularityMs: 5,
  cleanup: async (store) => {
    await store.clear();
  },
});

describeCacheStore(
  'redisStore (caller’s client)',
  async () => {
    const client = new Redis(target.url, { enableOfflineQueue: false });
    const store = redisStore({ client, namespace: ns() });
    await store.ready();
    // The caller owns the client: close it after the store.
    const close = store.close.bind(store);
    return Object.assign(store, {
      close: async () => {
        await close();
        await client.quit();
      },
    });
  },
  { cleanup: (store) => store.clear() },
);

describe('redisStore: key layout', () => {
  it('puts a key’s value, lease and mark under one hash tag, for hostile keys too', () => {
    const keys = [...hostileKeys().map(({ key }) => key), '{', '}', '}{', '{}', '\\', '\\{', 'a{b}c', '{{}}'];
    for (const key of keys) {
      const k = redisKeys('ns:', key);
      for (const redisKey of [k.value, k.lease, k.mark]) {
        const open = redisKey.indexOf('{');
        const close = redisKey.indexOf('}', open + 1);
        expect(open, `${JSON.stringify(key)}: the tag opens right after the namespace`).toBe(3);
        expect(close, `${JSON.stringify(key)}: the tag is closed and not empty`).toBeGreaterThan(open + 1);
        expect(redisKey.slice(open + 1, close), 'the tag is the escaped key').toBe(escapeKey(key));
        expect(redisKey.slice(close), 'only the suffix follows the tag').toMatch(/^\}:[vlm]$/);
      }
      expect(new Set([keySlot(k.value), keySlot(k.lease), keySlot(k.mark)]).size, 'one slot').toBe(1);
    }
  });

  it('maps distinct keys to distinct Redis keys (the escaping is injective)', () => {
    const keys = ['a', 'a\\', '\\(', '{', '\\\\(', '\\{', '(', ')', '}', '\\)', 'a{', 'a\\(', '{}', '\\(\\)'];
    const escaped = keys.map(escapeKey);
    expect(new Set(escaped).size).toBe(keys.length);
    for (const e of escaped) expect(e).not.toMatch(/[{}]/);
  });

  it.skipIf(ownServers.skip)(
    'computes the slot CLUSTER KEYSLOT computes (checked on a cluster-enabled redis-server)',
    async () => {
      const port = await freePort();
      const server = await startRedisServer({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
      });
      try {
        const keys = [...hostileKeys().map(({ key }) => key), '{', '}{', 'plain', 'ключ'];
        for (const key of keys) {
          const k = redisKeys('ns:', key);
          for (const redisKey of [k.value, k.lease, k.mark]) {
            expect(await server.command('CLUSTER', 'KEYSLOT', redisKey), JSON.stringify(key)).toBe(
              keySlot(redisKey),
            );
          }
        }
      } finally {
        await server.stop();
      }
    },
  );

  it('stores the three keys under the namespace with the documented encoding', async () => {
    const namespace = ns();
    const store = redisStore({ url: target.url, namespace });
    try {
      const key = 'layout {test}';
      const k = redisKeys(namespace, key);
      expect(k.value).toBe(`${namespace}{layout \\(test\\)}:v`);
      const lookup = await store.get(key, LEASE);
      expect(lookup.kind).toBe('lease');
      expect(await admin.get(k.lease)).toBe((lookup as { token: string }).token);
      expect(
        await store.fill(
          key,
          (lookup as { token: string }).token,
          { kind: 'value', payload: 'x:y', version: 7 },
          60_000,
        ),
      ).toBe(true);
      expect(await admin.get(k.value)).toBe('v7:x:y');
      expect(await admin.exists(k.lease)).toBe(0);
      await store.beginWrite(key, 'w1', 60_000);
      expect(await admin.hgetall(k.mark)).toEqual({ f: '0', ww1: '1' });
      expect(await store.commitWrite(key, 'w1', { kind: 'absent', version: 9 }, 60_000)).toBe(true);
      expect(await admin.get(k.value)).toBe('a9');
      expect(await admin.hgetall(k.mark)).toEqual({ f: '9' });
      const pttl = await admin.pttl(k.value);
      expect(pttl).toBeGreaterThan(50_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('stores an Infinity TTL without expiry', async () => {
    const namespace = ns();
    const store = redisStore({ url: target.url, namespace });
    try {
      const lookup = await store.get('forever', { leaseTtlMs: Number.POSITIVE_INFINITY });
      const k = redisKeys(namespace, 'forever');
      expect(await admin.pttl(k.lease)).toBe(-1);
      const token = (lookup as { token: string }).token;
      await store.fill(
        'forever',
        token,
        { kind: 'value', payload: 'p', version: 1 },
        Number.POSITIVE_INFINITY,
      );
      expect(await admin.pttl(k.value)).toBe(-1);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('clear() removes this namespace only, also a namespace that is a prefix of another', async () => {
    const base = ns();
    const a = redisStore({ url: target.url, namespace: base });
    const b = redisStore({ url: target.url, namespace: `${base}more:` });
    const globby = redisStore({ url: target.url, namespace: `${base}*?[x]\\` });
    try {
      for (const store of [a, b, globby]) {
        for (let i = 0; i < 30; i++) {
          const lookup = await store.get(`k${i}`, LEASE);
          await store.fill(
            `k${i}`,
            (lookup as { token: string }).token,
            { kind: 'value', payload: 'p', version: 1 },
            60_000,
          );
        }
      }
      // Each store's restart marker (`<namespace>run-id`) is not an entry: clear() leaves it.
      const entriesOf = async (prefix: string) =>
        (await keysOf(prefix)).filter((key) => !key.endsWith('run-id'));
      const outside = `${run}outside`;
      await admin.set(outside, '1');
      await globby.clear();
      expect((await entriesOf(`${base}*`)).length, 'the glob namespace is empty').toBe(0);
      expect((await entriesOf(base)).length, 'a and b keep theirs').toBe(60);
      await a.clear();
      expect((await entriesOf(`${base}more:`)).length, 'b keeps its keys').toBe(30);
      expect((await entriesOf(base)).length, 'only b is left').toBe(30);
      expect(await admin.get(outside)).toBe('1');
      expect(await admin.get(`${base}run-id`), 'a’s marker stays').toMatch(/^[0-9a-f]{40}$/);
      await admin.del(outside);
    } finally {
      for (const store of [a, b, globby]) {
        await store.clear();
        await store.close();
      }
    }
  });
});

describe('redisStore: scripts', () => {
  it.skipIf(ownServers.skip)(
    'sends a script again after SCRIPT FLUSH (NOSCRIPT), for every step and for getMany',
    async () => {
      // A server of its own: other stores on the shared server would load the scripts again meanwhile.
      const server = await startRedisServer();
      const admin = new Redis(server.url);
      const store = redisStore({ url: server.url, namespace: ns() });
      try {
        await store.ready();
        await admin.script('FLUSH');
        const lookup = await store.get('a', LEASE);
        expect(lookup.kind).toBe('lease');
        expect(store.stats.scriptReloads).toBe(1);
        await admin.script('FLUSH');
        expect(
          await store.fill(
            'a',
            (lookup as { token: string }).token,
            { kind: 'value', payload: 'x', version: 1 },
            60_000,
          ),
        ).toBe(true);
        await admin.script('FLUSH');
        await store.beginWrite('a', 'w', 60_000);
        await admin.script('FLUSH');
        expect(await store.commitWrite('a', 'w', { kind: 'value', payload: 'y', version: 2 }, 60_000)).toBe(
          true,
        );
        await admin.script('FLUSH');
        await store.invalidate('a', 3);
        await admin.script('FLUSH');
        const many = await store.getMany(['a', 'b'], LEASE);
        expect(many.map((each) => each.kind)).toEqual(['lease', 'lease']);
        await admin.script('FLUSH');
        const keys = Array.from({ length: 600 }, (_, i) => `many-${i}`);
        expect((await store.getMany(keys, LEASE)).every((each) => each.kind === 'lease')).toBe(true);
        expect(store.stats.scriptReloads).toBe(7);
      } finally {
        await store.close();
        admin.disconnect();
        await server.stop();
      }
    },
  );

  it('keeps keys and payloads out of the script text (Lua injection is inert)', async () => {
    const namespace = ns();
    const store = redisStore({ url: target.url, namespace });
    const canary = `${run}canary`;
    await admin.set(canary, 'alive');
    try {
      const evil = [
        "]] redis.call('FLUSHALL') --",
        "'); redis.call('DEL', KEYS[1]) --",
        "\" .. redis.call('SET', 'x', 'y') .. \"",
        '\0',
        'a\0b',
      ];
      for (const [i, text] of evil.entries()) {
        const lookup = await store.get(text, LEASE);
        expect(lookup.kind).toBe('lease');
        await store.fill(
          text,
          (lookup as { token: string }).token,
          { kind: 'value', payload: text, version: i + 1 },
          60_000,
        );
        expect(await store.get(text, LEASE)).toEqual({
          kind: 'hit',
          entry: { kind: 'value', payload: text, version: i + 1 },
        });
      }
      expect(await admin.get(canary)).toBe('alive');
    } finally {
      await admin.del(canary);
      await store.clear();
      await store.close();
    }
  });
});

describe('redisStore: connections', () => {
  it('close() quits a connection it opened, and is idempotent; later calls reject with CacheClosedError', async () => {
    const store = redisStore({ url: target.url, namespace: ns() });
    await store.ready();
    await Promise.all([store.close(), store.close()]);
    await store.close();
    expect(store.client.status).toBe('end');
    await expect(store.get('a', LEASE)).rejects.toBeInstanceOf(CacheClosedError);
    await expect(store.getMany(['a'], LEASE)).rejects.toBeInstanceOf(CacheClosedError);
    await expect(store.fill('a', 't', { kind: 'absent', version: 1 }, 1000)).rejects.toBeInstanceOf(
      CacheClosedError,
    );
    await expect(store.beginWrite('a', 't', 1000)).rejects.toBeInstanceOf(CacheClosedError);
    await expect(store.commitWrite('a', 't', { kind: 'absent', version: 1 }, 1000)).rejects.toBeInstanceOf(
      CacheClosedError,
    );
    await expect(store.abortWrite('a', 't')).rejects.toBeInstanceOf(CacheClosedError);
    await expect(store.invalidate('a', 1)).rejects.toBeInstanceOf(CacheClosedError);
    await expect(store.clear()).rejects.toBeInstanceOf(CacheClosedError);
  });

  it('close() leaves a caller’s client open', async () => {
    const client = new Redis(target.url);
    const store = redisStore({ client, namespace: ns() });
    try {
      await store.ready();
      await store.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      await expect(store.get('a', LEASE)).rejects.toBeInstanceOf(CacheClosedError);
    } finally {
      await client.quit();
    }
  });

  it('waits for the first connection of its own (within timeoutMs) instead of failing the first call', async () => {
    const store = redisStore({ url: target.url, namespace: ns() });
    try {
      expect((await store.get('first', LEASE)).kind).toBe('lease');
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('calls waiting for the first connection share one pair of listeners (no MaxListenersExceededWarning at 32)', async () => {
    const client = new Redis(target.url);
    const baseline = { ready: client.listenerCount('ready'), end: client.listenerCount('end') };
    const store = redisStore({ client, namespace: ns() });
    try {
      const calls = Array.from({ length: 32 }, (_, i) => store.get(`first-${i}`, LEASE));
      // The store's own listeners are added once; the 32 waiting calls add one pair between them.
      expect(client.listenerCount('ready') - baseline.ready).toBeLessThanOrEqual(2);
      expect(client.listenerCount('end') - baseline.end).toBeLessThanOrEqual(2);
      expect((await Promise.all(calls)).every((look) => look.kind === 'lease')).toBe(true);
    } finally {
      await store.clear();
      await store.close();
      await client.quit();
    }
  });

  it('fails fast with CacheTierError when the client is not ready (closed port, lazyConnect, offline queue)', async () => {
    const port = await freePort();
    const lazy = new Redis({ port, lazyConnect: true });
    const store = redisStore({ client: lazy, namespace: ns(), timeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(store.get('a', LEASE)).rejects.toBeInstanceOf(CacheTierError);
      await expect(store.beginWrite('a', 'w', 1000)).rejects.toBeInstanceOf(CacheTierError);
      expect(performance.now() - started).toBeLessThan(300 + 200);
      expect(store.stats.notReady).toBe(2);
    } finally {
      await store.close();
      lazy.disconnect();
    }
  });

  it('bounds a call by timeoutMs when its own connection cannot connect (closed port)', async () => {
    const port = await freePort();
    const store = redisStore({ url: `redis://127.0.0.1:${port}`, namespace: ns(), timeoutMs: 300 });
    try {
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const error = await store.get('a', LEASE).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CacheTierError);
        expect((error as CacheTierError).tier).toBe('l2');
        expect(performance.now() - started).toBeLessThan(300 + 200);
      }
    } finally {
      await store.close();
    }
  });

  it.skipIf(ownServers.skip)(
    'bounds a call by timeoutMs on a server that does not answer (SIGSTOP), with an offline-queue client',
    async () => {
      const server = await startRedisServer();
      const client = new Redis(server.url); // offline queue on, no commandTimeout: the store's own timer bounds it
      const store = redisStore({ client, namespace: ns(), timeoutMs: 300 });
      try {
        await store.ready();
        server.pause();
        const started = performance.now();
        const error = await store.get('a', LEASE).catch((e: unknown) => e);
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
    'detects a restart (run_id changed): clears its namespace before serving again, counts it, calls onRestart',
    async () => {
      const server = await startRedisServer();
      const restarts: unknown[] = [];
      const namespace = ns();
      const store = redisStore({
        url: server.url,
        namespace,
        timeoutMs: 500,
        redis: { retryStrategy: () => 50 },
        onRestart: (event) => restarts.push(event),
      });
      const other = new Redis(server.url);
      try {
        const lookup = await store.get('k', LEASE);
        await store.fill(
          'k',
          (lookup as { token: string }).token,
          { kind: 'value', payload: 'old', version: 1 },
          60_000,
        );
        const snapshot = await server.snapshot();
        // A later write the snapshot does not have: after a restart from the snapshot, v1 is stale.
        await store.beginWrite('k', 'w', 60_000);
        expect(await store.commitWrite('k', 'w', { kind: 'value', payload: 'new', version: 2 }, 60_000)).toBe(
          true,
        );
        await server.restart({ snapshot });
        await waitFor(async () => store.connected, {
          timeoutMs: 10_000,
          what: 'the store reconnects and checks',
        });
        expect(store.stats.restarts).toBe(1);
        expect(restarts).toHaveLength(1);
        // The old snapshot's v1 was cleared: a miss, not a stale hit.
        expect((await store.get('k', LEASE)).kind).toBe('lease');
        // A reconnect to the same server is not a restart.
        await other.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        await waitFor(() => store.client.status !== 'ready', {
          timeoutMs: 5_000,
          what: 'the store sees the kill',
        });
        await waitFor(async () => store.client.status === 'ready' && store.connected, {
          timeoutMs: 10_000,
          what: 'reconnected',
        });
        await store.get('x', LEASE);
        expect(store.stats.restarts).toBe(1);
      } finally {
        await store.close();
        other.disconnect();
        await server.stop();
      }
    },
  );
});

describe('redisStore: replies across a reconnection', () => {
  it.skipIf(ownServers.skip)(
    'does not use a reply that ioredis re-sent after a reconnect to a restarted server (old snapshot)',
    async () => {
      const server = await startRedisServer();
      const namespace = ns();
      // A caller's client with ioredis defaults: offline queue on, unanswered commands re-sent.
      const client = new Redis(server.url, { retryStrategy: () => 20 });
      const store = redisStore({ client, namespace, timeoutMs: 4_000 });
      try {
        await store.ready();
        const lookup = await store.get('k', LEASE);
        await store.fill(
          'k',
          (lookup as { token: string }).token,
          { kind: 'value', payload: 'old', version: 1 },
          60_000,
        );
        const snapshot = await server.snapshot();
        await store.beginWrite('k', 'w', 60_000);
        expect(await store.commitWrite('k', 'w', { kind: 'value', payload: 'new', version: 2 }, 60_000)).toBe(
          true,
        );
        server.pause();
        const read = store.get('k', LEASE);
        read.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The GET is on the wire; the server dies and comes back from the snapshot that holds v1.
        await server.restart({ snapshot });
        const outcome = await read.then(
          (look) => (look.kind === 'hit' && look.entry.kind === 'value' ? look.entry.payload : look.kind),
          (error: unknown) => error,
        );
        expect(outcome, 'the re-sent GET’s answer').toBeInstanceOf(CacheTierError);
        // Once the store checked the new server, the stale v1 is gone.
        await waitFor(() => store.connected, { timeoutMs: 10_000, what: 'the store checked the server' });
        expect((await store.get('k', LEASE)).kind).toBe('lease');
      } finally {
        await store.close();
        client.disconnect();
        await server.stop();
      }
    },
  );
});

describe('redisStore: validation', () => {
  let store: RedisStore;
  beforeAll(async () => {
    store = redisStore({ url: target.url, namespace: ns(), maxValueBytes: 1024, maxKeyBytes: 64 });
    await store.ready();
  });
  afterAll(async () => {
    await store.clear();
    await store.close();
  });

  it('refuses bad options', () => {
    const bad: unknown[] = [
      {},
      { url: target.url, namespace: '' },
      { url: target.url, namespace: 'a{b' },
      { url: target.url, namespace: 'a}b' },
      { url: target.url, namespace: 7 },
      { url: target.url, timeoutMs: 0 },
      { url: target.url, timeoutMs: Number.POSITIVE_INFINITY },
      { url: target.url, floorTtlMs: -1 },
      { url: target.url, maxValueBytes: 0 },
      { url: target.url, maxKeyBytes: 1.5 },
      { url: target.url, onRestart: 'x' },
      { url: 42 },
      { client: {} },
      { client: new Redis({ lazyConnect: true }), url: target.url },
      { client: new Redis({ lazyConnect: true, keyPrefix: 'p:' }) },
    ];
    for (const options of bad) {
      expect(() => redisStore(options as never), JSON.stringify(Object.keys(options as object))).toThrow(
        InvalidArgumentError,
      );
    }
  });

  it('refuses empty, over-long and ill-formed keys', async () => {
    await expect(store.get('', LEASE)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.get(42 as never, LEASE)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.get('\ud800', LEASE)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.get('a\udc00b', LEASE)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.getMany(['ok', ''], LEASE)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.get('x'.repeat(65), LEASE)).rejects.toBeInstanceOf(SizeLimitError);
    await expect(store.get('é'.repeat(33), LEASE)).rejects.toBeInstanceOf(SizeLimitError);
    expect((await store.get('x'.repeat(64), LEASE)).kind).toBe('lease');
    expect((await store.get('🔑'.repeat(16), LEASE)).kind).toBe('lease');
  });

  it('refuses bad TTLs, versions, tokens and entries like memoryStore', async () => {
    for (const ttl of [0, -1, Number.NaN, '5' as never]) {
      await expect(store.fill('a', 't', { kind: 'absent', version: 1 }, ttl)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(store.commitWrite('a', 't', { kind: 'absent', version: 1 }, ttl)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(store.beginWrite('a', 't', ttl)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(store.get(`fresh-${String(ttl)}`, { leaseTtlMs: ttl })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    for (const version of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.invalidate('a', version)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    for (const entry of [
      { kind: 'value', payload: 'x', version: 1.5 },
      { kind: 'value', payload: 'x', version: -1 },
      { kind: 'value', payload: 42, version: 1 },
      { kind: 'value', payload: '\ud800', version: 1 },
      { kind: 'other', version: 1 },
      null,
    ]) {
      await expect(store.fill('a', 't', entry as never, 1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(store.beginWrite('a', 42 as never, 1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    // An invalid lease TTL is reported only when a lease would be granted (as memoryStore).
    const lookup = await store.get('hit-with-bad-ttl', LEASE);
    await store.fill(
      'hit-with-bad-ttl',
      (lookup as { token: string }).token,
      { kind: 'absent', version: 1 },
      60_000,
    );
    expect((await store.get('hit-with-bad-ttl', { leaseTtlMs: 0 })).kind).toBe('hit');
  });

  it('refuses a payload over maxValueBytes with SizeLimitError before writing anything', async () => {
    const key = 'big';
    const lookup = await store.get(key, LEASE);
    const token = (lookup as { token: string }).token;
    const error = await store
      .fill(key, token, { kind: 'value', payload: 'é'.repeat(513), version: 1 }, 60_000)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SizeLimitError);
    expect((error as SizeLimitError).key).toBe(key);
    expect((error as SizeLimitError).size).toBe(1026);
    expect((error as SizeLimitError).limit).toBe(1024);
    // Nothing was written: the lease is still held, so the fill at the limit installs.
    expect(await store.get(key, LEASE)).toEqual({ kind: 'wait' });
    await store.beginWrite('big-w', 'w', 60_000);
    await expect(
      store.commitWrite('big-w', 'w', { kind: 'value', payload: 'x'.repeat(1025), version: 1 }, 60_000),
    ).rejects.toBeInstanceOf(SizeLimitError);
    expect(await store.get('big-w', LEASE)).toEqual({ kind: 'writing' });
    expect(
      await store.fill(key, token, { kind: 'value', payload: 'x'.repeat(1024), version: 1 }, 60_000),
    ).toBe(true);
  });
});

describe('redisStore: hit path', () => {
  it.skipIf(ownServers.skip)(
    'sends the hits of one turn as one MGET, and a lone hit as one GET',
    async () => {
      const server = await startRedisServer();
      const store = redisStore({ url: server.url, namespace: ns() });
      try {
        await store.ready();
        const keys = Array.from({ length: 16 }, (_, i) => `hit:${i}`);
        for (const [i, key] of keys.entries()) {
          const look = await store.get(key, LEASE);
          if (look.kind !== 'lease') throw new Error(`expected a lease for ${key}`);
          expect(
            await store.fill(key, look.token, { kind: 'value', payload: `p${i}`, version: i + 1 }, 60_000),
          ).toBe(true);
        }
        const calls = async () => {
          const info = String(await server.command('INFO', 'commandstats'));
          const count = (name: string) =>
            Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
          return { get: count('get'), mget: count('mget') };
        };
        const before = await calls();
        const looks = await Promise.all(keys.map((key) => store.get(key, LEASE)));
        expect(
          looks.map((l) => (l.kind === 'hit' && l.entry.kind === 'value' ? l.entry.payload : l.kind)),
        ).toEqual(keys.map((_, i) => `p${i}`));
        const after = await calls();
        expect(after.mget - before.mget, 'MGETs for 16 concurrent hits').toBe(1);
        expect(after.get - before.get, 'GETs for 16 concurrent hits').toBe(0);
        // A miss in the batch still gets its lease; a lone get is a GET.
        const [hitLook, missLook] = await Promise.all([
          store.get(keys[0]!, LEASE),
          store.get('hit:none', LEASE),
        ]);
        expect(hitLook.kind).toBe('hit');
        expect(missLook.kind).toBe('lease');
        const lone = await calls();
        expect((await store.get(keys[1]!, LEASE)).kind).toBe('hit');
        expect((await calls()).get - lone.get, 'GETs for one hit').toBe(1);
      } finally {
        await store.close();
        await server.stop();
      }
    },
  );
});

describe('redisStore: getMany', () => {
  it('answers in the order of keys across chunks, with duplicates as sequential gets', async () => {
    const store: CacheStore<string> = redisStore({ url: target.url, namespace: ns() });
    try {
      const keys = Array.from({ length: 700 }, (_, i) => `k${i}`);
      for (let i = 0; i < keys.length; i += 7) {
        const lookup = await store.get(keys[i]!, LEASE);
        await store.fill(
          keys[i]!,
          (lookup as { token: string }).token,
          { kind: 'value', payload: `p${i}`, version: i + 1 },
          60_000,
        );
      }
      const lookups = await store.getMany(keys, LEASE);
      expect(lookups).toHaveLength(keys.length);
      for (const [i, lookup] of lookups.entries()) {
        if (i % 7 === 0)
          expect(lookup).toEqual({ kind: 'hit', entry: { kind: 'value', payload: `p${i}`, version: i + 1 } });
        else expect(lookup.kind).toBe('lease');
      }
      const tokens = lookups.flatMap((lookup) => (lookup.kind === 'lease' ? [lookup.token] : []));
      expect(new Set(tokens).size, 'distinct tokens').toBe(tokens.length);
      expect((await store.getMany(['dup', 'dup', 'dup'], LEASE)).map((each) => each.kind)).toEqual([
        'lease',
        'wait',
        'wait',
      ]);
    } finally {
      await store.clear();
      await store.close();
    }
  });

  it('grants lease tokens unique across store instances', async () => {
    const namespace = ns();
    const stores = [redisStore({ url: target.url, namespace }), redisStore({ url: target.url, namespace })];
    try {
      const tokens = new Set<string>();
      for (const store of stores) {
        for (let i = 0; i < 20; i++) {
          const lookup = await store.get(`t${i}`, { leaseTtlMs: 1 });
          await new Promise((resolve) => setTimeout(resolve, 3));
          if (lookup.kind === 'lease') tokens.add(lookup.token);
        }
      }
      expect(tokens.size).toBe(40);
    } finally {
      await stores[0]!.clear();
      for (const store of stores) await store.close();
    }
  });
});
