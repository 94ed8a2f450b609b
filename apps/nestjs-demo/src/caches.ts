/**
 * The two caches, registered with `WriteThroughModule.forRootAsync`: the options come from a factory
 * that gets the settings and the open connections by explicit tokens. Each cache reads and writes its
 * table through `postgresRecords`, keeps an in-process `memoryStore` L1 and, with Redis, a
 * `redisStore` L2 and a `redisBus` so other instances drop their older L1 copies.
 */
import { memoryStore } from '@writethrough/core';
import { WriteThroughModule } from '@writethrough/nestjs';
import { postgresRecords } from '@writethrough/postgres';
import { redisBus, redisStore } from '@writethrough/redis';
import { DEMO_CONFIG, type DemoSettings } from './config.js';
import { INFRASTRUCTURE, type Infrastructure, InfrastructureModule, TABLES } from './infrastructure.js';
import { Product, User } from './schemas.js';

const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 } as const;
const VALIDATE = { users: User, products: Product } as const;

export const CachesModule = WriteThroughModule.forRootAsync({
  imports: [InfrastructureModule],
  inject: [INFRASTRUCTURE, DEMO_CONFIG],
  cacheNames: [...TABLES],
  isGlobal: true,
  useFactory: (infra: Infrastructure, settings: DemoSettings) => ({
    caches: TABLES.map((name) => {
      const namespace = `${infra.namespace}${name}:`;
      return {
        name,
        options: {
          records: postgresRecords({ client: infra.client, schema: infra.schema, table: name }),
          l1: memoryStore({ maxEntries: 10_000 }),
          // The client is the app's: the stores and buses never close it (Infrastructure does).
          ...(infra.redis
            ? {
                l2: redisStore({ client: infra.redis, namespace }),
                bus: redisBus({ client: infra.redis, namespace }),
              }
            : {}),
          // The engine checks every value before it is written, too: a refusal is a 400.
          validate: VALIDATE[name],
          retry: RETRY,
          ...(settings.instanceId ? { instanceId: `${settings.instanceId}-${name}` } : {}),
        },
      };
    }),
  }),
});
