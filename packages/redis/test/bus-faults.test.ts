/**
 * `redisBus` under server faults, each on a `redis-server` of its own (started from PATH; a missing
 * binary fails the run): the subscriber connection killed, FLUSHALL, the server frozen, killed and
 * restarted on the same port, and `close()`. Every wait is bounded polling.
 */

import { randomUUID } from 'node:crypto';
import type { BusState, InvalidationMessage } from '@writethrough/core';
import { type RedisServer, startRedisServer, waitFor } from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisBus, redisBus } from '../src/bus.js';

const HEARTBEAT_MS = 100;

let server: RedisServer;
const opened: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});

afterEach(async () => {
  for (const each of opened.splice(0)) await each.close().catch(() => undefined);
  if (server.running) server.resume();
});

afterAll(async () => {
  await server?.stop();
});

interface Seen {
  readonly messages: InvalidationMessage[];
  readonly states: BusState[];
}

/** Two buses on one fresh channel of the test's server, with a listener on `b`. */
async function pair(options: { timeoutMs?: number } = {}): Promise<{ a: RedisBus; b: RedisBus; atB: Seen }> {
  const channel = `wt-test:bus:${randomUUID()}`;
  const make = () =>
    redisBus({
      url: server.url,
      channel,
      heartbeatMs: HEARTBEAT_MS,
      timeoutMs: options.timeoutMs ?? 300,
      // Reconnect quickly, so the tests need not wait for ioredis's default back-off.
      redis: { retryStrategy: () => 50, connectTimeout: 500 },
    });
  const a = make();
  const b = make();
  opened.push(a, b);
  const atB: Seen = { messages: [], states: [] };
  b.subscribe(
    (message) => atB.messages.push(message),
    (state) => atB.states.push(state),
  );
  await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both buses connected' });
  return { a, b, atB };
}

let version = 0;
const message = (key: string): InvalidationMessage => ({ cache: 'c', key, version: ++version, origin: 'a' });

