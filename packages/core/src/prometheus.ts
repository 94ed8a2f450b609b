/**
 * Prometheus metrics of writethrough caches, on prom-client (an optional peer dependency):
 * `import { cacheMetrics, renderPrometheus } from '@writethrough/core/prometheus'`.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { CacheStats } from './stats.js';

/** What the metrics read: anything with `stats()` (every `WriteThroughCache`). */
export interface StatsSource {
  stats(): CacheStats;
}

/** Options of `cacheMetrics`. */
export interface CacheMetricsOptions {
  /** Where to register (default: a new registry). */
  readonly registry?: Registry;
  /** Metric name prefix. Default `writethrough_`. */
  readonly prefix?: string;
}

type CounterField =
  | 'reads'
  | 'hits'
  | 'misses'
  | 'recordReads'
  | 'writes'
  | 'writeFailures'
  | 'unknownOutcomes'
  | 'conflicts'
  | 'retries'
  | 'batches'
  | 'batchedRows'
  | 'busMessages'
  | 'busDisconnects';

const COUNTERS: readonly [CounterField, string][] = [
  ['reads', 'Reads (per key) served by the cache'],
  ['hits', 'Reads answered by a cache tier'],
  ['misses', 'Reads that went to the record store'],
  ['recordReads', 'Keys read from the record store'],
  ['writes', 'Acknowledged writes'],
  ['writeFailures', 'Writes that failed (conflicts and unknown outcomes included)'],
  ['unknownOutcomes', 'Writes whose outcome was unknown'],
  ['conflicts', 'Conditional writes refused for a version conflict'],
  ['retries', 'Record store calls retried'],
  ['batches', 'Write batches sent to the record store'],
  ['batchedRows', 'Rows written in batches'],
  ['busMessages', 'Invalidations received from other instances'],
  ['busDisconnects', 'Times the invalidation bus was lost (L1 cleared)'],
];

const TIER_COUNTERS = [
  'hits',
  'misses',
  'fills',
  'fillsRefused',
  'leaseWaits',
  'errors',
  'evictions',
] as const;

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Registers the metrics of `caches` (labelled by cache name) on a prom-client registry and returns
 * it; values are read from `stats()` at each scrape. Latencies are exported as gauges with a
 * `quantile` label, in seconds.
 */
export function cacheMetrics(caches: readonly StatsSource[], options: CacheMetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'writethrough_';
  const snapshots = (): CacheStats[] => caches.map((c) => c.stats());
  for (const [field, help] of COUNTERS) {
    new Counter({
      name: `${prefix}${snake(field)}_total`,
      help,
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of snapshots()) this.inc({ cache: s.name }, s[field]);
      },
    });
  }
  for (const field of TIER_COUNTERS) {
    new Counter({
      name: `${prefix}tier_${snake(field)}_total`,
      help: `Per tier: ${snake(field).replace(/_/g, ' ')}`,
      labelNames: ['cache', 'tier'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of snapshots()) {
          this.inc({ cache: s.name, tier: 'l1' }, s.l1[field]);
          this.inc({ cache: s.name, tier: 'l2' }, s.l2[field]);
        }
      },
    });
  }
  new Counter({
    name: `${prefix}verify_sampled_total`,
    help: 'Reads checked by the shadow verifier against the record store',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshots()) this.inc({ cache: s.name }, s.verify.sampled);
    },
  });
  new Counter({
    name: `${prefix}verify_stale_total`,
    help: 'Verified reads that returned an older version than the record store held, by serving tier',
    labelNames: ['cache', 'tier'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshots()) {
        for (const tier of ['l1', 'l2', 'records'] as const) {
          this.inc({ cache: s.name, tier }, s.verify.staleByTier[tier]);
        }
      }
    },
  });
  new Counter({
    name: `${prefix}verify_errors_total`,
    help: 'Sampled reads whose verification read of the record store failed',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshots()) this.inc({ cache: s.name }, s.verify.errors);
    },
  });
  new Gauge({
    name: `${prefix}hit_ratio`,
    help: 'Hits / reads since start',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      for (const s of snapshots()) this.set({ cache: s.name }, s.hitRatio);
    },
  });
  new Gauge({
    name: `${prefix}pending_repairs`,
    help: 'Keys waiting for an unreachable tier to come back',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      for (const s of snapshots()) this.set({ cache: s.name }, s.pendingRepairs);
    },
  });
  for (const kind of ['read', 'write'] as const) {
    new Gauge({
      name: `${prefix}${kind}_latency_seconds`,
      help: `${kind} latency quantiles, seconds`,
      labelNames: ['cache', 'quantile'],
      registers: [registry],
      collect() {
        for (const s of snapshots()) {
          const l = kind === 'read' ? s.readLatency : s.writeLatency;
          for (const [q, v] of [
            ['0.5', l.p50],
            ['0.9', l.p90],
            ['0.99', l.p99],
            ['0.999', l.p999],
          ] as const) {
            this.set({ cache: s.name, quantile: q }, v / 1000);
          }
        }
      },
    });
  }
  return registry;
}

/** The Prometheus text exposition of `caches` (for a `/metrics` handler). */
export async function renderPrometheus(
  caches: readonly StatsSource[],
  options: CacheMetricsOptions = {},
): Promise<string> {
  return cacheMetrics(caches, options).metrics();
}
