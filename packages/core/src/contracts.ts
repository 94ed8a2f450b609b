/**
 * The three contracts every adapter implements: the database (`RecordStore`), a cache tier
 * (`CacheStore`) and the cross-instance invalidation channel (`InvalidationBus`).
 *
 * Versions are positive safe integers assigned by the record store at commit, strictly
 * increasing per key in commit order and never reused (also across delete and re-create).
 * Version 0 means "never existed". Every duration is in milliseconds; every instant is epoch ms.
 * The protocol these contracts serve is `shared/model/README.md` ("the protocol as verified").
 */

// ---------------------------------------------------------------------------------------------
// Record store (the system of record)
// ---------------------------------------------------------------------------------------------

/** A value together with the version the record store committed it at. */
export interface Versioned<V> {
  /** The committed value. */
  readonly value: V;
  /** The commit version of this value (>= 1). */
  readonly version: number;
}

/** What a read of the record store found: a value, or its absence at a version. */
export type RecordRead<V> =
  | { readonly found: true; readonly value: V; readonly version: number }
  /** version: the delete that removed the key, or 0 when it never existed or the store keeps no tombstones. */
  | { readonly found: false; readonly version: number };

/** How a record-store error must be treated. */
export interface ErrorClass {
  /** Retrying the same call may succeed (connection loss, serialization failure, deadlock, too many connections). */
  readonly retryable: boolean;
  /**
   * `failed`: the write certainly did not commit. `unknown`: it may have committed (timeout or
   * reset while the commit was in flight). Reads are always `failed`.
   */
  readonly outcome: 'failed' | 'unknown';
}

/** Options every record-store call accepts. */
export interface RecordCallOptions {
  /** Aborts the call; the store should stop waiting and throw. */
  readonly signal?: AbortSignal;
}

/** Options of a write to the record store. */
export interface RecordWriteOptions extends RecordCallOptions {
  /** Compare-and-set: commit only if the key's current version is this (0 = the key must not exist). */
  readonly ifVersion?: number;
}