/** Publishes from `a` until `b` receives it (a publish may race a reconnect), within a bound. */
async function flows(a: RedisBus, atB: Seen, key: string): Promise<void> {
  await waitFor(
    async () => {
      await a.publish(message(key)).catch(() => undefined);
      const deadline = performance.now() + 200;
      while (performance.now() < deadline) {
        if (atB.messages.some((m) => m.key === key)) return true;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return false;
    },
    { timeoutMs: 10_000, what: `a message (${key}) to flow from a to b` },
  );
}

describe('redisBus under server faults', () => {
  it('CLIENT KILL TYPE pubsub: the receiver reports disconnected, then connected after ioredis reconnects; messages flow again', async () => {
    const { a, b, atB } = await pair();
    await flows(a, atB, 'before');
    const killed = await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(killed).toBeGreaterThanOrEqual(2);
    await waitFor(() => atB.states.includes('disconnected'), {
      timeoutMs: 2_000,
      what: 'b to report disconnected',
    });
    await waitFor(() => b.connected && atB.states.at(-1) === 'connected', {
      timeoutMs: 5_000,
      what: 'b to report connected again',
    });
    expect(atB.states.slice(0, 3)).toEqual(['connected', 'disconnected', 'connected']);
    await flows(a, atB, 'after');
  });

  it('FLUSHALL: every bus notices the epoch key is gone and reports disconnected then connected (L1 cleared)', async () => {
    const { a, b, atB } = await pair();
    const atA: BusState[] = [];
    a.subscribe(
      () => undefined,
      (state) => atA.push(state),
    );
    await waitFor(async () => (await server.command('EXISTS', b.epochKey)) === 1, {
      timeoutMs: 2_000,
      what: 'the epoch key to be set',
    });
    expect(atB.states).toEqual(['connected']);
    expect(await server.command('FLUSHALL')).toBe('OK');
    await waitFor(() => atB.states.length >= 3 && atA.length >= 2, {
      timeoutMs: HEARTBEAT_MS * 20,
      what: 'both buses to notice the flush',
    });
    expect(atB.states).toEqual(['connected', 'disconnected', 'connected']);
    expect(atA).toEqual(['disconnected', 'connected']);
    expect(b.stats.flushes).toBe(1);
    expect([a.connected, b.connected]).toEqual([true, true]);
    // Once the epoch is set again the buses settle: no further clears.
    const flushes = atB.states.length;
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 5));
    expect(atB.states.length).toBe(flushes);
    await flows(a, atB, 'after-flush');
  });

  it('a frozen server (SIGSTOP): the bus stops hearing its heartbeats and reports disconnected; connected again after it thaws', async () => {
    const { a, b, atB } = await pair();
    server.pause();
    try {
      await waitFor(() => !b.connected && atB.states.includes('disconnected'), {
        timeoutMs: HEARTBEAT_MS * 3 + 2_000,
        what: 'b to report disconnected while the server is frozen',
      });
      expect(b.stats.heartbeatLosses).toBeGreaterThanOrEqual(1);
      // A publish is bounded: it gives up after timeoutMs.
      const started = performance.now();
      await expect(a.publish(message('frozen'))).rejects.toThrow(/redisBus/);
      expect(performance.now() - started).toBeLessThan(1_500);
    } finally {
      server.resume();
    }
    await waitFor(() => b.connected, { timeoutMs: 10_000, what: 'b connected after the thaw' });
    expect(atB.states.at(-1)).toBe('connected');
    await flows(a, atB, 'after-thaw');
  });

  it('the server killed (SIGKILL): disconnected within a bound, publish rejects fast; restarted on the same port: connected again', async () => {
    const { a, b, atB } = await pair();
    await flows(a, atB, 'before-kill');
    await server.kill();
    const killedAt = performance.now();
    await waitFor(() => !b.connected && !a.connected, {
      timeoutMs: 2_000,
      what: 'both to report disconnected',
    });
    expect(performance.now() - killedAt).toBeLessThan(2_000);
    expect(atB.states).toEqual(['connected', 'disconnected']);
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await expect(a.publish(message('while-down'))).rejects.toThrow(/redisBus/);
      expect(performance.now() - started, 'a publish while the server is down').toBeLessThan(1_000);
    }
    await server.restart();
    await waitFor(() => a.connected && b.connected, {
      timeoutMs: 10_000,
      what: 'both connected after the restart',
    });
    expect(atB.states.at(-1)).toBe('connected');
    await flows(a, atB, 'after-restart');
    expect(atB.messages.some((m) => m.key === 'while-down')).toBe(false);
  });

  it('close() stops the timers and closes the owned connections; a publish after close rejects; a user client stays open', async () => {
    const channel = `wt-test:bus:${randomUUID()}`;
    const client = new Redis(server.url);
    opened.push({ close: () => client.quit() });
    const owned = redisBus({ url: server.url, channel, heartbeatMs: HEARTBEAT_MS });
    const borrowed = redisBus({ client, channel, heartbeatMs: HEARTBEAT_MS });
    const states: BusState[] = [];
    owned.subscribe(
      () => undefined,
      (state) => states.push(state),
    );
    await waitFor(() => owned.connected && borrowed.connected, { timeoutMs: 5_000, what: 'both connected' });
    const clientsBefore = await countClients();
    await owned.close();
    await borrowed.close();
    await owned.close();
    expect([owned.connected, borrowed.connected]).toEqual([false, false]);
    await expect(owned.publish(message('x'))).rejects.toThrow(/closed/);
    await expect(borrowed.publish(message('x'))).rejects.toThrow(/closed/);
    // Three connections were the buses' own (owned: publisher + subscriber; borrowed: subscriber).
    await waitFor(async () => (await countClients()) === clientsBefore - 3, {
      timeoutMs: 2_000,
      what: 'the buses’ connections to close',
    });
    expect(client.status).toBe('ready');
    // No timer runs any more: no heartbeat and no state change after close.
    const busCommands = async () => {
      const info = await server.command('INFO', 'commandstats');
      return String(info)
        .split('\n')
        .filter((line) => /^cmdstat_(publish|set|get):/.test(line))
        .map((line) => line.replace(/,usec.*$/, ''));
    };
    const before = await busCommands();
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 4));
    expect(await busCommands()).toEqual(before);
    expect(states).toEqual(['connected']);
  });
});

/** The number of client connections the test's server has, minus the one asking. */
async function countClients(): Promise<number> {
  const list = await server.command('CLIENT', 'LIST');
  return typeof list === 'string' ? list.trim().split('\n').length - 1 : -1;
}
