export {
  type BusChaos,
  type CacheStoreMethod,
  type Chaos,
  type ChaosCall,
  ChaosError,
  type ChaosFaults,
  type Chaotic,
  chaosBus,
  chaosCacheStore,
  chaosRecordStore,
  type PauseOptions,
  type RecordStoreMethod,
} from './chaos.js';
export { type Deferred, deferred, type Gate, gate, sleep, type WaitForOptions, waitFor } from './deferred.js';
export {
  type BusCheck,
  type BusCheckEnv,
  type BusCheckName,
  type BusPair,
  busChecks,
  type DescribeBusOptions,
  describeBus,
} from './describe-bus.js';
export {
  type CacheStoreCheck,
  type CacheStoreCheckEnv,
  type CacheStoreCheckName,
  cacheStoreChecks,
  type DescribeCacheStoreOptions,
  describeCacheStore,
  type SuiteClock,
} from './describe-cache-store.js';
export {
  type DescribeRecordStoreOptions,
  describeRecordStore,
  type RecordStoreCheck,
  type RecordStoreCheckEnv,
  type RecordStoreCheckName,
  recordStoreChecks,
} from './describe-record-store.js';
export {
  type DescribeRacesOptions,
  describeEngineRaces,
  type L2Loss,
  type MakeRaceEnv,
  memoryRaceEnv,
  RACE_GUARDS,
  type Race,
  type RaceBusHub,
  type RaceEnv,
  type RaceGuards,
  RaceHarnessError,
  type RaceName,
  type RaceOptions,
  races,
} from './races.js';
export { type HostileKey, hostileKeys, LONG_KEY_LENGTH, randomKey } from './random-keys.js';
export {
  findRedis,
  freePort,
  type RedisAvailability,
  type RedisCluster,
  type RedisServer,
  type RedisServerOptions,
  type RedisTarget,
  RespError,
  type RespReply,
  redisCommand,
  redisTestsAvailable,
  startRedisCluster,
  startRedisServer,
  waitForRedis,
} from './redis-server.js';
export { testPostgresConfig, testPostgresProbe, testPostgresUrl, testPostgresWhere } from './server-gate.js';
export { Rng, ZipfSampler } from './zipf.js';