/** The database: the source of truth, and the only source of versions. */
export interface RecordStore<V> {
  /** Reads a key's value and version in one statement. */
  get(key: string, options?: RecordCallOptions): Promise<RecordRead<V>>;
  /** Reads many keys in one statement; keys that are absent are missing from the map (or map to `found: false`). */
  getMany(keys: readonly string[], options?: RecordCallOptions): Promise<Map<string, RecordRead<V>>>;
  /** Writes a value; returns the commit version. Throws `VersionConflictError` when `ifVersion` does not match. */
  set(key: string, value: V, options?: RecordWriteOptions): Promise<{ version: number }>;
  /** Writes many values in one transaction (all or nothing); returns each key's commit version. Keys are distinct. */
  setMany(
    entries: readonly { key: string; value: V }[],
    options?: RecordCallOptions,
  ): Promise<Map<string, { version: number }>>;
  /**
   * Deletes a key. `version` is the commit version of the delete (a tombstone), or the key's absence
   * version when there was nothing to delete. Throws `VersionConflictError` when `ifVersion` does not match.
   */
  delete(key: string, options?: RecordWriteOptions): Promise<{ deleted: boolean; version: number }>;
  /**
   * Called by the engine once every tier holds the outcome of these committed writes (their
   * `commitWrite` or `invalidate` succeeded, and the bus message was sent). A store with a
   * transactional outbox may drop their rows: nothing is left for a relay to apply. Never called
   * for a write whose tier step failed or whose outcome is unknown. Must not throw or block.
   */
  settled?(writes: readonly { readonly key: string; readonly version: number }[]): void;
  /** Tells how an error thrown by this store must be handled. Without it, see `classifyError` in core. */
  classifyError?(error: unknown): ErrorClass;
  /** Releases what the store opened (not what the user passed in). */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Cache tier
// ---------------------------------------------------------------------------------------------

/**
 * An entry in a cache tier: a value at a version, or a cached absence (a tombstone or a
 * "not found") at a version. `P` is what the tier holds: the live value in memory, a
 * serialized string or buffer in Redis.
 */
export type TierEntry<P> =
  | { readonly kind: 'value'; readonly payload: P; readonly version: number }
  | { readonly kind: 'absent'; readonly version: number };

/** What `CacheStore.get` answers (the four results of the protocol's `get` step). */
export type Lookup<P> =
  /**
   * A value or a cached absence. An in-process tier may add `resolved`: a settled promise of the
   * payload (`undefined` for an absence), made once per installed entry, which a caller that must
   * answer with a promise can return as it is.
   */
  | { readonly kind: 'hit'; readonly entry: TierEntry<P>; readonly resolved?: Promise<P | undefined> }
  /** A miss; this caller now holds the fill lease `token` and should load and `fill`. */
  | { readonly kind: 'lease'; readonly token: string }
  /** A miss while a write is in flight: read the record store, fill nothing, then `invalidate(version)`. */
  | { readonly kind: 'writing' }
  /** A miss while another caller holds the fill lease: retry shortly, then read the record store directly. */
  | { readonly kind: 'wait' };

/** What a cache tier can do, declared (never probed). */
export interface CacheStoreCapabilities {
  /** Shared between processes (Redis) rather than private to one (memory). */
  readonly shared: boolean;
  /** Holds serialized payloads (strings or bytes) that the engine must serialize and parse. */
  readonly serialized: boolean;
  /** Offers the synchronous steps (`getSync`, `fillSync`, `beginWriteSync`, `commitWriteSync`, `abortWriteSync`, `invalidateSync`) for the in-process hot path. */
  readonly sync: boolean;
}

/** One key of `CacheStore.beginWriteMany`: `beginWrite(key, token, markTtlMs)`. */
export interface BeginWriteItem {
  readonly key: string;
  readonly token: string;
}

/** One key of `CacheStore.commitWriteMany`: `commitWrite(key, token, entry, ttlMs)`. */
export interface CommitWriteItem<P> {
  readonly key: string;
  readonly token: string;
  readonly entry: TierEntry<P>;
  readonly ttlMs: number;
}

/** One key of `CacheStore.invalidateMany`: `invalidate(key, version)` (no version: `invalidate(key)`). */
export interface InvalidateItem {
  readonly key: string;
  readonly version?: number;
}

/** Time limits the engine passes to a tier's protocol steps. */
export interface LeaseOptions {
  /** How long a fill lease lives, ms: it must outlast a record-store read. */
  readonly leaseTtlMs: number;
}

/** A cache tier running the verified protocol; each method is one atomic step. */
export interface CacheStore<P = unknown> {
  /** What this tier can do. */
  readonly capabilities: CacheStoreCapabilities;
  /**
   * `get`: HIT; else WRITING when writers are in flight; else WAIT when another caller holds the
   * lease; else a new lease (LEASE). Expired entries count as absent.
   */
  get(key: string, options: LeaseOptions): Promise<Lookup<P>>;
  /** Synchronous `get` (only when `capabilities.sync`). */
  getSync?(key: string, options: LeaseOptions): Lookup<P>;
  /** Synchronous `fill` (only when `capabilities.sync`). */
  fillSync?(key: string, token: string, entry: TierEntry<P>, ttlMs: number): boolean;
  /** Synchronous `beginWrite` (only when `capabilities.sync`). */
  beginWriteSync?(key: string, token: string, markTtlMs: number): void;
  /** Synchronous `commitWrite` (only when `capabilities.sync`). */
  commitWriteSync?(key: string, token: string, entry: TierEntry<P>, ttlMs: number): boolean;
  /** Synchronous `abortWrite` (only when `capabilities.sync`). */
  abortWriteSync?(key: string, token: string): void;
  /** Synchronous `invalidate` (only when `capabilities.sync`). */
  invalidateSync?(key: string, version?: number): void;
  /** `get` of many keys in one round trip; results in the order of `keys`. */
  getMany(keys: readonly string[], options: LeaseOptions): Promise<Lookup<P>[]>;
  /**
   * `fill(token, entry)`: with the current lease, consumes it and installs the entry if no writer
   * is in flight, its version is >= the floor and newer than any cached version; returns true
   * when installed. When the lease is gone it acts as `invalidate(entry.version)` and returns false.
   */
  fill(key: string, token: string, entry: TierEntry<P>, ttlMs: number): Promise<boolean>;
  /**
   * `beginWrite(token)`: removes the value, revokes the lease, adds `token` to the key's in-flight
   * writers and keeps the mark (in-flight set and floor, one record) for `markTtlMs`.
   */
  beginWrite(key: string, token: string, markTtlMs: number): Promise<void>;
  /**
   * `commitWrite(token, entry)`: raises the floor to `entry.version`, revokes the lease; if `token`
   * is in the set, removes it and installs the entry only if the set is now empty and the version
   * equals the floor; if `token` is missing (the mark expired), installs nothing and removes the
   * value. Returns true when installed.
   */
  commitWrite(key: string, token: string, entry: TierEntry<P>, ttlMs: number): Promise<boolean>;
  /** `abortWrite(token)`: the record store refused the write; removes `token`, the value stays removed. */
  abortWrite(key: string, token: string): Promise<void>;
  /**
   * `invalidate(version)`: raises the floor to `version`, revokes the lease and removes a cached
   * entry older than `version`; without a version, removes the entry and revokes the lease. The
   * in-flight set is left as it is.
   */
  invalidate(key: string, version?: number): Promise<void>;
  /**
   * Optional batched steps, for a tier where one call per key costs a round trip (Redis). Each is
   * exactly its per-key step applied to every item, in the order of `items`: each key's step is still
   * one atomic step, and nothing is promised across keys (another caller's step may run between two
   * keys of one batch). Arguments are checked before any step runs: an invalid item rejects the call
   * with no step applied. When the call rejects for another reason (a timeout, a lost connection), any
   * subset of the keys may have had their step applied, each one whole or not at all: the caller must
   * treat every key of the call as if its own per-key step had failed. The engine uses them for
   * batched writes (`batch` option, `setMany`) when the tier offers them, and per-key steps otherwise.
   *
   * `beginWriteMany`: `beginWrite(key, token, markTtlMs)` for each item.
   */
  beginWriteMany?(items: readonly BeginWriteItem[], markTtlMs: number): Promise<void>;
  /** `commitWrite(key, token, entry, ttlMs)` for each item (see `beginWriteMany`); answers each one's result, in order. */
  commitWriteMany?(items: readonly CommitWriteItem<P>[]): Promise<boolean[]>;
  /** `invalidate(key, version)` for each item (see `beginWriteMany`); an item without a version is `invalidate(key)`. */
  invalidateMany?(items: readonly InvalidateItem[]): Promise<void>;
  /** Removes every entry, lease and mark of this store (its namespace only, for a shared tier). */
  clear(): Promise<void>;
  /** Releases what the store opened (not what the user passed in). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Invalidation bus
// ---------------------------------------------------------------------------------------------

/** One committed write, announced to the other instances. */
export interface InvalidationMessage {
  /** The cache's name (namespace). */
  readonly cache: string;
  /** The key that was written. */
  readonly key: string;
  /** The commit version; receivers drop older L1 entries. 0 with `key` '' means "clear everything". */
  readonly version: number;
  /** The publishing instance's id; an instance ignores its own messages. */
  readonly origin: string;
}

/** A change of the bus's connection: while disconnected, L1 is cleared and bypassed. */
export type BusState = 'connected' | 'disconnected';

/** Cross-instance invalidation for L1 tiers. */
export interface InvalidationBus {
  /** Sends a message to every other subscribed instance. */
  publish(message: InvalidationMessage): Promise<void>;
  /**
   * Receives messages and connection changes. `onState('disconnected')` must be called when
   * messages may have been lost (a lost connection, a gap in a publisher's sequence).
   */
  subscribe(
    onMessage: (message: InvalidationMessage) => void,
    onState?: (state: BusState) => void,
  ): () => void;
  /** True while messages are being received; when false, L1 is cleared and bypassed. */
  readonly connected: boolean;
  /** Releases what the bus opened. */
  close?(): Promise<void>;
}
