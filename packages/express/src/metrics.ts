/**
 * `metricsHandler` (Prometheus text, through `@writethrough/core/prometheus` and prom-client) and
 * `statsHandler` (the caches' `stats()` as JSON).
 */
import type { CacheStats } from '@writethrough/core';
import type { Request, RequestHandler, Response } from 'express';
import { sendProblem } from './problem.js';

/** What the handlers read: anything with `stats()` (every writethrough cache). */
export interface StatsSource {
  stats(): CacheStats;
}

/** Options of `metricsHandler`. */
export interface MetricsHandlerOptions {
  /** Metric name prefix. Default `writethrough_`. */
  readonly prefix?: string;
  /** Told when the metrics cannot be rendered (prom-client missing). Default `console.error`. */
  readonly onError?: (error: unknown, req: Request) => void;
}

interface Registry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * A handler serving the Prometheus text of `caches` (counters per cache and tier, hit ratio,
 * latency quantiles). Needs the optional peer `prom-client`, loaded on the first scrape.
 */
export function metricsHandler(
  caches: readonly StatsSource[],
  options: MetricsHandlerOptions = {},
): RequestHandler {
  checkSources('metricsHandler', caches);
  let registry: Promise<Registry> | undefined;
  return async (req: Request, res: Response) => {
    try {
      registry ??= import('@writethrough/core/prometheus').then((m) =>
        m.cacheMetrics(caches, options.prefix === undefined ? {} : { prefix: options.prefix }),
      );
      const r = await registry;
      const text = await r.metrics();
      res.statusCode = 200;
      res.setHeader('Content-Type', r.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.end(text);
    } catch (error) {
      registry = undefined;
      (options.onError ?? ((e: unknown) => console.error('@writethrough/express metricsHandler:', e)))(
        error,
        req,
      );
      sendProblem(res, {
        status: 500,
        title: 'Internal Server Error',
        detail: 'the metrics could not be rendered',
      });
    }
  };
}

/** A handler serving `{ caches: [stats(), …] }` as JSON, never cached. */
export function statsHandler(caches: readonly StatsSource[]): RequestHandler {
  checkSources('statsHandler', caches);
  return (_req: Request, res: Response) => {
    const text = JSON.stringify({ caches: caches.map((c) => c.stats()) });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };
}

function checkSources(name: string, caches: readonly StatsSource[]): void {
  if (!Array.isArray(caches) || caches.some((c) => typeof c?.stats !== 'function')) {
    throw new TypeError(`${name} needs an array of caches (objects with stats())`);
  }
}
