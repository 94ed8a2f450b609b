export { RedisBus, type RedisBusOptions, redisBus } from './bus.js';
export { RedisStore, type RedisStoreOptions, redisStore } from './store.js';
