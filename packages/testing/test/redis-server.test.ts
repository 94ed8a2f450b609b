import { afterAll, describe, expect, it } from 'vitest';
import {
  findRedis,
  freePort,
  type RedisCluster,
  type RedisServer,
  RespError,
  redisCommand,
  redisTestsAvailable,
  startRedisCluster,
  startRedisServer,
} from '../src/index.js';

const servers = await redisTestsAvailable('the redis-server helpers of @writethrough/testing', {
  needBinary: true,
  run: 'pnpm --filter @writethrough/testing test',
});

describe.skipIf(servers.skip)('startRedisServer', () => {
  let server: RedisServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('starts a server of its own, restarts it empty or from a snapshot, freezes and kills it', async () => {
    server = await startRedisServer();
    expect(server.port).not.toBe(6379);
    expect(await server.command('SET', 'k', 'one')).toBe('OK');
    const snapshot = await server.snapshot();
    expect(await server.command('SET', 'k', 'two')).toBe('OK');

    await server.restart({ snapshot });
    expect(await server.command('GET', 'k')).toBe('one');

    await server.restart();
    expect(await server.command('GET', 'k')).toBeNull();

    server.pause();
    await expect(redisCommand(server.port, ['PING'], { timeoutMs: 300 })).rejects.toThrow(/no reply/);
    server.resume();
    expect(await server.command('PING')).toBe('PONG');

    const pid = server.pid;
    await server.kill();
    expect(server.running).toBe(false);
    await expect(redisCommand(server.port, ['PING'], { timeoutMs: 1_000 })).rejects.toThrow();
    await server.restart();
    expect(server.pid).not.toBe(pid);
    expect(await server.command('PING')).toBe('PONG');
  });

  it('returns error replies as RespError, and decodes integers, nulls and arrays', async () => {
    server ??= await startRedisServer();
    expect(await server.command('NOSUCHCOMMAND')).toBeInstanceOf(RespError);
    expect(await server.command('RPUSH', 'list', 'a', 'b')).toBe(2);
    expect(await server.command('LRANGE', 'list', 0, -1)).toEqual(['a', 'b']);
    expect(await server.command('GET', 'missing')).toBeNull();
  });

  it('refuses a binary that does not exist, saying so', async () => {
    await expect(startRedisServer({ binary: '/nonexistent/redis-server' })).rejects.toThrow(/cannot start/);
  });
});

describe.skipIf(servers.skip)('startRedisCluster', () => {
  let cluster: RedisCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts three masters that cover every slot', async () => {
    cluster = await startRedisCluster();
    expect(cluster.nodes).toHaveLength(3);
    for (const server of cluster.servers) {
      const info = await server.command('CLUSTER', 'INFO');
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_slots_assigned:16384');
      expect(info).toContain('cluster_known_nodes:3');
    }
  });
});

describe.skipIf(servers.skip)('findRedis', () => {
  it('finds a Redis that answers PING', async () => {
    const target = await findRedis();
    try {
      expect(await redisCommand(target.port, ['PING'], { host: target.host })).toBe('PONG');
    } finally {
      await target.stop();
    }
  });
});

describe('redisTestsAvailable', () => {
  async function withEnv<T>(env: Record<string, string | undefined>, run: () => Promise<T>): Promise<T> {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      return await run();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  it.skipIf(servers.skip)(
    'lets the tests run on this machine (a Redis answers, redis-server is on PATH)',
    async () => {
      expect(await redisTestsAvailable('probe')).toEqual({ skip: false });
      expect(await redisTestsAvailable('probe', { needBinary: true })).toEqual({ skip: false });
    },
  );

  it('without a server: skips, naming what is missing — unless CI=true, where it throws', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const missing = { REDIS_URL: closed, REDIS_SERVER_BIN: '/nonexistent/redis-server' };
    const skipped = await withEnv({ ...missing, CI: undefined }, () => redisTestsAvailable('probe'));
    expect(skipped.skip).toBe(true);
    expect(skipped.reason).toMatch(/no Redis answers at redis:\/\/127\.0\.0\.1:\d+/);
    await expect(withEnv({ ...missing, CI: 'true' }, () => redisTestsAvailable('probe'))).rejects.toThrow(
      /CI=true and probe: no Redis answers/,
    );
    const noBinary = await withEnv({ REDIS_SERVER_BIN: '/nonexistent/redis-server', CI: undefined }, () =>
      redisTestsAvailable('probe', { needBinary: true }),
    );
    expect(noBinary).toMatchObject({ skip: true, reason: expect.stringMatching(/not on PATH/) });
  });
});
