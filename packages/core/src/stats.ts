import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Counters of one tier. */
export interface TierStats {
  /** Lookups answered with a value or a cached absence. */
  hits: number;
  /** Lookups that found nothing usable (lease, writing or wait). */
  misses: number;
  /** Entries installed by a read (fills that were applied). */
  fills: number;
  /** Fills the tier refused (a newer write, a lost lease). */
  fillsRefused: number;
  /** Lookups that found another caller holding the fill lease. */
  leaseWaits: number;
  /** Calls to the tier that failed (timeouts, connection errors). */
  errors: number;
  /** Entries the tier evicted for space (reported by stores that can). */
  evictions: number;
}

/** Counters of the shadow verifier (`verify` option); zeros when it is off. */
export interface VerifyStats {
  /** Reads verified: the record store was read before the read, and both succeeded. */
  sampled: number;
  /** Verified reads that returned an older version than the record store held before they began. */
  stale: number;
  /**
   * `stale` by the tier that served the read: `l2` and `records` must stay 0 (the protocol's
   * promise, also for reads that joined a load of this process: they join only loads begun after
   * them); `l1` lags by bus delivery on other instances' writes.
   */
  staleByTier: { l1: number; l2: number; records: number };
  /** Sampled reads whose record-store read failed or timed out (the read itself went on unverified). */
  errors: number;
}

/** Latency percentiles of one kind of call, in milliseconds (sub-millisecond resolution). */
export interface LatencySummary {
  /** Calls recorded. */
  count: number;
  /** Percentiles in ms. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  /** Largest recorded value in ms. */
  max: number;
  /** Mean in ms. */
  mean: number;
}

/** A snapshot of a cache's counters, as `cache.stats()` returns it. */
export interface CacheStats {
  /** The cache's name. */
  name: string;
  /** Calls of get / getEntry / getMany (per key). */
  reads: number;
  /** Reads answered from a tier (either tier). */
  hits: number;
  /** Reads that went to the record store. */
  misses: number;
  /** hits / reads (0 when no reads). */
  hitRatio: number;
  /** Per tier counters. */
  l1: TierStats;
  l2: TierStats;
  /** Record store reads (single and batched keys). */
  recordReads: number;
  /** Acknowledged writes (set, delete, batched rows). */
  writes: number;
  /** Writes that failed (including conflicts and unknown outcomes). */
  writeFailures: number;
  /** Writes whose outcome was unknown. */
  unknownOutcomes: number;
  /** Version conflicts (ifVersion did not match). */
  conflicts: number;
  /** Record store calls retried. */
  retries: number;
  /** Batches sent to the record store, and the rows they carried. */
  batches: number;
  batchedRows: number;
  /** Keys waiting for a tier to come back (repair queue). */
  pendingRepairs: number;
  /** Invalidations received from other instances over the bus. */
  busMessages: number;
  /** Times the bus was lost (L1 cleared). */
  busDisconnects: number;
  /** Latency of reads that went past L1 (L1 hits are not timed: reading the clock would cost more than the hit), and of writes. */
  readLatency: LatencySummary;
  writeLatency: LatencySummary;
  /** Batch sizes (rows per batch), as a summary of counts rather than ms. */
  batchSize: LatencySummary;
  /** The shadow verifier's counters. */
  verify: VerifyStats;
}

function tierStats(): TierStats {
  return { hits: 0, misses: 0, fills: 0, fillsRefused: 0, leaseWaits: 0, errors: 0, evictions: 0 };
}

function verifyStats(): VerifyStats {
  return { sampled: 0, stale: 0, staleByTier: { l1: 0, l2: 0, records: 0 }, errors: 0 };
}

const NS_PER_MS = 1e6;

function summarize(h: RecordableHistogram, scale: number): LatencySummary {
  const count = h.count;
  if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    count,
    p50: h.percentile(50) / scale,
    p90: h.percentile(90) / scale,
    p99: h.percentile(99) / scale,
    p999: h.percentile(99.9) / scale,
    max: h.max / scale,
    mean: h.mean / scale,
  };
}

/** The mutable counters behind `cache.stats()`. Latencies are recorded in nanoseconds. */
export class StatsRecorder {
  reads = 0;
  recordReads = 0;
  writes = 0;
  writeFailures = 0;
  unknownOutcomes = 0;
  conflicts = 0;
  retries = 0;
  batches = 0;
  batchedRows = 0;
  busMessages = 0;
  busDisconnects = 0;
  readonly l1 = tierStats();
  readonly l2 = tierStats();
  readonly verify = verifyStats();
  readonly readNs: RecordableHistogram = createHistogram();
  readonly writeNs: RecordableHistogram = createHistogram();
  readonly batchRows: RecordableHistogram = createHistogram();

  /** Records one latency in ns (values below 1 ns are recorded as 1). */
  static record(h: RecordableHistogram, ns: number): void {
    h.record(ns >= 1 ? Math.round(ns) : 1);
  }

  /** A plain-object snapshot. */
  snapshot(name: string, pendingRepairs: number): CacheStats {
    const hits = this.l1.hits + this.l2.hits;
    return {
      name,
      reads: this.reads,
      hits,
      misses: this.reads - hits,
      hitRatio: this.reads === 0 ? 0 : hits / this.reads,
      l1: { ...this.l1 },
      l2: { ...this.l2 },
      recordReads: this.recordReads,
      writes: this.writes,
      writeFailures: this.writeFailures,
      unknownOutcomes: this.unknownOutcomes,
      conflicts: this.conflicts,
      retries: this.retries,
      batches: this.batches,
      batchedRows: this.batchedRows,
      pendingRepairs,
      busMessages: this.busMessages,
      busDisconnects: this.busDisconnects,
      readLatency: summarize(this.readNs, NS_PER_MS),
      writeLatency: summarize(this.writeNs, NS_PER_MS),
      batchSize: summarize(this.batchRows, 1),
      verify: { ...this.verify, staleByTier: { ...this.verify.staleByTier } },
    };
  }

  /** Zeroes every counter and histogram. */
  reset(): void {
    for (const k of [
      'reads',
      'recordReads',
      'writes',
      'writeFailures',
      'unknownOutcomes',
      'conflicts',
      'retries',
      'batches',
      'batchedRows',
      'busMessages',
      'busDisconnects',
    ] as const) {
      this[k] = 0;
    }
    Object.assign(this.l1, tierStats());
    Object.assign(this.l2, tierStats());
    const fresh = verifyStats();
    Object.assign(this.verify.staleByTier, fresh.staleByTier);
    this.verify.sampled = fresh.sampled;
    this.verify.stale = fresh.stale;
    this.verify.errors = fresh.errors;
    this.readNs.reset();
    this.writeNs.reset();
    this.batchRows.reset();
  }
}
