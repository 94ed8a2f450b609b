/**
 * `redisBus` on the shared test Redis (REDIS_URL, else 127.0.0.1:6379, else a throwaway server; a
 * missing Redis fails the run, it never skips): the `InvalidationBus` conformance suite, the wire
 * format, sequence gaps, garbage on the channel, and two engine instances kept coherent by the bus.
 * Every test uses a channel of its own, so it never sees another test's traffic.
 */

import { randomUUID } from 'node:crypto';
import {
  type BusState,
  createCache,
  decodeBusFrame,
  encodeBusHeartbeat,
  encodeBusMessage,
  type InvalidationMessage,
  memoryRecords,
  memoryStore,
} from '@writethrough/core';
import { describeBus, findRedis, hostileKeys, type RedisTarget, sleep, waitFor } from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisBus, redisBus } from '../src/bus.js';

let target: RedisTarget;
let url = '';
const opened: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  target = await findRedis();
  url = target.url;
});

afterEach(async () => {
  for (const each of opened.splice(0)) await each.close().catch(() => undefined);
});

afterAll(async () => {
  await target?.stop();
});

const channel = (): string => `wt-test:bus:${randomUUID()}`;

/** A bus on the shared Redis, closed after the test. */
function bus(options: Partial<Parameters<typeof redisBus>[0]> & { channel: string }): RedisBus {
  const made = redisBus({ url, ...options });
  opened.push(made);
  return made;
}

/** A plain connection for crafted frames, closed after the test. */
function rawClient(): Redis {
  const client = new Redis(url);
  opened.push({ close: () => client.quit() });
  return client;
}

/** Records what a subscription receives. */
function listen(target: RedisBus): { messages: InvalidationMessage[]; states: BusState[] } {
  const seen = { messages: [] as InvalidationMessage[], states: [] as BusState[] };
  target.subscribe(
    (message) => seen.messages.push(message),
    (state) => seen.states.push(state),
  );
  return seen;
}

describeBus(
  'redisBus (own connections from a URL)',
  () => {
    const name = channel();
    return { a: redisBus({ url, channel: name }), b: redisBus({ url, channel: name }) };
  },
  { timeoutMs: 5_000 },
);

describeBus(
  'redisBus (publishing on a user client, subscriber duplicated from it)',
  () => {
    const name = channel();
    const clientA = new Redis(url);
    const clientB = new Redis(url);
    return {
      a: redisBus({ client: clientA, channel: name }),
      b: redisBus({ client: clientB, channel: name }),
      cleanup: async () => {
        // The bus does not close a client it was given.
        expect([clientA.status, clientB.status]).toEqual(['ready', 'ready']);
        await clientA.quit();
        await clientB.quit();
      },
    };
  },
  { timeoutMs: 5_000 },
);

describe('the wire format', () => {
  const message = (key: string, version = 7): InvalidationMessage => ({
    cache: 'users',
    key,
    version,
    origin: 'instance-1',
  });

  it('round-trips hostile keys exactly: delimiters, newlines, unicode, 10,000-character keys', () => {
    const keys = [
      ...hostileKeys().map((k) => k.key),
      '',
      '.',
      '....',
      'wt1m1.1.1.1.1.',
      'a\nb\r\nc\u0000d',
      '🔑'.repeat(5_000),
      'x'.repeat(10_000),
      `${'.'.repeat(9_999)}\n`,
    ];
    for (const key of keys) {
      for (const m of [
        message(key),
        { cache: key, key, version: Number.MAX_SAFE_INTEGER, origin: key },
        { cache: '', key, version: 0, origin: '' },
      ]) {
        const frame = encodeBusMessage('abc123', 42, m);
        expect(decodeBusFrame(frame), JSON.stringify(key.slice(0, 40))).toEqual({
          kind: 'message',
          publisher: 'abc123',
          seq: 42,
          message: m,
        });
      }
    }
  });

  it('is compact: a short key costs a few bytes over the key, cache and origin', () => {
    const frame = encodeBusMessage('k3j4h5', 1234, message('user:1', 99_999));
    expect(frame).toBe('wt1mk3j4h5.ya.255r.5.a.usersinstance-1user:1');
    expect(decodeBusFrame(encodeBusHeartbeat('k3j4h5', 1_000_000))).toEqual({
      kind: 'heartbeat',
      publisher: 'k3j4h5',
      seq: 1_000_000,
    });
  });

  it('decodes garbage to undefined, never throws', () => {
    const garbage: unknown[] = [
      '',
      'hello',
      '{"key":"x","version":1}',
      'wt1',
      'wt1x',
      'wt1m',
      'wt1mabc.1.1.1',
      'wt1mabc.1.1.99.0.short',
      'wt1mABC.1.1.0.0.',
      'wt1mabc.0.1.0.0.k',
      'wt1mabc.-1.1.0.0.k',
      'wt1mabc.1.zzzzzzzzzzzz.0.0.k',
      'wt1h',
      'wt1habc.',
      'wt1habc.0',
      'wt1h.1',
      42,
      null,
      undefined,
      Buffer.from('wt1habc.1'),
    ];
    for (const each of garbage) expect(decodeBusFrame(each), String(each)).toBeUndefined();
  });

  it('refuses what it cannot carry exactly: lone surrogates, bad versions', () => {
    expect(() => encodeBusMessage('a', 1, message('\uD800x'))).toThrow(/lone surrogate/);
    expect(() => encodeBusMessage('a', 1, message('x\uDC00'))).toThrow(/lone surrogate/);
    expect(() => encodeBusMessage('a', 1, message('k', -1))).toThrow(/version/);
    expect(() => encodeBusMessage('a', 1, message('k', 1.5))).toThrow(/version/);
    expect(() => encodeBusMessage('a', 0, message('k'))).toThrow(/sequence/);
  });

  it('a bus rejects an invalid message without spending a sequence number', async () => {
    const name = channel();
    const a = bus({ channel: name });
    const b = bus({ channel: name });
    const atB = listen(b);
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    await expect(a.publish(message('\uD800'))).rejects.toThrow(/lone surrogate/);
    await a.publish(message('k1', 1));
    await a.publish(message('k2', 2));
    await waitFor(() => atB.messages.length >= 2, { timeoutMs: 5_000, what: 'b to receive 2' });
    expect(b.stats.gaps).toBe(0);
    expect(atB.states).toEqual(['connected']);
  });
});

