import type { CacheStore, LeaseOptions } from './contracts.js';
import type { TierStats } from './stats.js';

/**
 * One cache tier as the engine sees it: the store, its counters, a circuit breaker, and the
 * repair queue of keys whose protocol step could not reach it during a write.
 */
export class Tier {
  /** `l1` or `l2`. */
  readonly name: 'l1' | 'l2';
  readonly store: CacheStore<unknown>;
  readonly stats: TierStats;
  /** The tier holds serialized text. */
  readonly serialized: boolean;
  /** The store offers every synchronous step (`capabilities.sync`). */
  readonly sync: boolean;
  /** An asynchronous tier that offers `beginWriteMany` (batched writes use it). */
  readonly beginMany: boolean;
  /** An asynchronous tier that offers `commitWriteMany`. */
  readonly commitMany: boolean;
  /** An asynchronous tier that offers `invalidateMany`. */
  readonly invalidateMany: boolean;
  /** Time to live of values and of absences in this tier, before jitter. */
  readonly ttlMs: number;
  readonly absentTtlMs: number;
  readonly leaseOptions: LeaseOptions;
  /**
   * Keys to invalidate once the tier answers again, with the version to invalidate up to
   * (0: invalidate whatever is there). While a key is here, this instance does not use the tier for it.
   */
  readonly repairs = new Map<string, number>();
  /** Too many repairs were queued: the whole tier must be cleared before it is used again. */
  needsClear = false;
  #failures = 0;
  #openUntil = 0;
  readonly #breakerFailures: number;
  readonly #breakerOpenMs: number;

  constructor(init: {
    name: 'l1' | 'l2';
    store: CacheStore<unknown>;
    stats: TierStats;
    ttlMs: number;
    absentTtlMs: number;
    leaseTtlMs: number;
    breakerFailures: number;
    breakerOpenMs: number;
  }) {
    this.name = init.name;
    this.store = init.store;
    this.stats = init.stats;
    this.serialized = init.store.capabilities.serialized;
    const st = init.store;
    this.sync =
      st.capabilities.sync &&
      typeof st.getSync === 'function' &&
      typeof st.fillSync === 'function' &&
      typeof st.beginWriteSync === 'function' &&
      typeof st.commitWriteSync === 'function' &&
      typeof st.abortWriteSync === 'function' &&
      typeof st.invalidateSync === 'function';
    this.beginMany = !this.sync && typeof st.beginWriteMany === 'function';
    this.commitMany = !this.sync && typeof st.commitWriteMany === 'function';
    this.invalidateMany = !this.sync && typeof st.invalidateMany === 'function';
    this.ttlMs = init.ttlMs;
    this.absentTtlMs = init.absentTtlMs;
    this.leaseOptions = { leaseTtlMs: init.leaseTtlMs };
    this.#breakerFailures = init.breakerFailures;
    this.#breakerOpenMs = init.breakerOpenMs;
  }

  /** The breaker is closed (or half-open: its open period is over) and the tier needs no clear. */
  get available(): boolean {
    return !this.needsClear && (this.#openUntil === 0 || Date.now() >= this.#openUntil);
  }

  /** Whether reads of `key` may use this tier. */
  usableFor(key: string): boolean {
    return this.available && (this.repairs.size === 0 || !this.repairs.has(key));
  }

  /** Records a successful call: closes the breaker. */
  succeeded(): void {
    if (this.#failures !== 0) {
      this.#failures = 0;
      this.#openUntil = 0;
    }
  }

  /** Records a failed call; opens the breaker after enough consecutive failures. */
  failed(): void {
    this.stats.errors++;
    this.#failures++;
    if (this.#failures >= this.#breakerFailures) this.#openUntil = Date.now() + this.#breakerOpenMs;
  }

  /** Queues `key` for invalidation up to `version` (0: whatever is there) once the tier answers. */
  queueRepair(key: string, version: number, maxRepairs: number): void {
    const queued = this.repairs.get(key);
    if (queued !== undefined) {
      // 0 means "no known version": it removes whatever is there, which covers any version.
      this.repairs.set(key, queued === 0 || version === 0 ? 0 : Math.max(queued, version));
      return;
    }
    if (this.repairs.size >= maxRepairs) {
      this.needsClear = true;
      this.repairs.clear();
      return;
    }
    this.repairs.set(key, version);
  }

  /** A TTL for this tier with jitter applied. */
  ttl(absent: boolean, override: number | undefined, jitter: number): number {
    const base = override ?? (absent ? this.absentTtlMs : this.ttlMs);
    if (jitter === 0 || base === Number.POSITIVE_INFINITY) return base;
    return Math.max(1, Math.round(base * (1 - jitter * Math.random())));
  }
}
