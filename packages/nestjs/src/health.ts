import { Inject, Injectable } from '@nestjs/common';
import type { CacheRegistry } from './registry.js';
import { WRITE_THROUGH_REGISTRY } from './tokens.js';

/**
 * The part of `@nestjs/terminus`'s `HealthIndicatorService` this indicator uses (typed
 * structurally, so this package does not need terminus installed).
 */
export interface HealthIndicatorServiceLike {
  check(key: string): {
    up(data?: Record<string, unknown>): WriteThroughHealthResult;
    down(data?: Record<string, unknown>): WriteThroughHealthResult;
  };
}

/** A terminus `HealthIndicatorResult`: `{ [key]: { status, ...data } }`. */
export type WriteThroughHealthResult = Record<
  string,
  { status: 'up' | 'degraded' | 'down' } & Record<string, unknown>
>;

/** Options of `WriteThroughHealthIndicator.isHealthy`. */
export interface WriteThroughHealthOptions {
  /** The caches to check (default: all of the module's). */
  readonly caches?: readonly string[];
  /**
   * A key to read from each cache (`getEntry`): a round trip through the tiers to the database on a
   * miss. Default: no read, only the counters below.
   */
  readonly probeKey?: string;
  /** Down when a cache has more keys waiting for a tier to come back than this. Default 1,000. */
  readonly maxPendingRepairs?: number;
}

/**
 * A health indicator for `@nestjs/terminus` (≥ 10.2, with `HealthIndicatorService`): up unless a
 * probe read fails or a cache has too many keys queued for repair. Reports, per cache, whether L1
 * is in use (false while the bus is disconnected) and the repair queue.
 *
 * ```ts
 * this.health.check([() => this.writeThrough.isHealthy('writethrough', this.indicators)]);
 * ```
 */
@Injectable()
export class WriteThroughHealthIndicator {
  constructor(@Inject(WRITE_THROUGH_REGISTRY) private readonly registry: CacheRegistry) {}

  /** The health result under `key`, built with terminus's `HealthIndicatorService`. Never throws. */
  async isHealthy(
    key: string,
    indicator: HealthIndicatorServiceLike,
    options: WriteThroughHealthOptions = {},
  ): Promise<WriteThroughHealthResult> {
    const session = indicator.check(key);
    const maxPending = options.maxPendingRepairs ?? 1_000;
    const data: Record<string, unknown> = {};
    let healthy = true;
    for (const name of options.caches ?? this.registry.names) {
      try {
        const cache = this.registry.get(name);
        if (options.probeKey !== undefined) await cache.getEntry(options.probeKey);
        const { pendingRepairs } = cache.stats();
        const ok = pendingRepairs <= maxPending;
        healthy &&= ok;
        data[name] = { status: ok ? 'up' : 'down', l1: cache.l1Enabled, pendingRepairs };
      } catch (error) {
        healthy = false;
        data[name] = { status: 'down', error: error instanceof Error ? error.message : String(error) };
      }
    }
    return healthy ? session.up(data) : session.down(data);
  }
}
