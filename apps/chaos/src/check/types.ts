/**
 * The result and input types of the checkers K1-K6 (research/semantics.md §3.2).
 * Every time is nanoseconds since the run's base, as in the history.
 */
import type { WriteOp } from '../history.js';

/** The six checkers. */
export type Check = 'K1' | 'K2' | 'K3' | 'K4' | 'K5' | 'K6';

/** One consistency violation a checker found. */
export interface Violation {
  readonly check: Check;
  /** What was violated (`stale-read`, `lost-write`, `not-converged`, ...). */
  readonly kind: string;
  readonly key: string;
  /** The operation at fault (the read, or the write), when there is one. */
  readonly opId?: string;
  /** A human sentence with the ids, versions and times involved. */
  readonly detail: string;
}

/** A latency distribution in nanoseconds (all 0 when `count` is 0). */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** K1: per-key register linearizability of reads and writes. */
export interface K1Result {
  readonly reads: number;
  readonly writes: number;
  readonly violations: Violation[];
  /** The ids of the reads flagged `stale-read` or `stale-absent`. */
  readonly staleReadIds: ReadonlySet<string>;
}

/** K2: staleness of L1 reads, and the order facts L1 must keep. */
export interface K2Result {
  readonly l1Reads: number;
  /** How long before each L1 read a newer version had been acknowledged (0 when none had). */
  readonly lag: Percentiles;
  /** L1 reads with a lag above 0. */
  readonly staleL1Reads: number;
  readonly violations: Violation[];
}

/** A key's row in Postgres after the run: `value` is the `w` of the row, `null` when deleted or never written (version 0 when never). */
export interface FinalRecord {
  readonly value: string | null;
  readonly version: number;
}

/** K3: durability of acknowledged writes against the final Postgres rows. */
export interface K3Result {
  readonly okWrites: number;
  /** `ok` writes whose effect is missing from the final rows. */
  readonly lost: number;
  readonly violations: Violation[];
}

/** One cache entry as a tier dumps it: a value, or a versioned absence (tombstone or negative entry). */
export type TierEntryDump =
  | { readonly kind: 'value'; readonly w: string; readonly version: number }
  | { readonly kind: 'absent'; readonly version: number };

/** Every tier's contents at one moment: Postgres rows, Redis entries, and each instance's L1 (by instance number). */
export interface TierSnapshot {
  readonly postgres: ReadonlyMap<string, FinalRecord>;
  readonly redis: ReadonlyMap<string, TierEntryDump>;
  readonly l1: ReadonlyMap<number, ReadonlyMap<string, TierEntryDump>>;
}

/** K4: convergence of the cache tiers to Postgres after heal and quiesce. */
export interface K4Result {
  /** Postgres rows compared. */
  readonly keys: number;
  /** Cache entries (Redis plus every L1) compared. */
  readonly entries: number;
  readonly violations: Violation[];
}

/** K5: record-store loads per key (report only). */
export interface K5Result {
  readonly loads: number;
  readonly keysLoaded: number;
  readonly maxLoadsPerKey: number;
  /** Loads that overlapped an earlier load of the same key on the same instance incarnation. */
  readonly overlapping: number;
  /** The five most loaded keys, most loads first. */
  readonly perKeyTop: ReadonlyArray<{ key: string; loads: number }>;
}

/** The cache tiers dumped just before and just after one write that failed. */
export interface FailedWriteProbe {
  readonly write: WriteOp;
  readonly before: Omit<TierSnapshot, 'postgres'>;
  readonly after: Omit<TierSnapshot, 'postgres'>;
}

/** K6: a definitely failed write adds and changes no cache entry (P1); removing one is allowed. */
export interface K6Result {
  readonly probes: number;
  /** Entries present before a failed write and gone after it (reported as data, not judged). */
  readonly removedEntries: number;
  readonly violations: Violation[];
}