describe('silent publishers', () => {
  it('a publisher that falls silent without a goodbye (crashed, or its publishes fail) clears the others’ L1', async () => {
    const name = channel();
    const clientA = new Redis(url);
    const a = redisBus({ client: clientA, channel: name, heartbeatMs: 100 });
    const b = bus({ channel: name, heartbeatMs: 100 });
    const atB = listen(b);
    try {
      await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
      await a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' });
      await waitFor(() => atB.messages.length === 1, { timeoutMs: 5_000, what: 'b hears a' });
      const before = atB.states.length;
      // a's publishing connection dies: its next publishes and heartbeats fail, nothing reaches b.
      clientA.disconnect();
      await expect(a.publish({ cache: 'c', key: 'k', version: 2, origin: 'a' })).rejects.toThrow(
        /redisBus publish/,
      );
      await waitFor(() => b.stats.silentPublishers === 1, {
        timeoutMs: 5_000,
        what: 'b notices a’s silence',
      });
      expect(atB.states.slice(before)).toEqual(['disconnected', 'connected']);
      expect(b.connected).toBe(true);
    } finally {
      await a.close();
    }
  });

  it('a publisher that closes says goodbye: its silence is no loss', async () => {
    const name = channel();
    const a = bus({ channel: name, heartbeatMs: 100 });
    const b = bus({ channel: name, heartbeatMs: 100 });
    const atB = listen(b);
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    await a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' });
    await waitFor(() => atB.messages.length === 1, { timeoutMs: 5_000, what: 'b hears a' });
    await a.close();
    await sleep(600);
    expect(b.stats.silentPublishers).toBe(0);
    expect(atB.states).toEqual(['connected']);
  });
});

