/**
 * The connections the caches run on: the database (PGlite, or a `pg.Pool` with `databaseUrl`) and,
 * with `redisUrl`, one ioredis client shared by the stores and buses. Opened once per app, with the
 * tables migrated and the seed rows written; `Infrastructure.close()` ends them.
 */

import { PGlite } from '@electric-sql/pglite';
import { Module } from '@nestjs/common';
import { migrate, type PostgresClient, postgresRecords } from '@writethrough/postgres';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DEMO_CONFIG, type DemoSettings } from './config.js';
import { SEED } from './schemas.js';

/** The injection token of the `Infrastructure`. */
export const INFRASTRUCTURE = Symbol('nestjs-demo:infrastructure');

/** Where the demo keeps its data, for the banner. */
export interface Mode {
  readonly database: string;
  readonly l1: string;
  readonly l2: string;
  readonly bus: string;
}

/** The open connections and what they are. */
export interface Infrastructure {
  readonly client: PostgresClient;
  readonly schema: string;
  /** The Redis client (`null` without `redisUrl`). */
  readonly redis: Redis | null;
  readonly namespace: string;
  readonly mode: Mode;
  /** Ends the database and Redis connections (after the caches closed). */
  close(): Promise<void>;
}

/** The tables of the two resources. */
export const TABLES = ['users', 'products'] as const;

/** Opens the database (and Redis), migrates the tables and writes the seed rows when absent. */
export async function openInfrastructure(settings: DemoSettings): Promise<Infrastructure> {
  const closers: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    let client: PostgresClient;
    let schema: string;
    let database: string;
    if (settings.databaseUrl) {
      const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 10 });
      pool.on('error', () => {});
      closers.push(() => pool.end());
      client = pool;
      schema = settings.schema ?? 'nestjs_demo';
      database = `Postgres (${redact(settings.databaseUrl)}, schema ${schema})`;
    } else {
      const db = settings.dataDir ? new PGlite(settings.dataDir) : new PGlite();
      await db.waitReady;
      closers.push(() => db.close());
      client = db;
      schema = settings.schema ?? 'public';
      database = settings.dataDir ? `PGlite (data in ${settings.dataDir})` : 'PGlite (in memory)';
    }
    for (const table of TABLES) await migrate(client, { schema, table });
    if (settings.seed !== false) {
      for (const table of TABLES) {
        const records = postgresRecords({ client, schema, table });
        // Create-only (ifVersion 0): a row that exists already, written by a user, is kept.
        await Promise.allSettled(
          Object.entries(SEED[table]).map(([key, value]) => records.set(key, value, { ifVersion: 0 })),
        );
      }
    }

    let redis: Redis | null = null;
    if (settings.redisUrl) {
      const r = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      r.on('error', () => {});
      closers.push(async () => r.disconnect());
      await r.connect();
      redis = r;
    }
    return {
      client,
      schema,
      redis,
      namespace: settings.namespace ?? 'nestjs-demo:',
      mode: {
        database,
        l1: 'memoryStore (in process)',
        l2: settings.redisUrl ? `redisStore (${redact(settings.redisUrl)})` : 'none',
        bus: settings.redisUrl ? 'redisBus' : 'none (one instance)',
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Provides `INFRASTRUCTURE` from the `demo` settings (explicit tokens: no decorator metadata needed). */
@Module({
  providers: [
    {
      provide: INFRASTRUCTURE,
      inject: [DEMO_CONFIG],
      useFactory: (settings: DemoSettings) => openInfrastructure(settings),
    },
  ],
  exports: [INFRASTRUCTURE],
})
export class InfrastructureModule {}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'a server';
  }
}
