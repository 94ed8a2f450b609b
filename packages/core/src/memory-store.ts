/**
 * The in-process cache tier: the `CacheStore` contract run as the verified protocol
 * (`shared/model/README.md`, `l2.pml`), every step one synchronous call. Values live in a SIEVE
 * map; fill leases and write marks (in-flight writers and version floor, one record per key) live in
 * bounded expiring maps, where losing one early is safe (the model checks it).
 */

import { coarseNow } from './clock.js';
import type {
  BeginWriteItem,
  CacheStore,
  CacheStoreCapabilities,
  CommitWriteItem,
  InvalidateItem,
  LeaseOptions,
  Lookup,
  TierEntry,
} from './contracts.js';
import { CacheClosedError, InvalidArgumentError } from './errors.js';
import { ExpiringMap } from './expiring-map.js';
import { Sieve, type SieveNode } from './sieve.js';

/**
 * A protocol guard that `unsafeDisable` can switch off. These switches exist only so that the race
 * tests can prove each guard is needed (a test must fail with its guard off); never use them otherwise.
 * - `versions`: fill and commitWrite install even when not newer than the cached entry.
 * - `leases`: fill installs without holding the current lease (model: FILL_NO_LEASE_CHECK).
 * - `floor`: the version floor is neither kept nor checked (NO_FLOOR).
 * - `inflight-set`: commitWrite installs while other writers are in flight (FIRST_OUT_INSTALLS).
 * - `revoke-on-commit`: commitWrite leaves the fill lease alone (FIX_REVOKE=0).
 * - `report-on-lost-lease`: a fill whose lease is gone does nothing instead of `invalidate(v)` (FIX_REPORT_FILL=0).
 * - `failsafe`: commitWrite with a missing token installs as if it were present (NO_FAILSAFE).
 */
export type MemoryStoreGuard =
  | 'versions'
  | 'leases'
  | 'floor'
  | 'inflight-set'
  | 'revoke-on-commit'
  | 'report-on-lost-lease'
  | 'failsafe';

/** Options of `memoryStore`. */
export interface MemoryStoreOptions {
  /** Most value entries held; SIEVE evicts beyond it. Default 10_000. */
  readonly maxEntries?: number;
  /** Most fill leases held; the least recently used is dropped beyond it (safe). Default 10_000. */
  readonly maxLeases?: number;
  /** Most write marks held; the least recently used is dropped beyond it (safe). Default 10_000. */
  readonly maxMarks?: number;
  /**
   * The least time, ms, a mark lives after `invalidate(version)` or `commitWrite` raised its floor.
   * Keep it at least the lease TTL. Default 10_000.
   */
  readonly floorTtlMs?: number;
  /** The clock, epoch ms (injectable for tests). Default: `Date.now`, read at most once per millisecond on the hit path. */
  readonly now?: () => number;
  /** Called with the key of each value SIEVE evicts for room (not on expiry, deletion or clear). */
  readonly onEvict?: (key: string) => void;
  /** Switches protocol guards off. Only for tests that prove the guards; see `MemoryStoreGuard`. */
  readonly unsafeDisable?: readonly MemoryStoreGuard[];
}

/** What `MemoryStore.inspect` reports about one key (for tests). */
export interface MemoryStoreKeyState<P> {
  /** The cached entry, when present and not expired. */
  readonly entry?: TierEntry<P>;
  /** The token of the live fill lease, if any. */
  readonly lease?: string;
  /** The tokens of the writers in flight. */
  readonly inflight: string[];
  /** The version floor (0 when there is no mark). */
  readonly floor: number;
}

/**
 * A cached entry: the queue node of the SIEVE map and, at once, the very object `get` answers on a
 * hit. A hit allocates nothing and, from the map, touches this object and then only the promise it
 * returns: an L1 hit is bound by memory loads, one per pointer followed. The fields a hit reads come
 * first, so they share a cache line; `kind` lives on the prototype and costs no load at all.
 */
class Slot<P> implements SieveNode {
  declare readonly kind: 'hit';
  visited = false;
  readonly #expiresAt: number;
  readonly resolved: Promise<P | undefined>;
  readonly entry: TierEntry<P>;
  readonly key: string;
  newer: this | undefined = undefined;
  older: this | undefined = undefined;

  constructor(key: string, entry: TierEntry<P>, expiresAt: number) {
    this.#expiresAt = expiresAt;
    this.resolved =
      entry.kind === 'value' ? Promise.resolve(entry.payload) : (RESOLVED_UNDEFINED as Promise<undefined>);
    this.entry = entry;
    this.key = key;
  }

  /** Epoch ms after which the entry is gone; `Infinity` for never. */
  get expiresAt(): number {
    return this.#expiresAt;
  }
}
Object.defineProperty(Slot.prototype, 'kind', { value: 'hit', enumerable: true });

