/**
 * The demo's settings, as a `@nestjs/config` namespace (`demoConfig.KEY` is its injection token).
 * Nothing set: PGlite in memory and an in-process L1. `DATABASE_URL` and `REDIS_URL` switch to servers.
 */
import { registerAs } from '@nestjs/config';

/** What the app runs on. */
export interface DemoSettings {
  /** A Postgres URL: the database is a `pg.Pool` on it. Default: PGlite. */
  readonly databaseUrl?: string | undefined;
  /** PGlite's data directory (kept across restarts). Default: in memory. Ignored with `databaseUrl`. */
  readonly dataDir?: string | undefined;
  /** The Postgres schema of the tables. Default `nestjs_demo` on a server, `public` on PGlite. */
  readonly schema?: string | undefined;
  /** A Redis URL: each cache gets `redisStore` as L2 and `redisBus`. Default: no Redis. */
  readonly redisUrl?: string | undefined;
  /** Prefix of every Redis key and channel. Default `nestjs-demo:`. */
  readonly namespace?: string | undefined;
  /** Writes the seed rows straight to the database when they are absent. Default true. */
  readonly seed?: boolean | undefined;
  /** This instance's name on the bus. Default random. */
  readonly instanceId?: string | undefined;
}

/** Reads `DATABASE_URL`, `REDIS_URL` and `NESTJS_DEMO_DATA_DIR`. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoSettings {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    dataDir: env.NESTJS_DEMO_DATA_DIR || undefined,
  };
}

/** The `demo` namespace, from the environment or from the settings given to `AppModule.forRoot`. */
export function demoConfigOf(settings: () => DemoSettings) {
  return registerAs('demo', settings);
}

/** The injection token of the settings: `@Inject(DEMO_CONFIG) settings: DemoSettings`. */
export const DEMO_CONFIG = demoConfigOf(() => ({})).KEY;