describe('loss detection on the shared server', () => {
  it('a gap in a publisher’s sequence: the receiver reports disconnected, then connected, and delivers on', async () => {
    const name = channel();
    const b = bus({ channel: name, heartbeatMs: 0 });
    const atB = listen(b);
    await waitFor(() => b.connected, { timeoutMs: 5_000, what: 'b connected' });
    const raw = rawClient();
    const m = (key: string, version: number): InvalidationMessage => ({
      cache: 'c',
      key,
      version,
      origin: 'x',
    });
    await raw.publish(name, encodeBusMessage('forged', 5, m('k5', 5)));
    await raw.publish(name, encodeBusMessage('forged', 6, m('k6', 6)));
    await waitFor(() => atB.messages.length >= 2, { timeoutMs: 5_000, what: 'b to receive 5 and 6' });
    expect(atB.states).toEqual(['connected']);
    // seq 7 is lost.
    await raw.publish(name, encodeBusMessage('forged', 8, m('k8', 8)));
    await waitFor(() => atB.messages.length >= 3, { timeoutMs: 5_000, what: 'b to receive 8' });
    expect(atB.states).toEqual(['connected', 'disconnected', 'connected']);
    expect(b.connected).toBe(true);
    expect(b.stats.gaps).toBe(1);
    expect(atB.messages.map((x) => x.key)).toEqual(['k5', 'k6', 'k8']);
    // A replayed (older) sequence number is a loss of order too.
    await raw.publish(name, encodeBusMessage('forged', 3, m('k3', 3)));
    await waitFor(() => atB.messages.length >= 4, { timeoutMs: 5_000, what: 'b to receive 3' });
    expect(atB.states).toEqual(['connected', 'disconnected', 'connected', 'disconnected', 'connected']);
    // Another publisher has its own sequence: its first frame is no gap.
    await raw.publish(name, encodeBusMessage('other', 100, m('o', 1)));
    await waitFor(() => atB.messages.length >= 5, { timeoutMs: 5_000, what: 'b to receive o' });
    expect(b.stats.gaps).toBe(2);
  });

  it('a stalled event loop is no lost subscription: no false alarm after a 500 ms block', async () => {
    const name = channel();
    const b = bus({ channel: name, heartbeatMs: 50, missedHeartbeats: 3 });
    const atB = listen(b);
    await waitFor(() => b.connected, { timeoutMs: 5_000, what: 'b connected' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const until = Date.now() + 500;
    while (Date.now() < until) {
      // Blocks the event loop, as a long synchronous task would.
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(atB.states).toEqual(['connected']);
    expect(b.stats.heartbeatLosses).toBe(0);
  });

  it('garbage and foreign messages on the channel are ignored and counted; delivery goes on', async () => {
    const name = channel();
    const a = bus({ channel: name });
    const b = bus({ channel: name });
    const atB = listen(b);
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    const raw = rawClient();
    for (const junk of ['hello', '{"key":"k","version":1}', 'wt1m', 'wt1mabc.1.1.99.0.x', '\u0000\uFFFF']) {
      await raw.publish(name, junk);
    }
    await raw.publish(name, Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    await a.publish({ cache: 'c', key: 'after', version: 1, origin: 'a' });
    await waitFor(() => atB.messages.length >= 1, { timeoutMs: 5_000, what: 'b to receive after the junk' });
    expect(atB.messages).toEqual([{ cache: 'c', key: 'after', version: 1, origin: 'a' }]);
    expect(b.stats.ignored).toBe(6);
    expect(atB.states).toEqual(['connected']);
  });

  it('a failed publish leaves a gap: receivers clear their L1 on the publisher’s next frame', async () => {
    const name = channel();
    const client = new Redis(url, { lazyConnect: true });
    opened.push({ close: async () => client.disconnect() });
    await client.connect();
    const a = bus({ client, channel: name, heartbeatMs: 0, timeoutMs: 200 });
    const b = bus({ channel: name, heartbeatMs: 0 });
    const atB = listen(b);
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    await a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' });
    // The publisher connection goes down: publish rejects at once, the frame never left.
    client.disconnect();
    await waitFor(() => client.status === 'end', { timeoutMs: 5_000, what: 'the client to close' });
    const started = performance.now();
    await expect(a.publish({ cache: 'c', key: 'k', version: 2, origin: 'a' })).rejects.toThrow(
      /publisher connection is down/,
    );
    expect(performance.now() - started).toBeLessThan(100);
    await client.connect();
    await a.publish({ cache: 'c', key: 'k', version: 3, origin: 'a' });
    await waitFor(() => atB.messages.length >= 2, { timeoutMs: 5_000, what: 'b to receive 1 and 3' });
    expect(atB.messages.map((m) => m.version)).toEqual([1, 3]);
    expect(atB.states).toEqual(['connected', 'disconnected', 'connected']);
  });
});

describe('two engine instances, each with its own L1 and redisBus on one channel', () => {
  it('a write on A makes B’s next read return the new value', async () => {
    const name = channel();
    const records = memoryRecords<string>();
    const busA = bus({ channel: name });
    const busB = bus({ channel: name });
    const l1B = memoryStore();
    const a = createCache({ name: 'users', records, l1: memoryStore(), bus: busA, instanceId: 'a' });
    const b = createCache({ name: 'users', records, l1: l1B, bus: busB, instanceId: 'b' });
    opened.push(a, b);
    await waitFor(() => busA.connected && busB.connected, { timeoutMs: 5_000, what: 'both buses connected' });
    await waitFor(() => b.l1Enabled, { timeoutMs: 5_000, what: 'B’s L1 enabled' });

    await a.set('u:1', 'v1');
    expect(await b.get('u:1')).toBe('v1');
    expect(await b.get('u:1')).toBe('v1');
    expect(b.stats().l1.hits).toBeGreaterThanOrEqual(1);
    expect(l1B.inspect('u:1').entry).toBeDefined();

    const { version } = await a.set('u:1', 'v2');
    await waitFor(() => l1B.inspect('u:1').entry === undefined, {
      timeoutMs: 5_000,
      what: 'B’s L1 copy to be invalidated by the bus',
    });
    expect(l1B.inspect('u:1').floor).toBe(version);
    expect(await b.get('u:1')).toBe('v2');

    await a.delete('u:1');
    await waitFor(async () => (await b.get('u:1')) === undefined, {
      timeoutMs: 5_000,
      what: 'B to see the delete',
    });
    expect(b.stats().busMessages).toBeGreaterThanOrEqual(2);
  });
});
