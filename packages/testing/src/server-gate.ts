/**
 * What a package's `vitest.config.ts` decides before its tests run: which test files need servers
 * (Postgres, Redis) the machine does not have. DESIGN §6: with `CI=true` a missing server fails the
 * run; otherwise those files are skipped by name, loudly, with the line that runs them. Imported by
 * path from config files (the package's index imports vitest, which a config file must not), so it
 * imports neither vitest nor `pg`: the config passes a Postgres client of its own.
 */
import { redisTestsAvailable } from './redis-server.js';

/**
 * The test Postgres: `DATABASE_URL`, else 127.0.0.1:5432 database `test` as `PGUSER` (default
 * `postgres`). Settings for a `pg.Client`/`pg.Pool` (spread them to add options).
 */
export function testPostgresConfig():
  | { connectionString: string }
  | { host: string; port: number; database: string; user: string } {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  return { host: '127.0.0.1', port: 5432, database: 'test', user: process.env.PGUSER ?? 'postgres' };
}

/** The test Postgres as a URL (see `testPostgresConfig`). */
export function testPostgresUrl(): string {
  return process.env.DATABASE_URL || `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
}

/** Where the tests look for Postgres, for messages. */
export function testPostgresWhere(): string {
  return process.env.DATABASE_URL
    ? 'DATABASE_URL'
    : `127.0.0.1:5432 database test as ${process.env.PGUSER ?? 'postgres'}`;
}

/**
 * The `postgres` option of `serverTestFiles` for the test Postgres, given `pg.Client` (passed in:
 * this module imports no driver).
 */
export function testPostgresProbe(Client: new (config: Record<string, unknown>) => ProbeClient): {
  client: () => ProbeClient;
  where: string;
} {
  return {
    client: () => new Client({ ...testPostgresConfig(), connectionTimeoutMillis: 3_000 }),
    where: testPostgresWhere(),
  };
}

/** Reports a missing server: throws with `CI=true`, else warns (the caller then skips the files). */
export function missingServer(message: string): void {
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  console.warn(`\n  SKIPPED — ${message}\n`);
}

/** A new, not yet connected Postgres client (a `pg.Client`); only what the check uses. */
export interface ProbeClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Whether a Postgres answers `SELECT 1` through `client` (give it a connect timeout); the reason when not. */
export async function postgresReason(client: ProbeClient): Promise<string | undefined> {
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Options of `serverTestFiles`. */
export interface ServerGateOptions {
  /** Every test file of the package (names, as `readdirSync` gives them). */
  readonly files: readonly string[];
  /** The files that need the servers. */
  readonly pattern: RegExp;
  /** The package, for messages (`@writethrough/express`). */
  readonly what: string;
  /** The command that runs these tests, for messages. */
  readonly run: string;
  /** Checks Postgres: a new client on the test server, and where it is (for messages). */
  readonly postgres?: { readonly client: () => ProbeClient; readonly where: string };
  /** The files also need Redis (`REDIS_URL`, 127.0.0.1:6379 or `redis-server` on PATH). */
  readonly redis?: boolean;
}

/** The files to run: all of them, or without those of `pattern` when a server they need is missing (and CI is not set). */
export async function serverTestFiles(options: ServerGateOptions): Promise<string[]> {
  const { files, pattern, run } = options;
  const needing = files.filter((f) => pattern.test(f));
  if (needing.length === 0) return [...files];
  const what = `${options.what} (${needing.join(', ')})`;
  let skip = false;
  if (options.redis === true) skip = (await redisTestsAvailable(what, { run })).skip;
  if (options.postgres !== undefined) {
    const reason = await postgresReason(options.postgres.client());
    if (reason !== undefined) {
      missingServer(
        `${what}: no Postgres at ${options.postgres.where} (${reason}). Start one (apt-get install postgresql, ` +
          `brew install postgresql) or set DATABASE_URL, then run: ${run}`,
      );
      skip = true;
    }
  }
  return skip ? files.filter((f) => !pattern.test(f)) : [...files];
}
