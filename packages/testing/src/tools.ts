/**
 * `@writethrough/testing/tools`: the helpers that do not register tests, for programs that run
 * outside vitest (apps/bench, apps/chaos): throwaway Redis servers, deferred promises and gates,
 * where the test Postgres is, and seeded randomness. The package's main entry also exports them.
 */
export { type Deferred, deferred, type Gate, gate, sleep, type WaitForOptions, waitFor } from './deferred.js';
export {
  findRedis,
  freePort,
  type RedisCluster,
  type RedisServer,
  type RedisServerOptions,
  type RedisTarget,
  RespError,
  type RespReply,
  redisCommand,
  startRedisCluster,
  startRedisServer,
  waitForRedis,
} from './redis-server.js';
export { testPostgresConfig, testPostgresProbe, testPostgresUrl, testPostgresWhere } from './server-gate.js';
export { Rng, ZipfSampler } from './zipf.js';
