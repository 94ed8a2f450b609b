/**
 * What the stats page draws: a sampler that, every `sampleMs`, turns the caches' counters into one
 * point of per-interval rates (hit ratio per tier, reads, writes, conflicts, errors, retries) plus
 * the latency percentiles of the HTTP reads and writes answered in that interval, and keeps the
 * last `points` of them.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { CacheStats } from '@writethrough/core';
import type { NextFunction, Request, Response } from 'express';

/** One interval of the timeline. Ratios are 0..1 (null: no reads); latencies in ms (null: no calls). */
export interface TimelinePoint {
  /** End of the interval, epoch ms. */
  readonly t: number;
  /** Length of the interval, ms. */
  readonly ms: number;
  /** Reads through the caches, and how they were answered. */
  readonly reads: number;
  readonly l1Hits: number;
  readonly l2Hits: number;
  readonly dbReads: number;
  /** L1 hits / reads; L2 hits / reads that reached L2; (L1 + L2 hits) / reads. */
  readonly l1Ratio: number | null;
  readonly l2Ratio: number | null;
  readonly hitRatio: number | null;
  /** Acknowledged writes, version conflicts, retries, batches sent to the database. */
  readonly writes: number;
  readonly conflicts: number;
  readonly retries: number;
  readonly batches: number;
  /** 5xx answers and cache tier errors. */
  readonly errors: number;
  /** HTTP requests to the API in the interval, and the latency of its reads (GET/HEAD) and writes. */
  readonly requests: number;
  readonly readP50: number | null;
  readonly readP99: number | null;
  readonly writeP50: number | null;
  readonly writeP99: number | null;
}

/** Sums of the counters the timeline takes deltas of. */
interface Totals {
  reads: number;
  l1Hits: number;
  l2Hits: number;
  l2Looks: number;
  dbReads: number;
  writes: number;
  conflicts: number;
  retries: number;
  batches: number;
  errors: number;
}

function totals(caches: readonly { stats(): CacheStats }[], serverErrors: number): Totals {
  const t: Totals = {
    reads: 0,
    l1Hits: 0,
    l2Hits: 0,
    l2Looks: 0,
    dbReads: 0,
    writes: 0,
    conflicts: 0,
    retries: 0,
    batches: 0,
    errors: serverErrors,
  };
  for (const cache of caches) {
    const s = cache.stats();
    t.reads += s.reads;
    t.l1Hits += s.l1.hits;
    t.l2Hits += s.l2.hits;
    t.l2Looks += s.l2.hits + s.l2.misses;
    t.dbReads += s.recordReads;
    t.writes += s.writes;
    t.conflicts += s.conflicts;
    t.retries += s.retries;
    t.batches += s.batches;
    t.errors += s.l1.errors + s.l2.errors;
  }
  return t;
}

/** Options of `timeline`. */
export interface TimelineOptions {
  /** The caches whose counters are sampled. */
  readonly caches: readonly { stats(): CacheStats }[];
  /** Interval between points, ms. Default 1000. */
  readonly sampleMs?: number;
  /** Points kept. Default 120. */
  readonly points?: number;
}

/** The sampler, and the middleware that times the API's requests. */
export interface Timeline {
  /** Times every request it sees (mount it in front of the API). */
  readonly middleware: (req: Request, res: Response, next: NextFunction) => void;
  /** The points kept, oldest first. */
  points(): TimelinePoint[];
  /** HTTP answers so far, by status class, and requests in flight. */
  readonly http: { readonly requests: number; readonly byClass: Readonly<Record<string, number>> };
  /** Takes a point now (the timer does it every `sampleMs`). */
  sample(): void;
  /** Stops the timer. */
  stop(): void;
}

const WRITE_METHODS = new Set(['PUT', 'PATCH', 'DELETE', 'POST']);

/** Starts sampling `caches` every `sampleMs`. */
export function timeline(options: TimelineOptions): Timeline {
  const sampleMs = options.sampleMs ?? 1_000;
  const keep = options.points ?? 120;
  const reads: RecordableHistogram = createHistogram();
  const writes: RecordableHistogram = createHistogram();
  const byClass: Record<string, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  let requests = 0;
  let intervalRequests = 0;
  const kept: TimelinePoint[] = [];
  let last = totals(options.caches, 0);
  let lastAt = Date.now();

  const pct = (h: RecordableHistogram, p: number): number | null =>
    h.count === 0 ? null : h.percentile(p) / 1e6;

  const sample = (): void => {
    const now = Date.now();
    const cur = totals(options.caches, byClass['5xx']!);
    const d = (k: keyof Totals): number => cur[k] - last[k];
    const r = d('reads');
    const l2Looks = d('l2Looks');
    kept.push({
      t: now,
      ms: now - lastAt,
      reads: r,
      l1Hits: d('l1Hits'),
      l2Hits: d('l2Hits'),
      dbReads: d('dbReads'),
      l1Ratio: r === 0 ? null : d('l1Hits') / r,
      l2Ratio: l2Looks === 0 ? null : d('l2Hits') / l2Looks,
      hitRatio: r === 0 ? null : (d('l1Hits') + d('l2Hits')) / r,
      writes: d('writes'),
      conflicts: d('conflicts'),
      retries: d('retries'),
      batches: d('batches'),
      errors: Math.max(0, d('errors')),
      requests: intervalRequests,
      readP50: pct(reads, 50),
      readP99: pct(reads, 99),
      writeP50: pct(writes, 50),
      writeP99: pct(writes, 99),
    });
    if (kept.length > keep) kept.splice(0, kept.length - keep);
    reads.reset();
    writes.reset();
    intervalRequests = 0;
    last = cur;
    lastAt = now;
  };
  const timer = setInterval(sample, sampleMs);
  timer.unref();

  return {
    middleware(req, res, next) {
      const start = process.hrtime.bigint();
      res.on('finish', () => {
        const ns = Number(process.hrtime.bigint() - start);
        (WRITE_METHODS.has(req.method) ? writes : reads).record(Math.max(1, ns));
        requests++;
        intervalRequests++;
        const cls = `${Math.floor(res.statusCode / 100)}xx`;
        byClass[cls] = (byClass[cls] ?? 0) + 1;
      });
      next();
    },
    points: () => [...kept],
    get http() {
      return { requests, byClass: { ...byClass } };
    },
    sample,
    stop: () => clearInterval(timer),
  };
}