/** A key's write mark: the in-flight writers and the version floor, one record with one expiry. */
interface Mark {
  readonly writers: string[];
  floor: number;
}

const RESOLVED_UNDEFINED: Promise<undefined> = Promise.resolve(undefined);
const WRITING: Lookup<never> = Object.freeze({ kind: 'writing' });
const WAIT: Lookup<never> = Object.freeze({ kind: 'wait' });
const CAPABILITIES: CacheStoreCapabilities = Object.freeze({ shared: false, serialized: false, sync: true });

/** Creates an in-process cache tier. */
export function memoryStore<P = unknown>(options: MemoryStoreOptions = {}): MemoryStore<P> {
  return new MemoryStore<P>(options);
}

/** The in-process cache tier; the `…Sync` methods are the protocol's steps, the others wrap them. */
export class MemoryStore<P> implements CacheStore<P> {
  /** Private to this process, holds live values, answers synchronously. */
  readonly capabilities: CacheStoreCapabilities = CAPABILITIES;
  readonly #values: Sieve<Slot<P>>;
  readonly #leases: ExpiringMap<string>;
  readonly #marks: ExpiringMap<Mark>;
  readonly #now: () => number;
  readonly #floorTtlMs: number;
  #closed = false;
  /** Lease tokens are `l` + a counter: unique for the life of the store, never reused. */
  #nextToken = 0;
  readonly #checkVersions: boolean;
  readonly #checkLeases: boolean;
  readonly #useFloor: boolean;
  readonly #checkInflight: boolean;
  readonly #revokeOnCommit: boolean;
  readonly #reportLostLease: boolean;
  readonly #failsafe: boolean;

