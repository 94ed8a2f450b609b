export {
  BUS_FRAME_PREFIX,
  type BusFrame,
  BusSequences,
  decodeBusFrame,
  encodeBusGoodbye,
  encodeBusHeartbeat,
  encodeBusMessage,
} from './bus-codec.js';
export type { CacheEvents, DeleteOptions, ReadOptions, SetOptions } from './cache.js';
export { createCache, WriteThroughCache } from './cache.js';
export { classifyError } from './classify.js';
export type * from './contracts.js';
export type { DebugOptions, EngineGuard, PauseInfo, PausePoint } from './debug.js';
export * from './errors.js';
export type { MemoryBusEndpoint, MemoryBusHub } from './memory-bus.js';
export { memoryBus } from './memory-bus.js';
export type { MemoryRecordsOptions } from './memory-records.js';
export { MemoryRecords, memoryRecords } from './memory-records.js';
export type { MemoryStoreGuard, MemoryStoreOptions } from './memory-store.js';
export { MemoryStore, memoryStore } from './memory-store.js';
export type { CacheErrorPolicy, CacheOptions, Validator } from './options.js';
export type { GiveUpInfo, RetryInfo, RetryOptions, RetryPolicy, WithRetryOptions } from './retry.js';
export { resolveRetryOptions, withRetry } from './retry.js';
export type { Serializer } from './serializer.js';
export { jsonSerializer } from './serializer.js';
export type { CacheStats, LatencySummary, TierStats, VerifyStats } from './stats.js';
export type { ReadTier, StaleReadEvent, VerifyOptions } from './verify.js';
