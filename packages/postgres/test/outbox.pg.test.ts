/**
 * The transactional outbox on a Postgres server: the shared outbox tests through a pg.Pool, one
 * leader at a time among relays (and a hand-over when the leader's session dies), and R3b: a writer
 * process cut off from Redis commits and is SIGKILLed before any cache step; another instance reads
 * the old value from Redis until the relay applies the crashed writer's row.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createCache } from '@writethrough/core';
import { redisStore } from '@writethrough/redis';
import { findRedis, type RedisTarget, randomKey } from '@writethrough/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, outboxRelay, postgresRecords } from '../src/index.ts';
import { serverConfig, serverSchema } from './helpers.ts';
import { outboxTests } from './outbox-shared.ts';

const server = serverSchema({ migrate: false });
const { schema } = server;
beforeAll(server.setup);
afterAll(server.teardown);

describe('outbox on a Postgres server (pg.Pool)', () => {
  outboxTests(() => ({ client: server.pool, schema }));
});

describe('outbox relay: one leader at a time', () => {
  it('only the relay holding the advisory lock applies rows; when its session dies another takes over', async () => {
    const table = 'leader';
    await migrate(server.pool, { schema, table, outbox: true });
    const records = postgresRecords<number>({ client: server.pool, schema, table, outbox: true });
    const applied: string[] = [];
    const relays = [1, 2].map((n) =>
      outboxRelay({
        records,
        cache: { invalidate: async (key) => void applied.push(`${n}:${key}`) },
        graceMs: 0,
        autoStart: false,
        connect: () => new pg.Client({ ...serverConfig(), application_name: `wt-relay-test-${schema}-${n}` }),
      }),
    );
    const [one, two] = relays as [(typeof relays)[0], (typeof relays)[0]];
    try {
      await records.set('a', 1);
      expect(await one.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
      await records.set('b', 2);
      expect(await two.runOnce()).toEqual({ leader: false, applied: 0, retried: 0 });
      expect(await one.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
      expect(applied).toEqual(['1:a', '1:b']);

      // The leader's session dies: its lock goes with it.
      const killed = await server.pool.query(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [`wt-relay-test-${schema}-1`],
      );
      expect(killed.rows).toEqual([{ ok: true }]);
      await records.set('c', 3);
      expect(await two.runOnce()).toEqual({ leader: true, applied: 1, retried: 0 });
      expect(two.leader).toBe(true);
      // The old leader finds its connection gone, reconnects, and is not the leader any more.
      await one.runOnce().catch(() => undefined);
      expect(await one.runOnce()).toEqual({ leader: false, applied: 0, retried: 0 });
      expect(applied).toEqual(['1:a', '1:b', '2:c']);
      expect(one.stats.elected).toBe(1);
      expect(two.stats.elected).toBe(1);
    } finally {
      await Promise.all(relays.map((r) => r.close()));
    }
    // close() released the relays' sessions.
    const left = await server.pool.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1',
      [`wt-relay-test-${schema}-%`],
    );
    expect(left.rows[0]).toEqual({ n: 0 });
  });
});

/** A TCP proxy in front of Redis that the test can cut (a partition of one instance, which a real server cannot give). */
async function cuttableProxy(target: RedisTarget): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = new Socket();
    outbound.connect(target.port, target.host);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

describe('R3b: a writer that crashes after its commit', () => {
  let redis: RedisTarget;
  beforeAll(async () => {
    redis = await findRedis();
  });
  afterAll(async () => {
    await redis?.stop?.();
  });

  it('leaves the old value in Redis (cut off from it, it could not mark the key) until the relay applies its row', async () => {
    const table = 'crash';
    await migrate(server.pool, { schema, table, outbox: true });
    const records = postgresRecords<string>({ client: server.pool, schema, table, outbox: true });
    const namespace = `wt-crash-${randomKey('ns')}:`;
    const key = randomKey('crash');
    const reader = () =>
      createCache<string>({
        name: 'crash',
        records,
        l1: false,
        l2: redisStore({ url: redis.url, namespace, timeoutMs: 1_000 }),
      });
    const first = reader();
    await first.set(key, 'v1');
    expect(await first.get(key)).toBe('v1');
    await first.close();
    await records.flushOutbox();

    const proxy = await cuttableProxy(redis);
    let child: ChildProcess | undefined;
    try {
      child = fork(fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url)), [], {
        env: {
          ...process.env,
          WT_PG_CONFIG: JSON.stringify(serverConfig()),
          WT_SCHEMA: schema,
          WT_TABLE: table,
          WT_REDIS_PORT: String(proxy.port),
          WT_NAMESPACE: namespace,
          WT_KEY: key,
        },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const exited = once(child, 'exit');
      const [ready] = (await Promise.race([once(child, 'message'), exited])) as [unknown];
      expect(ready).toBe('ready');
      await proxy.cut();
      child.send({ write: 'v2' });
      const [code, signal] = (await exited) as [number | null, string | null];
      expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
    } finally {
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await proxy.cut().catch(() => undefined);
    }

    // The write committed (the database has it, and its outbox row)...
    const committed = await records.get(key);
    expect(committed).toMatchObject({ found: true, value: 'v2' });
    // ...but Redis still holds v1 with no mark: every other instance reads it (R3).
    const other = reader();
    try {
      expect(await other.get(key)).toBe('v1');
      expect(await other.get(key)).toBe('v1');
      const relay = outboxRelay({
        records,
        cache: other,
        graceMs: 0,
        autoStart: false,
        connect: () => new pg.Client(serverConfig()),
      });
      try {
        const pass = await relay.runOnce();
        expect(pass).toMatchObject({ leader: true, retried: 0 });
        expect(pass.applied).toBeGreaterThanOrEqual(1);
      } finally {
        await relay.close();
      }
      expect(await other.get(key)).toBe('v2');
      const fresh = reader();
      expect(await fresh.get(key)).toBe('v2');
      await fresh.close();
    } finally {
      await other.close();
    }
  });
});