  /** Creates an in-process cache tier (see `memoryStore`). */
  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = positiveInteger('maxEntries', options.maxEntries ?? 10_000);
    const maxLeases = positiveInteger('maxLeases', options.maxLeases ?? 10_000);
    const maxMarks = positiveInteger('maxMarks', options.maxMarks ?? 10_000);
    this.#floorTtlMs = positiveDuration('floorTtlMs', options.floorTtlMs ?? 10_000);
    this.#now = options.now ?? coarseNow;
    const onEvict = options.onEvict;
    this.#values = new Sieve<Slot<P>>(maxEntries, onEvict ? { onEvict: (slot) => onEvict(slot.key) } : {});
    this.#leases = new ExpiringMap<string>(maxLeases, this.#now);
    this.#marks = new ExpiringMap<Mark>(maxMarks, this.#now);
    const off = new Set(options.unsafeDisable ?? []);
    this.#checkVersions = !off.has('versions');
    this.#checkLeases = !off.has('leases');
    this.#useFloor = !off.has('floor');
    this.#checkInflight = !off.has('inflight-set');
    this.#revokeOnCommit = !off.has('revoke-on-commit');
    this.#reportLostLease = !off.has('report-on-lost-lease');
    this.#failsafe = !off.has('failsafe');
  }

  /** The number of value entries held (expired ones included until they are next touched or evicted). */
  get size(): number {
    return this.#values.size;
  }

  /**
   * `get`: the cached entry (HIT); else WRITING when writers are in flight; else WAIT when a live
   * lease exists; else a new lease. A hit returns the same lookup object every time.
   */
  getSync(key: string, options: LeaseOptions): Lookup<P> {
    if (this.#closed) throw closedError(key);
    const slot = this.#values.get(key);
    if (slot !== undefined) {
      if (slot.expiresAt === Number.POSITIVE_INFINITY || this.#now() <= slot.expiresAt) return slot;
      this.#values.delete(key);
    }
    const mark = this.#marks.get(key);
    if (mark !== undefined && mark.writers.length > 0) return WRITING;
    if (this.#leases.get(key) !== undefined) return WAIT;
    const leaseTtlMs = positiveDuration('leaseTtlMs', options.leaseTtlMs, key);
    const token = `l${(++this.#nextToken).toString(36)}`;
    this.#leases.set(key, token, leaseTtlMs);
    return { kind: 'lease', token };
  }

  /**
   * `fill(token, entry)`: with the current lease, consumes it and installs the entry if no writer is
   * in flight, its version is >= the floor and newer than any cached entry. With a lost lease, acts as
   * `invalidate(entry.version)` and returns false.
   */
  fillSync(key: string, token: string, entry: TierEntry<P>, ttlMs: number): boolean {
    if (this.#closed) throw closedError(key);
    positiveDuration('ttlMs', ttlMs, key);
    if (this.#leases.get(key) === token) {
      this.#leases.delete(key);
      return this.#fillInstall(key, entry, ttlMs);
    }
    if (!this.#checkLeases) return this.#fillInstall(key, entry, ttlMs);
    if (this.#reportLostLease) this.#invalidateVersion(key, entry.version);
    return false;
  }

  /**
   * `beginWrite(token)`: removes the value, revokes the lease, adds `token` to the in-flight writers
   * and keeps the mark at least `markTtlMs` from now.
   */
  beginWriteSync(key: string, token: string, markTtlMs: number): void {
    if (this.#closed) throw closedError(key);
    positiveDuration('markTtlMs', markTtlMs, key);
    this.#values.delete(key);
    this.#leases.delete(key);
    const mark = this.#marks.get(key);
    if (mark === undefined) {
      this.#marks.set(key, { writers: [token], floor: 0 }, markTtlMs);
      return;
    }
    if (!mark.writers.includes(token)) mark.writers.push(token);
    this.#marks.extend(key, markTtlMs);
  }

  /**
   * `commitWrite(token, entry)`: raises the floor to the entry's version and revokes the lease; with
   * `token` in flight, removes it and installs the entry iff no other writer is left and its version
   * is the floor (and newer than any cached entry); with `token` missing, installs nothing and removes
   * the value. Returns true when installed.
   */
  commitWriteSync(key: string, token: string, entry: TierEntry<P>, ttlMs: number): boolean {
    if (this.#closed) throw closedError(key);
    positiveDuration('ttlMs', ttlMs, key);
    const version = entry.version;
    if (this.#useFloor) this.#raiseFloor(key, version);
    if (this.#revokeOnCommit) this.#leases.delete(key);
    const mark = this.#marks.get(key);
    const index = mark === undefined ? -1 : mark.writers.indexOf(token);
    if (mark !== undefined && index >= 0) {
      mark.writers.splice(index, 1);
      return this.#commitInstall(key, mark, entry, ttlMs);
    }
    if (!this.#failsafe) return this.#commitInstall(key, mark, entry, ttlMs);
    this.#values.delete(key);
    return false;
  }

  /** `abortWrite(token)`: the record store refused the write; removes `token`, the value stays removed. */
  abortWriteSync(key: string, token: string): void {
    if (this.#closed) throw closedError(key);
    const mark = this.#marks.get(key);
    if (mark === undefined) return;
    const index = mark.writers.indexOf(token);
    if (index >= 0) mark.writers.splice(index, 1);
  }

  /**
   * `invalidate(version)`: raises the floor to `version`, revokes the lease and removes a cached entry
   * older than `version`. Without a version: removes the entry and revokes the lease. The in-flight
   * writers are left as they are.
   */
  invalidateSync(key: string, version?: number): void {
    if (this.#closed) throw closedError(key);
    if (version === undefined) {
      this.#values.delete(key);
      this.#leases.delete(key);
      return;
    }
    if (!Number.isFinite(version) || version < 0) {
      throw new InvalidArgumentError(`version must be a finite number >= 0, got ${String(version)}`, { key });
    }
    this.#invalidateVersion(key, version);
  }

  /** Removes every entry, lease and mark. */
  clearSync(): void {
    if (this.#closed) throw closedError();
    this.#values.clear();
    this.#leases.clear();
    this.#marks.clear();
  }

  /** The state of one key, without touching it (for tests). */
  inspect(key: string): MemoryStoreKeyState<P> {
    const slot = this.#values.peek(key);
    const lease = this.#leases.get(key);
    const mark = this.#marks.get(key);
    const state: { entry?: TierEntry<P>; lease?: string; inflight: string[]; floor: number } = {
      inflight: mark === undefined ? [] : [...mark.writers],
      floor: mark?.floor ?? 0,
    };
    if (slot !== undefined && !this.#expired(slot)) state.entry = slot.entry;
    if (lease !== undefined) state.lease = lease;
    return state;
  }

  /** See `getSync`. */
  async get(key: string, options: LeaseOptions): Promise<Lookup<P>> {
    return this.getSync(key, options);
  }

  /** `get` of each key, in the order of `keys`. */
  async getMany(keys: readonly string[], options: LeaseOptions): Promise<Lookup<P>[]> {
    const results: Lookup<P>[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) results[i] = this.getSync(keys[i]!, options);
    return results;
  }

  /** See `fillSync`. */
  async fill(key: string, token: string, entry: TierEntry<P>, ttlMs: number): Promise<boolean> {
    return this.fillSync(key, token, entry, ttlMs);
  }

  /** See `beginWriteSync`. */
  async beginWrite(key: string, token: string, markTtlMs: number): Promise<void> {
    this.beginWriteSync(key, token, markTtlMs);
  }

  /** See `commitWriteSync`. */
  async commitWrite(key: string, token: string, entry: TierEntry<P>, ttlMs: number): Promise<boolean> {
    return this.commitWriteSync(key, token, entry, ttlMs);
  }

  /** See `abortWriteSync`. */
  async abortWrite(key: string, token: string): Promise<void> {
    this.abortWriteSync(key, token);
  }

  /** See `invalidateSync`. */
  async invalidate(key: string, version?: number): Promise<void> {
    this.invalidateSync(key, version);
  }

  /** `beginWriteSync` for each item, in order (the TTL checked first). */
  async beginWriteMany(items: readonly BeginWriteItem[], markTtlMs: number): Promise<void> {
    if (this.#closed) throw closedError();
    positiveDuration('markTtlMs', markTtlMs);
    for (const item of items) this.beginWriteSync(item.key, item.token, markTtlMs);
  }

  /** `commitWriteSync` for each item, in order (every TTL checked first); each one's result. */
  async commitWriteMany(items: readonly CommitWriteItem<P>[]): Promise<boolean[]> {
    if (this.#closed) throw closedError();
    for (const item of items) positiveDuration('ttlMs', item.ttlMs, item.key);
    const results: boolean[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      results[i] = this.commitWriteSync(item.key, item.token, item.entry, item.ttlMs);
    }
    return results;
  }

  /** `invalidateSync` for each item, in order (every version checked first). */
  async invalidateMany(items: readonly InvalidateItem[]): Promise<void> {
    if (this.#closed) throw closedError();
    for (const { key, version } of items) {
      if (version !== undefined && (!Number.isFinite(version) || version < 0)) {
        throw new InvalidArgumentError(`version must be a finite number >= 0, got ${String(version)}`, {
          key,
        });
      }
    }
    for (const { key, version } of items) this.invalidateSync(key, version);
  }

  /** See `clearSync`. */
  async clear(): Promise<void> {
    this.clearSync();
  }

  /** Drops everything; every later call throws `CacheClosedError`. Closing twice does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#values.clear();
    this.#leases.clear();
    this.#marks.clear();
    this.#closed = true;
  }

  /** The install of `fill`, once the lease check passed. */
  #fillInstall(key: string, entry: TierEntry<P>, ttlMs: number): boolean {
    const mark = this.#marks.get(key);
    if (mark !== undefined) {
      if (mark.writers.length > 0) return false;
      if (this.#useFloor && entry.version < mark.floor) return false;
    }
    return this.#installIfNewer(key, entry, ttlMs);
  }

  /** The install of `commitWrite`, once the token was taken out of the set (or found missing). */
  #commitInstall(key: string, mark: Mark | undefined, entry: TierEntry<P>, ttlMs: number): boolean {
    if (mark !== undefined) {
      if (this.#checkInflight && mark.writers.length > 0) return false;
      if (this.#useFloor && entry.version !== mark.floor) return false;
    }
    return this.#installIfNewer(key, entry, ttlMs);
  }

  #installIfNewer(key: string, entry: TierEntry<P>, ttlMs: number): boolean {
    if (this.#checkVersions) {
      const cached = this.#values.peek(key);
      if (cached !== undefined && !this.#expired(cached) && entry.version <= cached.entry.version) {
        return false;
      }
    }
    const expiresAt = ttlMs === Number.POSITIVE_INFINITY ? ttlMs : this.#now() + ttlMs;
    this.#values.set(new Slot(key, entry, expiresAt));
    return true;
  }

  /** The protocol's `invalidate(v)`, also run by a fill whose lease is gone. */
  #invalidateVersion(key: string, version: number): void {
    if (this.#useFloor) this.#raiseFloor(key, version);
    this.#leases.delete(key);
    const cached = this.#values.peek(key);
    if (cached !== undefined && cached.entry.version < version) this.#values.delete(key);
  }

  /** floor = max(floor, version); a raised floor (or a new mark) lives at least `floorTtlMs`. */
  #raiseFloor(key: string, version: number): void {
    const mark = this.#marks.get(key);
    if (mark === undefined) {
      if (version > 0) this.#marks.set(key, { writers: [], floor: version }, this.#floorTtlMs);
      return;
    }
    if (version <= mark.floor) return;
    mark.floor = version;
    this.#marks.extend(key, this.#floorTtlMs);
  }

  #expired(slot: Slot<P>): boolean {
    return slot.expiresAt !== Number.POSITIVE_INFINITY && this.#now() > slot.expiresAt;
  }
}

function closedError(key?: string): CacheClosedError {
  return new CacheClosedError('the memory store is closed', key === undefined ? {} : { key });
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/** Checks a duration in ms: > 0, `Infinity` allowed (never expires). */
function positiveDuration(name: string, value: number, key?: string): number {
  if (!(value > 0)) {
    throw new InvalidArgumentError(
      `${name} must be a number of ms > 0 (Infinity = never expires), got ${String(value)}`,
      key === undefined ? {} : { key },
    );
  }
  return value;
}
