/**
 * The engine settings every chaos instance runs with, and the configuration the orchestrator hands
 * to each instance process. Short times on purpose: a run recovers from each fault within a few
 * seconds (marks expire, buses notice a loss, the outbox relay applies a crashed writer's row).
 */
import type { CacheErrorPolicy } from '@writethrough/core';

/** The engine's policy and timings, the Redis tier and bus, Postgres and the outbox relay (milliseconds). */
export interface EngineSettings {
  /**
   * `fail-writes`: a write whose `beginWrite` cannot reach L2 is refused before the database (reads
   * still fall back). The configuration under which no read through L2 is older than an
   * acknowledged write also when only the writer is cut off from Redis; `fallback` trades that for
   * write availability (core README, "Guarantees and their limits").
   */
  readonly onCacheError: CacheErrorPolicy;
  /** Write marks live this long: above the longest database write (query timeout plus retries). */
  readonly markTtlMs: number;
  /** L1 entries live this long: the bound on L1 staleness when bus messages are lost unnoticed. */
  readonly l1TtlMs: number;
  /** Time to live of entries in every tier. */
  readonly ttlMs: number;
  /** Fill lease lifetime: above the longest database read. */
  readonly leaseTtlMs: number;
  /** The repair queue retries a failed tier step this often. */
  readonly repairIntervalMs: number;
  /** A tier failing this many times in a row is skipped for `breakerOpenMs`. */
  readonly breakerFailures: number;
  readonly breakerOpenMs: number;
  /** Record-store retries. */
  readonly retry: {
    readonly attempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    readonly deadlineMs: number;
  };
  /** redisStore's bound on every call. */
  readonly redisTimeoutMs: number;
  /** redisBus: heartbeat period and its publish/epoch-check bound. */
  readonly busHeartbeatMs: number;
  readonly busTimeoutMs: number;
  /** pg: connect bound, client-side query bound, server-side statement_timeout. */
  readonly pgConnectTimeoutMs: number;
  readonly pgQueryTimeoutMs: number;
  readonly pgStatementTimeoutMs: number;
  /** Connections in each instance's pool. */
  readonly pgPoolMax: number;
  /** Outbox relay: pass period, rows younger than this are left to their writers, statement bound. */
  readonly relayIntervalMs: number;
  readonly relayGraceMs: number;
  readonly relayTimeoutMs: number;
}

/** The settings of every schedule (README "Engine settings"). */
export const ENGINE_SETTINGS: EngineSettings = {
  onCacheError: 'fail-writes',
  markTtlMs: 2_000,
  l1TtlMs: 2_000,
  ttlMs: 60_000,
  leaseTtlMs: 1_000,
  repairIntervalMs: 250,
  breakerFailures: 3,
  breakerOpenMs: 500,
  retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, deadlineMs: 1_000 },
  redisTimeoutMs: 500,
  busHeartbeatMs: 250,
  busTimeoutMs: 500,
  pgConnectTimeoutMs: 500,
  pgQueryTimeoutMs: 500,
  pgStatementTimeoutMs: 450,
  pgPoolMax: 4,
  relayIntervalMs: 500,
  relayGraceMs: 1_000,
  relayTimeoutMs: 1_000,
};

/** Where an instance's Postgres connections go (through its own fault proxy). */
export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
}

/** What the orchestrator passes to an instance process (JSON in `WT_CHAOS_CONFIG`). */
export interface InstanceConfig {
  readonly instance: number;
  readonly incarnation: number;
  /** The orchestrator's `process.hrtime.bigint()` at the run's start, as a decimal string. */
  readonly base: string;
  /** This process's history file. */
  readonly historyFile: string;
  /** Postgres through the instance's proxy. */
  readonly pg: PgTarget;
  /** `application_name` of every session of this instance (the run's prefix, for pg_terminate_backend). */
  readonly applicationName: string;
  readonly schema: string;
  readonly table: string;
  /** Redis data (L2) and Redis bus, each through its own proxy. */
  readonly redisDataPort: number;
  readonly redisBusPort: number;
  /** Redis key prefix of the run. */
  readonly namespace: string;
  /** The run's seed: every client's op choices derive from it. */
  readonly seed: number;
  readonly clients: number;
  readonly hotKeys: readonly string[];
  readonly zipfKeys: readonly string[];
  readonly zipfS: number;
  /** Probability a client picks one of the hot keys. */
  readonly hotFraction: number;
  /** Mean pause between two operations of one client (uniform in [0, 2 × mean]). */
  readonly thinkMs: number;
  /** The shadow verifier's sample rate (0: off). */
  readonly verifySampleRate: number;
  /** Engine guards to turn off (the mutant run). */
  readonly unsafeDisable: readonly string[];
  readonly settings: EngineSettings;
}

/** The hot keys and the Zipf keys of a run. */
export function keySpace(hot: number, zipf: number): { hotKeys: string[]; zipfKeys: string[] } {
  return {
    hotKeys: Array.from({ length: hot }, (_, i) => `h${i}`),
    zipfKeys: Array.from({ length: zipf }, (_, i) => `z${i}`),
  };
}
