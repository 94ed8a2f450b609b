import { afterAll, describe, expect, it } from 'vitest';
import {
  findRedis,
  type RedisCluster,
  type RedisServer,
  RespError,
  redisCommand,
  startRedisCluster,
  startRedisServer,
} from '../src/index.js';

describe('startRedisServer', () => {
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

describe('startRedisCluster', () => {
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

describe('findRedis', () => {
  it('finds a Redis that answers PING', async () => {
    const target = await findRedis();
    try {
      expect(await redisCommand(target.port, ['PING'], { host: target.host })).toBe('PONG');
    } finally {
      await target.stop();
    }
  });
});
