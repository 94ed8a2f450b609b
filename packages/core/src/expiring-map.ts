/**
 * A bounded map whose entries expire: fill leases and write marks of the in-process tier. Expiry is
 * checked when an entry is read; past `max` entries the oldest-written one is dropped (dropping a
 * lease or a mark early is safe by the model). Every operation is O(1).
 *
 * Written here rather than taken from lru-cache: leases come and go on every miss, and lru-cache's
 * `delete` of its last entry clears arrays of `max` slots, which made a miss + fill 12× slower in
 * apps/bench (100 µs against 8 µs with the default bound).
 */
export class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(max: number, now: () => number) {
    this.#max = max;
    this.#now = now;
  }

  /** The live value of `key`, or undefined (an expired entry is removed). */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== Number.POSITIVE_INFINITY && this.#now() > entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Sets `key` for `ttlMs` from now, as the newest entry. */
  set(key: string, value: V, ttlMs: number): void {
    const expiresAt = ttlMs === Number.POSITIVE_INFINITY ? ttlMs : this.#now() + ttlMs;
    if (this.#entries.has(key)) this.#entries.delete(key);
    else if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt });
  }

  /** Extends the life of a live `key` to at least `ttlMs` from now (never shortens it). */
  extend(key: string, ttlMs: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    const expiresAt = ttlMs === Number.POSITIVE_INFINITY ? ttlMs : this.#now() + ttlMs;
    if (expiresAt > entry.expiresAt) this.set(key, entry.value, ttlMs);
  }

  /** Removes `key`. */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.#entries.clear();
  }

  /** Entries held, expired ones not yet removed included. */
  get size(): number {
    return this.#entries.size;
  }
}
