import { findRedis, type RedisTarget, waitFor } from '@writethrough/testing/tools';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../src/proxy.ts';

let redis: RedisTarget;
let proxy: FaultProxy;

beforeAll(async () => {
  redis = await findRedis();
  proxy = await startFaultProxy({ host: redis.host, port: redis.port }, { seed: 7 });
});

afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
});

it("ioredis through the proxy: PING in 'up', a timeout in 'blackhole', ECONNRESET in 'reset', back after 'up'", async () => {
  const client = new Redis({
    host: '127.0.0.1',
    port: proxy.port,
    commandTimeout: 300,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 20,
  });
  const errors: string[] = [];
  client.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
  try {
    expect(await client.ping()).toBe('PONG');

    proxy.set({ kind: 'blackhole' });
    await expect(client.ping()).rejects.toThrow(/timed out/i);
    expect(proxy.stats().droppedBytes).toBeGreaterThan(0);

    proxy.set({ kind: 'reset' });
    await waitFor(() => errors.includes('ECONNRESET'), { what: 'ECONNRESET at the client' });
    // It keeps reconnecting, and every new connection is reset too.
    await waitFor(() => proxy.stats().reset >= 2, { what: 'a reconnect reset' });

    proxy.set({ kind: 'up' });
    await waitFor(() => client.status === 'ready', { timeoutMs: 5_000, what: 'the client reconnected' });
    expect(await client.ping()).toBe('PONG');
    expect(proxy.stats()).toMatchObject({ open: 1 });
    expect(proxy.stats().accepted).toBeGreaterThanOrEqual(2);
  } finally {
    client.disconnect();
  }
});

it("ioredis after a 'blackhole' that swallowed a command: reset at the heal, then answered again", async () => {
  // A stream resumed past the hole would match every later reply to an earlier command for good.
  const client = new Redis({
    host: '127.0.0.1',
    port: proxy.port,
    commandTimeout: 300,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 20,
  });
  client.on('error', () => undefined);
  try {
    expect(await client.ping()).toBe('PONG');
    const before = proxy.stats().lostReset;
    proxy.set({ kind: 'blackhole' });
    await expect(client.ping()).rejects.toThrow(/timed out/i);
    proxy.set({ kind: 'up' });
    expect(proxy.stats().lostReset).toBe(before + 1);
    await waitFor(() => client.status === 'ready', { timeoutMs: 5_000, what: 'the client reconnected' });
    for (let i = 0; i < 3; i++) expect(await client.ping(`p${i}`)).toBe(`p${i}`);
  } finally {
    client.disconnect();
  }
});
