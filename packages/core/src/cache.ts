import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Batcher, type BatchRow } from './batcher.js';
import { classifierOf } from './classify.js';
import type {
  BusState,
  CacheStore,
  ErrorClass,
  InvalidationBus,
  InvalidationMessage,
  Lookup,
  RecordRead,
  RecordStore,
  TierEntry,
  Versioned,
} from './contracts.js';
import type { EngineGuard, PauseInfo, PausePoint } from './debug.js';
import {
  AbortedError,
  CacheClosedError,
  CacheTierError,
  InvalidArgumentError,
  RecordStoreError,
  SizeLimitError,
  ValidationError,
  VersionConflictError,
  WriteOutcomeUnknownError,
  WriteThroughError,
} from './errors.js';
import { KeyLock } from './key-lock.js';
import { memoryStore } from './memory-store.js';
import {
  type CacheErrorPolicy,
  type CacheOptions,
  checkKnownOptions,
  checkNumber,
  checkStore,
  describe,
  type Validator,
} from './options.js';
import { resolveRetryOptions, withRetry } from './retry.js';
import { decode, deepFreeze, encode, jsonSerializer, type Serializer } from './serializer.js';
import { type CacheStats, StatsRecorder } from './stats.js';
import { Tier } from './tier.js';
import { type ReadTier, resolveVerifyOptions, type StaleReadEvent, versionOfRead } from './verify.js';

/** Options of a read. */
export interface ReadOptions {
  /** Stops waiting (the shared load goes on for other callers) and rejects with `AbortedError`. */
  readonly signal?: AbortSignal;
}

/** Options of `set`. */
export interface SetOptions extends ReadOptions {
  /** Commit only if the key's current version in the database is this (0: only if it does not exist). */
  readonly ifVersion?: number;
  /** Time to live of this value in the tiers, overriding `ttlMs`. */
  readonly ttlMs?: number;
}

/** Options of `delete`. */
export interface DeleteOptions extends ReadOptions {
  /** Delete only if the key's current version in the database is this. */
  readonly ifVersion?: number;
}

/** Events a cache emits (listen with `cache.on(name, listener)`). */
export interface CacheEvents {
  hit: [{ key: string; tier: 'l1' | 'l2' }];
  miss: [{ key: string }];
  write: [{ key: string; version: number; op: 'set' | 'delete' }];
  conflict: [{ key: string; error: VersionConflictError }];
  retry: [{ key: string; attempt: number; delayMs: number; error: unknown }];
  batch: [{ size: number }];
  /** A tier call failed (the cache fell back) or a background task failed. */
  error: [{ key?: string; tier?: 'l1' | 'l2'; op: string; error: unknown }];
  repair: [{ key: string; tier: 'l1' | 'l2' }];
  bus: [{ state: BusState }];
  /** The shadow verifier (`verify` option) found a stale read; emitted in the read's async context. */
  stale: [StaleReadEvent];
}

/** A load in flight: its promise, and its number in the order loads began (see `#flights`). */
interface Flight<V> {
  readonly promise: Promise<Loaded<V>>;
  readonly count: number;
}

/** A value loaded by a read, with its serialized text when it is known. */
interface Loaded<V> {
  readonly found: boolean;
  readonly value: V | undefined;
  readonly version: number;
  text?: string | undefined;
  /** Read from the database while a write was in flight below (WRITING or WAIT): reported, never filled above. */
  unsettled?: boolean;
  /** The tier it came from (a read that joined another caller's load gets that load's). */
  readonly source: ReadTier;
}

/** A value checked and encoded for a write. */
interface Prepared<V> {
  readonly value: V;
  readonly text: string;
  readonly frozen: V;
}

/** A row of a batch the record store committed, on its way to the tiers. */
interface CommittedRow<V> {
  readonly key: string;
  readonly token: string;
  /** Per tier, whether `beginWrite` succeeded there. */
  readonly begun: boolean[];
  readonly version: number;
  readonly p: Prepared<V>;
}

type WriteOp<V> =
  | { readonly kind: 'set'; readonly p: Prepared<V>; readonly ifVersion: number | undefined }
  | { readonly kind: 'delete'; readonly ifVersion: number | undefined };

const NO_GUARDS: ReadonlySet<EngineGuard> = new Set();

/** The steps a tier must have. */
const CACHE_STORE_METHODS = [
  'get',
  'getMany',
  'fill',
  'beginWrite',
  'commitWrite',
  'abortWrite',
  'invalidate',
];

/** An entry for an in-process tier: the live (frozen) value, never serialized. */
function localEntry(payload: unknown, version: number): TierEntry<unknown> {
  return { kind: 'value', payload, version };
}

/**
 * A write-through cache in front of a record store: writes go to the database first and then to
 * the tiers through the verified protocol (write marks, fill leases, version floors); reads come
 * from L1, then L2, then the database.
 */
export class WriteThroughCache<V> {
  /** The cache's name. */
  readonly name: string;
  /** This instance's id on the bus. */
  readonly instanceId: string;
  readonly #records: RecordStore<V>;
  readonly #classify: (error: unknown) => ErrorClass;
  readonly #tiers: Tier[];
  readonly #l1: Tier | undefined;
  readonly #bus: InvalidationBus | undefined;
  readonly #unsubscribe: (() => void) | undefined;
  readonly #ownedStores: CacheStore<unknown>[] = [];
  readonly #stats = new StatsRecorder();
  readonly #events = new EventEmitter();
  readonly #locks = new KeyLock();
  /**
   * The loads in flight, by key, each numbered when it began. A read joins a load only if that load
   * began after the read was invoked (its number is above the counter the read saw then): a load
   * begun earlier may have read its tier before a write another instance acknowledged since, so
   * its result may be older than that write. The read waits for such a load to end, then reads.
   */
  readonly #flights = new Map<string, Flight<V>>();
  #flightCount = 0;
  readonly #batcher: Batcher<V> | undefined;
  readonly #retry: ReturnType<typeof resolveRetryOptions>;
  readonly #serializer: Serializer;
  readonly #validate: ((value: unknown) => V) | undefined;
  readonly #maxKeyBytes: number;
  readonly #maxKeyChars: number;
  readonly #maxValueBytes: number;
  readonly #jitter: number;
  readonly #markTtlMs: number;
  readonly #leaseWaitAttempts: number;
  readonly #leaseWaitDelayMs: number;
  readonly #policy: CacheErrorPolicy;
  readonly #maxRepairs: number;
  readonly #repairIntervalMs: number;
  readonly #freeze: boolean;
  readonly #guards: ReadonlySet<EngineGuard>;
  readonly #hooks: Partial<Record<PausePoint, (info: PauseInfo) => void | Promise<void>>> | undefined;
  /** The shadow verifier's sample rate; 0 when it is off (the only thing an unsampled read looks at). */
  readonly #sampleRate: number;
  readonly #onStale: ((event: StaleReadEvent) => void) | undefined;
  /** Bound of a verification's record-store read: `leaseTtlMs`, which must outlast a database read. */
  readonly #verifyTimeoutMs: number;
  #repairTimer: NodeJS.Timeout | undefined;
  #repairing = false;
  #l1Bypassed = false;
  #closed = false;
  #tokenSeq = 0;
  #listening = false;

  constructor(options: CacheOptions<V>) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError(`createCache needs an options object, got ${describe(options)}`);
    }
    checkKnownOptions(options);
    checkStore('records', options.records, ['get', 'getMany', 'set', 'setMany', 'delete']);
    const name = options.name ?? 'default';
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      throw new InvalidArgumentError(
        `name must be a non-empty string of at most 200 characters, got ${describe(name)}`,
      );
    }
    this.name = name;
    this.instanceId = options.instanceId ?? randomUUID();
    this.#records = options.records;
    this.#classify = classifierOf(options.records as RecordStore<unknown>);
    const ttlMs = checkNumber('ttlMs', options.ttlMs ?? 300_000, { min: 1, max: Number.POSITIVE_INFINITY });
    const shared = options.l2 !== undefined || options.bus !== undefined;
    const l1TtlMs = checkNumber('l1TtlMs', options.l1TtlMs ?? (shared ? Math.min(ttlMs, 5_000) : ttlMs), {
      min: 1,
      max: Number.POSITIVE_INFINITY,
    });
    const absentTtlMs = checkNumber('absentTtlMs', options.absentTtlMs ?? Math.min(ttlMs, 60_000), {
      min: 1,
      max: Number.POSITIVE_INFINITY,
    });
    this.#jitter = checkNumber('ttlJitter', options.ttlJitter ?? 0.1, { min: 0, max: 1 });
    const leaseTtlMs = checkNumber('leaseTtlMs', options.leaseTtlMs ?? 5_000, { min: 1, max: 3_600_000 });
    this.#markTtlMs = checkNumber('markTtlMs', options.markTtlMs ?? 30_000, { min: 1, max: 86_400_000 });
    const leaseWait = options.leaseWait ?? {};
    this.#leaseWaitAttempts = checkNumber('leaseWait.attempts', leaseWait.attempts ?? 3, {
      min: 0,
      max: 100,
      integer: true,
    });
    this.#leaseWaitDelayMs = checkNumber('leaseWait.delayMs', leaseWait.delayMs ?? 5, {
      min: 0,
      max: 60_000,
    });
    this.#retry = resolveRetryOptions(options.retry);
    this.#serializer = options.serializer ?? jsonSerializer;
    checkStore('serializer', this.#serializer, ['serialize', 'deserialize']);
    this.#validate = toValidator(options.validate);
    this.#maxKeyBytes = checkNumber('maxKeyBytes', options.maxKeyBytes ?? 1024, { min: 1, integer: true });
    this.#maxKeyChars = Math.floor(this.#maxKeyBytes / 3);
    this.#maxValueBytes = checkNumber('maxValueBytes', options.maxValueBytes ?? 1_048_576, {
      min: 1,
      integer: true,
    });
    const policy = options.onCacheError ?? 'fallback';
    if (policy !== 'fallback' && policy !== 'fail-writes' && policy !== 'fail') {
      throw new InvalidArgumentError(
        `onCacheError must be 'fallback', 'fail-writes' or 'fail', got ${describe(policy)}`,
      );
    }
    this.#policy = policy;
    const breakerFailures = checkNumber('breakerFailures', options.breakerFailures ?? 3, {
      min: 1,
      integer: true,
    });
    const breakerOpenMs = checkNumber('breakerOpenMs', options.breakerOpenMs ?? 1_000, { min: 0 });
    this.#maxRepairs = checkNumber('maxRepairs', options.maxRepairs ?? 100_000, { min: 1, integer: true });
    this.#repairIntervalMs = checkNumber('repairIntervalMs', options.repairIntervalMs ?? 1_000, { min: 1 });
    this.#freeze = options.freezeValues ?? true;
    this.#guards = new Set(options.debug?.unsafeDisable ?? NO_GUARDS);
    this.#hooks = options.debug?.hooks;
    const verify = resolveVerifyOptions(options.verify);
    this.#sampleRate = verify.sampleRate;
    this.#onStale = verify.onStale;
    this.#verifyTimeoutMs = leaseTtlMs;

    const tierInit = { leaseTtlMs, breakerFailures, breakerOpenMs };
    this.#tiers = [];
    let l1Store = options.l1;
    if (l1Store === undefined) {
      const l1Stats = this.#stats.l1;
      l1Store = memoryStore({
        maxEntries: 10_000,
        onEvict: () => {
          l1Stats.evictions++;
        },
      });
      this.#ownedStores.push(l1Store);
    }
    if (l1Store !== false) {
      checkStore('l1', l1Store, CACHE_STORE_METHODS);
      this.#l1 = new Tier({
        name: 'l1',
        store: l1Store,
        stats: this.#stats.l1,
        ttlMs: l1TtlMs,
        absentTtlMs: Math.min(absentTtlMs, l1TtlMs),
        ...tierInit,
      });
      this.#tiers.push(this.#l1);
    }
    if (options.l2 !== undefined) {
      checkStore('l2', options.l2, CACHE_STORE_METHODS);
      this.#tiers.push(
        new Tier({ name: 'l2', store: options.l2, stats: this.#stats.l2, ttlMs, absentTtlMs, ...tierInit }),
      );
    }
    if (options.batch !== undefined && options.batch !== false) {
      const maxSize = checkNumber('batch.maxSize', options.batch.maxSize ?? 64, {
        min: 1,
        max: 10_000,
        integer: true,
      });
      const maxWaitMs = checkNumber('batch.maxWaitMs', options.batch.maxWaitMs ?? 2, { min: 0, max: 10_000 });
      const maxInFlight = checkNumber('batch.maxInFlight', options.batch.maxInFlight ?? 4, {
        min: 1,
        max: 1_000,
        integer: true,
      });
      this.#batcher = new Batcher<V>(maxSize, maxWaitMs, maxInFlight, (rows) => this.#writeBatch(rows));
    }
    this.#events.on('newListener', () => {
      this.#listening = true;
    });
    this.#bus = options.bus;
    if (this.#bus !== undefined) {
      checkStore('bus', this.#bus, ['publish', 'subscribe']);
      this.#unsubscribe = this.#bus.subscribe(
        (message) => this.#onBusMessage(message),
        (state) => this.#onBusState(state),
      );
      if (!this.#bus.connected) this.#onBusState('disconnected');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------------------------

  /** The value of `key`, or `undefined` when the database has none. */
  get(key: string, options?: ReadOptions): Promise<V | undefined> {
    // Not an async function: an L1 hit returns without the cost of one (an async function with an
    // await allocates its resumable state on entry, which is most of a hit's time).
    if (this.#closed) return Promise.reject(new CacheClosedError('the cache is closed', { key }));
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyChars) {
      try {
        this.#checkKey(key);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#sampleRate !== 0 && Math.random() < this.#sampleRate) {
      return this.#verifiedRead(key, options).then(valueOfLoaded);
    }
    this.#stats.reads++;
    const look = this.#l1Lookup(key);
    if (look?.kind === 'hit') {
      // An in-process tier hands out a settled promise made when the entry was installed.
      if (look.resolved !== undefined) return look.resolved as Promise<V | undefined>;
      const entry = look.entry;
      return Promise.resolve(entry.kind === 'value' ? (entry.payload as V) : undefined);
    }
    return this.#slowRead(key, look, options).then(valueOfLoaded);
  }

  /** `#l1Lookup` without counting or announcing a hit. */
  #l1PeekSync(key: string): Lookup<unknown> | undefined {
    const l1 = this.#l1;
    if (l1 === undefined || this.#l1Bypassed || !l1.sync) return undefined;
    return l1.store.getSync!(key, l1.leaseOptions);
  }

  /** The synchronous L1 step of a read (undefined when L1 is absent, bypassed or asynchronous); counts a hit. */
  #l1Lookup(key: string): Lookup<unknown> | undefined {
    const l1 = this.#l1;
    if (l1 === undefined || this.#l1Bypassed || !l1.sync) return undefined;
    const look = l1.store.getSync!(key, l1.leaseOptions);
    if (look.kind === 'hit') {
      l1.stats.hits++;
      if (this.#listening) this.#emit('hit', { key, tier: 'l1' });
    }
    return look;
  }

  /** The value of `key` with its version, or `undefined` when the database has none. */
  async getEntry(key: string, options?: ReadOptions): Promise<Versioned<V> | undefined> {
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    this.#checkKey(key);
    if (this.#sampleRate !== 0 && Math.random() < this.#sampleRate) {
      const loaded = await this.#verifiedRead(key, options);
      return loaded.found ? { value: loaded.value as V, version: loaded.version } : undefined;
    }
    this.#stats.reads++;
    const look = this.#l1Lookup(key);
    if (look?.kind === 'hit') {
      const entry = look.entry;
      return entry.kind === 'value' ? { value: entry.payload as V, version: entry.version } : undefined;
    }
    const loaded = await this.#slowRead(key, look, options);
    return loaded.found ? { value: loaded.value as V, version: loaded.version } : undefined;
  }

  /**
   * A sampled read: the key's version in the record store first, then the normal read, whose
   * version is checked against it. The record-store read completed before the read began, so what
   * it saw was committed before the read started: a read served by L2 or the record store must not
   * return less; one served by L1 may lag by bus delivery. Its failure only skips the check.
   */
  async #verifiedRead(key: string, options: ReadOptions | undefined): Promise<Loaded<V>> {
    const current = await this.#currentVersion(key, options?.signal);
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    this.#stats.reads++;
    const look = this.#l1Lookup(key);
    // A load this read joins began after this point (see #flights), so after the verification.
    const loaded =
      look?.kind === 'hit'
        ? this.#fromEntry(this.#l1!, key, look.entry)
        : await this.#slowRead(key, look, options);
    if (current === undefined) return loaded;
    if (loaded.version > current) {
      // A newer commit may have landed during the read; if the record store is still below what
      // the read returned, that version was never committed.
      const after = await this.#currentVersion(key, options?.signal);
      if (after === undefined) return loaded;
      // 0: never existed, or a store without tombstones after a delete: it cannot tell.
      if (after === 0) this.#verified(key, loaded, current, 'older');
      else this.#verified(key, loaded, after, 'never-committed');
      return loaded;
    } else {
      this.#verified(key, loaded, current, 'older');
    }
    return loaded;
  }

  /** The key's version in the record store (one try, bounded), or undefined when that read failed. */
  async #currentVersion(key: string, signal: AbortSignal | undefined): Promise<number | undefined> {
    const bound = this.#verifyBound(signal);
    try {
      const read = await raceSignal(this.#records.get(key, { signal: bound.signal }), bound.signal);
      const version = versionOfRead(read);
      if (version === undefined)
        throw new RecordStoreError(`the record store returned ${describe(read)}`, { key });
      return version;
    } catch (error) {
      if (!signal?.aborted) this.#verifyFailed(key, error);
      return undefined;
    } finally {
      bound.done();
    }
  }

  /** The keys' versions in the record store (one `getMany`, one try, bounded); a key it could not tell is left out. */
  async #currentVersions(keys: string[], signal: AbortSignal | undefined): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const bound = this.#verifyBound(signal);
    let reads: Map<string, RecordRead<V>>;
    try {
      reads = await raceSignal(this.#records.getMany(keys, { signal: bound.signal }), bound.signal);
      if (!(reads instanceof Map)) throw new RecordStoreError(`the record store returned ${describe(reads)}`);
    } catch (error) {
      if (!signal?.aborted) for (const key of keys) this.#verifyFailed(key, error);
      return out;
    } finally {
      bound.done();
    }
    for (const key of keys) {
      const read = reads.get(key);
      const version = read === undefined ? 0 : versionOfRead(read);
      if (version === undefined) {
        this.#verifyFailed(key, new RecordStoreError(`the record store returned ${describe(read)}`, { key }));
      } else {
        out.set(key, version);
      }
    }
    return out;
  }

  /** A signal that aborts with the caller's or after `leaseTtlMs`; `done` releases its timer. */
  #verifyBound(signal: AbortSignal | undefined): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`the verification read took over ${this.#verifyTimeoutMs} ms`)),
      this.#verifyTimeoutMs,
    );
    timer.unref?.();
    const onAbort = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      done: () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      },
    };
  }

  #verifyFailed(key: string, error: unknown): void {
    this.#stats.verify.errors++;
    this.#emitError(key, undefined, 'verify', error);
  }

  /** Counts a verified read, and reports it when it returned less than `current`. */
  #verified(key: string, loaded: Loaded<V>, current: number, reason: StaleReadEvent['reason']): void {
    const counters = this.#stats.verify;
    counters.sampled++;
    if (reason === 'older' ? loaded.version >= current : loaded.version <= current) return;
    const tier = loaded.source;
    counters.stale++;
    counters.staleByTier[tier]++;
    const event: StaleReadEvent = { key, returned: loaded.version, current, reason, tier };
    // Reporting must never fail the read it reports on.
    try {
      if (this.#listening) this.#emit('stale', event);
    } catch (error) {
      this.#emitError(key, undefined, 'stale', error);
    }
    try {
      this.#onStale?.(event);
    } catch (error) {
      this.#emitError(key, undefined, 'onStale', error);
    }
  }

  /** The values of the keys that exist, by key (one round trip per tier and one database call for the rest). */
  async getMany(keys: readonly string[], options?: ReadOptions): Promise<Map<string, V>> {
    const entries = await this.getManyEntries(keys, options);
    const out = new Map<string, V>();
    for (const [key, entry] of entries) out.set(key, entry.value);
    return out;
  }

  /** `getMany` with versions. */
  async getManyEntries(keys: readonly string[], options?: ReadOptions): Promise<Map<string, Versioned<V>>> {
    if (this.#closed) throw new CacheClosedError('the cache is closed');
    if (!Array.isArray(keys))
      throw new InvalidArgumentError(`getMany needs an array of keys, got ${describe(keys)}`);
    const unique = [...new Set(keys)];
    for (const key of unique) this.#checkKey(key);
    const sampled: string[] = [];
    if (this.#sampleRate !== 0) {
      for (const key of unique) if (Math.random() < this.#sampleRate) sampled.push(key);
    }
    if (sampled.length === 0) return this.#readMany(unique, options);
    const current = await this.#currentVersions(sampled, options?.signal);
    if (this.#closed) throw new CacheClosedError('the cache is closed');
    const seen = new Map<string, Loaded<V>>();
    const out = await this.#readMany(unique, options, seen);
    const newer: string[] = [];
    for (const [key, version] of current) {
      if (seen.get(key)!.version > version) newer.push(key);
      else this.#verified(key, seen.get(key)!, version, 'older');
    }
    if (newer.length > 0) {
      const after = await this.#currentVersions(newer, options?.signal);
      for (const [key, version] of after) {
        if (version === 0) this.#verified(key, seen.get(key)!, current.get(key)!, 'older');
        else this.#verified(key, seen.get(key)!, version, 'never-committed');
      }
    }
    return out;
  }

  /**
   * `getManyEntries` of checked, distinct keys; `seen` (when given) receives what each key's read
   * returned.
   */
  async #readMany(
    unique: readonly string[],
    options: ReadOptions | undefined,
    seen?: Map<string, Loaded<V>>,
  ): Promise<Map<string, Versioned<V>>> {
    const since = this.#flightCount;
    this.#stats.reads += unique.length;
    const results = new Map<string, Promise<Loaded<V>> | Loaded<V>>();
    const toLoad: { key: string; look: Lookup<unknown> | undefined }[] = [];
    const l1 = this.#l1;
    for (const key of unique) {
      let look: Lookup<unknown> | undefined;
      if (l1 !== undefined && !this.#l1Bypassed) {
        try {
          look = l1.sync ? l1.store.getSync!(key, l1.leaseOptions) : await l1.store.get(key, l1.leaseOptions);
        } catch (error) {
          this.#tierFailed(l1, error, key, 'get');
          look = undefined;
        }
        if (look?.kind === 'hit') {
          l1.stats.hits++;
          results.set(key, this.#fromEntry(l1, key, look.entry));
          continue;
        }
        if (look !== undefined) {
          l1.stats.misses++;
          if (look.kind === 'wait') l1.stats.leaseWaits++;
        }
      }
      const existing = this.#flights.get(key);
      if (existing !== undefined && look?.kind !== 'lease') {
        results.set(
          key,
          existing.count > since || this.#guards.has('join-earlier-load')
            ? existing.promise
            : this.#afterFlight(existing, key, options, since, false),
        );
        continue;
      }
      toLoad.push({ key, look });
    }
    if (toLoad.length > 0) {
      const loads = this.#loadMany(toLoad);
      for (const { key } of toLoad) results.set(key, loads.get(key)!);
    }
    const out = new Map<string, Versioned<V>>();
    const settled = await raceSignal(Promise.all(results.values()), options?.signal);
    let i = 0;
    for (const key of results.keys()) {
      const loaded = settled[i++]!;
      seen?.set(key, loaded);
      if (loaded.found) out.set(key, { value: loaded.value as V, version: loaded.version });
    }
    const ordered = new Map<string, Versioned<V>>();
    for (const key of unique) {
      const entry = out.get(key);
      if (entry !== undefined) ordered.set(key, entry);
    }
    return ordered;
  }

  /**
   * Joins the key's load in flight if it began after the read was invoked (`since`: the flight
   * counter then), waits for an earlier one to end and reads again, or starts a load (single flight
   * per key and process).
   */
  #slowRead(
    key: string,
    look: Lookup<unknown> | undefined,
    options?: ReadOptions,
    since = this.#flightCount,
  ): Promise<Loaded<V>> {
    const existing = this.#flights.get(key);
    if (existing !== undefined && (look === undefined || look.kind !== 'lease')) {
      if (existing.count > since || this.#guards.has('join-earlier-load')) {
        return raceSignal(existing.promise, options?.signal);
      }
      return raceSignal(this.#afterFlight(existing, key, options, since), options?.signal);
    }
    const promise = this.#flight(key, look);
    const flight: Flight<V> = { promise, count: ++this.#flightCount };
    this.#flights.set(key, flight);
    const done = (): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    promise.then(done, done);
    return raceSignal(promise, options?.signal);
  }

  /**
   * Waits for a load that began before the read was invoked to end (its outcome is not this read's:
   * it may predate a write acknowledged since), then reads: L1 first (that load may have filled it),
   * then a load that began after the invocation, or a new one.
   */
  async #afterFlight(
    earlier: Flight<V>,
    key: string,
    options: ReadOptions | undefined,
    since: number,
    countHit = true,
  ): Promise<Loaded<V>> {
    await raceSignal(
      earlier.promise.then(
        () => undefined,
        () => undefined,
      ),
      options?.signal,
    );
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    // getMany counted this read's L1 miss already: a hit now is not counted again.
    const look = countHit ? this.#l1Lookup(key) : this.#l1PeekSync(key);
    if (look?.kind === 'hit') return this.#fromEntry(this.#l1!, key, look.entry);
    return this.#slowRead(key, look, options, since);
  }

  async #flight(key: string, look: Lookup<unknown> | undefined): Promise<Loaded<V>> {
    const start = performance.now();
    let loaded: Loaded<V>;
    if (look !== undefined) loaded = await this.#continue(0, key, look);
    else loaded = await this.#readFrom(0, key);
    StatsRecorder.record(this.#stats.readNs, (performance.now() - start) * 1e6);
    return loaded;
  }

  /** Reads `key` from tier `i` down (tiers.length: the record store). */
  async #readFrom(i: number, key: string): Promise<Loaded<V>> {
    const tier = this.#tiers[i];
    if (tier === undefined) return this.#readRecords(key);
    if (tier === this.#l1 && this.#l1Bypassed) {
      const loaded = await this.#readFrom(i + 1, key);
      // Found by model checking (model/l1-tiered.pml, tiered-impl): the bus may come back and a
      // write of this instance begin on L1 while this read is out; the version it returns must
      // still raise L1's floor, or that write could install an older version after it.
      if (!this.#guards.has('bypass-report')) await this.#report(tier, key, loaded.version);
      return loaded;
    }
    if (!tier.usableFor(key)) return this.#readFrom(i + 1, key);
    let look: Lookup<unknown>;
    try {
      look = await tier.store.get(key, tier.leaseOptions);
      tier.succeeded();
    } catch (error) {
      this.#tierFailed(tier, error, key, 'get');
      return this.#readFrom(i + 1, key);
    }
    return this.#continue(i, key, look);
  }

  /** Goes on from tier `i`'s answer to `get` (the read path of the protocol). */
  async #continue(i: number, key: string, look: Lookup<unknown>): Promise<Loaded<V>> {
    const tier = this.#tiers[i]!;
    switch (look.kind) {
      case 'hit':
        tier.stats.hits++;
        if (this.#listening) this.#emit('hit', { key, tier: tier.name });
        return this.#fromEntry(tier, key, look.entry);
      case 'lease': {
        tier.stats.misses++;
        let loaded: Loaded<V>;
        try {
          loaded = await this.#readFrom(i + 1, key);
        } catch (error) {
          // Give the lease back so that other readers need not wait for it to expire.
          await this.#tierStep(tier, key, 'invalidate', () => tier.store.invalidate(key, 0));
          throw error;
        }
        if (loaded.unsettled && !this.#guards.has('settled-fill')) {
          // A write was in flight in a lower tier: its commit may land after this read (and, with
          // an unknown outcome, be announced to nobody), so this tier must not keep what was read.
          await this.#report(tier, key, loaded.version);
        } else {
          await this.#fill(tier, key, look.token, loaded);
        }
        return loaded;
      }
      case 'writing': {
        tier.stats.misses++;
        const loaded = await this.#readFrom(i + 1, key);
        await this.#report(tier, key, loaded.version);
        loaded.unsettled = true;
        return loaded;
      }
      case 'wait': {
        tier.stats.misses++;
        tier.stats.leaseWaits++;
        let delay = this.#leaseWaitDelayMs;
        for (let attempt = 0; attempt < this.#leaseWaitAttempts; attempt++) {
          await sleep(delay);
          delay *= 2;
          // Found by model checking (tiered-impl-wait-bypass): the bus may have gone down during the
          // sleep; a retry must not take a lease in the cleared, bypassed L1 and fill it.
          if (tier === this.#l1 && this.#l1Bypassed && !this.#guards.has('wait-bypass')) {
            return this.#readFrom(i, key);
          }
          let again: Lookup<unknown>;
          try {
            again = await tier.store.get(key, tier.leaseOptions);
          } catch (error) {
            this.#tierFailed(tier, error, key, 'get');
            return this.#readFrom(i + 1, key);
          }
          if (again.kind !== 'wait') {
            if (again.kind === 'hit') {
              tier.stats.hits++;
              return this.#fromEntry(tier, key, again.entry);
            }
            return this.#continue(i, key, again);
          }
        }
        const loaded = await this.#readFrom(i + 1, key);
        await this.#report(tier, key, loaded.version);
        loaded.unsettled = true;
        return loaded;
      }
    }
  }

  async #readRecords(key: string): Promise<Loaded<V>> {
    this.#stats.recordReads++;
    if (this.#listening) this.#emit('miss', { key });
    let read: RecordRead<V>;
    try {
      read = await withRetry((_attempt, signal) => this.#records.get(key, signal ? { signal } : undefined), {
        policy: this.#retry,
        classify: this.#classify,
        onRetry: (info) => this.#onRetry(key, info),
      });
    } catch (error) {
      throw this.#wrapRecordError(error, key, 'read');
    }
    const loaded = this.#fromRecord(key, read);
    if (this.#hooks?.afterRecordRead) await this.#pause('afterRecordRead', key, loaded.version);
    return loaded;
  }

  /** Loads keys that missed L1, through L2 in one round trip and the database in one call. */
  #loadMany(items: { key: string; look: Lookup<unknown> | undefined }[]): Map<string, Promise<Loaded<V>>> {
    const deferreds = new Map<
      string,
      { promise: Promise<Loaded<V>>; resolve: (l: Loaded<V>) => void; reject: (e: unknown) => void }
    >();
    for (const { key } of items) {
      const d = deferred<Loaded<V>>();
      deferreds.set(key, d);
      const flight: Flight<V> = { promise: d.promise, count: ++this.#flightCount };
      this.#flights.set(key, flight);
      const done = (): void => {
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      };
      d.promise.then(done, done);
    }
    const run = async (): Promise<void> => {
      const start = performance.now();
      const l2 = this.#tiers.find((t) => t.name === 'l2');
      const loaded = new Map<string, Loaded<V>>();
      const l2Steps = new Map<string, Lookup<unknown>>();
      const l2Keys = l2 === undefined ? [] : items.map((x) => x.key).filter((k) => l2.usableFor(k));
      if (l2 !== undefined && l2Keys.length > 0) {
        try {
          const looks = await l2.store.getMany(l2Keys, l2.leaseOptions);
          l2.succeeded();
          l2Keys.forEach((key, j) => {
            const look = looks[j]!;
            if (look.kind === 'hit') {
              l2.stats.hits++;
              loaded.set(key, this.#fromEntry(l2, key, look.entry));
            } else {
              l2.stats.misses++;
              if (look.kind === 'wait') l2.stats.leaseWaits++;
              l2Steps.set(key, look);
            }
          });
        } catch (error) {
          this.#tierFailed(l2, error, '', 'getMany');
        }
      }
      const fromDb = items.map((x) => x.key).filter((k) => !loaded.has(k));
      if (fromDb.length > 0) {
        this.#stats.recordReads += fromDb.length;
        let reads: Map<string, RecordRead<V>>;
        try {
          reads = await withRetry(
            (_attempt, signal) => this.#records.getMany(fromDb, signal ? { signal } : undefined),
            {
              policy: this.#retry,
              classify: this.#classify,
              onRetry: (info) => this.#onRetry(fromDb[0]!, info),
            },
          );
        } catch (error) {
          // Give back the leases these loads hold, then fail every waiting caller.
          await Promise.all(
            fromDb.map(async (key) => {
              const look = l2Steps.get(key);
              if (l2 !== undefined && look?.kind === 'lease') {
                await this.#tierStep(l2, key, 'invalidate', () => l2.store.invalidate(key, 0));
              }
            }),
          );
          for (const { key, look } of items) {
            if (this.#l1 !== undefined && look?.kind === 'lease')
              this.#l1.store.invalidate(key, 0).catch(() => {});
          }
          throw this.#wrapRecordError(error, fromDb[0]!, 'read');
        }
        for (const key of fromDb) {
          loaded.set(key, this.#fromRecord(key, reads.get(key) ?? { found: false, version: 0 }));
        }
        if (l2 !== undefined) {
          await Promise.all(
            fromDb.map(async (key) => {
              const look = l2Steps.get(key);
              const value = loaded.get(key)!;
              if (look?.kind === 'lease') await this.#fill(l2, key, look.token, value);
              else if (look !== undefined) {
                await this.#report(l2, key, value.version);
                value.unsettled = true;
              }
            }),
          );
        }
      }
      const l1 = this.#l1;
      await Promise.all(
        items.map(async ({ key, look }) => {
          const value = loaded.get(key)!;
          if (l1 !== undefined && look !== undefined) {
            if (look.kind === 'lease' && (!value.unsettled || this.#guards.has('settled-fill'))) {
              await this.#fill(l1, key, look.token, value);
            } else {
              await this.#report(l1, key, value.version);
            }
          }
        }),
      );
      StatsRecorder.record(this.#stats.readNs, (performance.now() - start) * 1e6);
      for (const [key, d] of deferreds) d.resolve(loaded.get(key)!);
    };
    run().catch((error) => {
      for (const d of deferreds.values()) d.reject(error);
    });
    const out = new Map<string, Promise<Loaded<V>>>();
    for (const [key, d] of deferreds) out.set(key, d.promise);
    return out;
  }

  /** `fill` with the lease; when the fill cannot be encoded or is too large, reports instead. */
  async #fill(tier: Tier, key: string, token: string, loaded: Loaded<V>): Promise<void> {
    let entry: TierEntry<unknown>;
    try {
      entry = this.#toEntry(tier, key, loaded);
    } catch {
      await this.#report(tier, key, loaded.version);
      await this.#tierStep(tier, key, 'invalidate', () => tier.store.invalidate(key, 0));
      return;
    }
    const ttl = tier.ttl(!loaded.found, undefined, this.#jitter);
    const installed = tier.sync
      ? this.#syncStep(tier, key, 'fill', () => tier.store.fillSync!(key, token, entry, ttl))
      : await this.#tierStep(tier, key, 'fill', () => tier.store.fill(key, token, entry, ttl));
    if (installed === true) tier.stats.fills++;
    else tier.stats.fillsRefused++;
  }

  /** Fix 2: a read returning a version it did not install raises the tier's floor to it first. */
  async #report(tier: Tier, key: string, version: number): Promise<void> {
    if (this.#guards.has('report')) return;
    if (tier.sync) this.#syncStep(tier, key, 'invalidate', () => tier.store.invalidateSync!(key, version));
    else await this.#tierStep(tier, key, 'invalidate', () => tier.store.invalidate(key, version));
  }

  // -------------------------------------------------------------------------------------------
  // Writes
  // -------------------------------------------------------------------------------------------

  /**
   * Writes `value` to the database, then to the tiers; resolves with the commit version once the
   * write is acknowledged. Throws `VersionConflictError` when `ifVersion` does not match,
   * `WriteOutcomeUnknownError` when the database may or may not have committed.
   */
  async set(key: string, value: V, options?: SetOptions): Promise<{ version: number }> {
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    this.#checkKey(key);
    const ifVersion = this.#checkIfVersion(options?.ifVersion, key);
    const ttlMs = options?.ttlMs === undefined ? undefined : checkNumber('ttlMs', options.ttlMs, { min: 1 });
    const p = this.#prepare(key, value);
    checkSignal(options?.signal, key);
    if (this.#batcher !== undefined && ifVersion === undefined && ttlMs === undefined) {
      return raceSignal(this.#batcher.add(key, p), options?.signal);
    }
    const result = await this.#writeOne(key, { kind: 'set', p, ifVersion }, ttlMs, options?.signal);
    return { version: result.version };
  }

  /** Deletes `key` in the database, then leaves a tombstone at the delete's version in the tiers. */
  async delete(key: string, options?: DeleteOptions): Promise<{ deleted: boolean; version: number }> {
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    this.#checkKey(key);
    const ifVersion = this.#checkIfVersion(options?.ifVersion, key);
    checkSignal(options?.signal, key);
    return this.#writeOne(key, { kind: 'delete', ifVersion }, undefined, options?.signal);
  }

  /**
   * Writes many values in one database transaction (all or nothing); a key given twice keeps its
   * last value. Resolves with each key's commit version.
   */
  async setMany(
    entries: readonly { key: string; value: V }[] | ReadonlyMap<string, V>,
    options?: ReadOptions,
  ): Promise<Map<string, { version: number }>> {
    if (this.#closed) throw new CacheClosedError('the cache is closed');
    const list: { key: string; value: V }[] =
      entries instanceof Map
        ? [...entries].map(([key, value]) => ({ key, value }))
        : Array.isArray(entries)
          ? (entries as { key: string; value: V }[])
          : (() => {
              throw new InvalidArgumentError(
                `setMany needs an array of {key, value} or a Map, got ${describe(entries)}`,
              );
            })();
    const rows = new Map<string, Prepared<V>>();
    for (const item of list) {
      if (item === null || typeof item !== 'object') {
        throw new InvalidArgumentError(`setMany entries must be {key, value} objects, got ${describe(item)}`);
      }
      this.#checkKey(item.key);
      rows.set(item.key, this.#prepare(item.key, item.value));
    }
    checkSignal(options?.signal);
    if (rows.size === 0) return new Map();
    const results = await this.#writeRows(
      [...rows].map(([key, p]) => ({ key, p })),
      false,
      options?.signal,
    );
    const out = new Map<string, { version: number }>();
    for (const [key, r] of results) {
      if (r instanceof Error) throw r;
      out.set(key, { version: r });
    }
    return out;
  }

  async #writeOne(
    key: string,
    op: WriteOp<V>,
    ttlMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ deleted: boolean; version: number }> {
    const start = performance.now();
    const release = this.#guards.has('key-lock')
      ? noop
      : (this.#locks.tryAcquire(key) ?? (await this.#locks.acquire([key])));
    try {
      if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
      const token = this.#newToken();
      this.#flights.delete(key);
      if (this.#hooks?.beforeBegin) await this.#pause('beforeBegin', key);
      const begun = this.#guards.has('write-marks')
        ? this.#tiers.map(() => false)
        : await this.#beginAll(key, token);
      if (this.#hooks?.afterBegin) await this.#pause('afterBegin', key);
      // Other instances drop their L1 copy now: if this writer dies after its commit, they read
      // through L2, whose mark sends them to the database, instead of serving the old value.
      if (!this.#guards.has('publish-begin') && begun.some(Boolean)) this.#publish(key, 0);
      let version: number;
      let deleted = true;
      let uncertain = false;
      const onRetry = (info: { attempt: number; delayMs: number; error: unknown }): void => {
        if (this.#classify(info.error).outcome === 'unknown') uncertain = true;
        this.#onRetry(key, info);
      };
      try {
        const retryUnknownOutcome = op.ifVersion === undefined;
        const writeOptions = (s: AbortSignal | undefined) => {
          const o: { ifVersion?: number; signal?: AbortSignal } = {};
          if (op.ifVersion !== undefined) o.ifVersion = op.ifVersion;
          const sig = s ?? signal;
          if (sig !== undefined) o.signal = sig;
          return o;
        };
        if (op.kind === 'set') {
          ({ version } = await withRetry((_a, s) => this.#records.set(key, op.p.value, writeOptions(s)), {
            policy: this.#retry,
            classify: this.#classify,
            onRetry,
            retryUnknownOutcome,
            ...(signal ? { signal } : {}),
          }));
        } else {
          ({ version, deleted } = await withRetry((_a, s) => this.#records.delete(key, writeOptions(s)), {
            policy: this.#retry,
            classify: this.#classify,
            onRetry,
            retryUnknownOutcome,
            ...(signal ? { signal } : {}),
          }));
        }
        // A delete of a key that never existed commits nothing and answers its absence version, 0.
        checkVersion(version, key, op.kind === 'delete' && !deleted);
      } catch (error) {
        throw await this.#writeFailed(key, token, begun, error, uncertain);
      }
      if (this.#hooks?.afterCommit) await this.#pause('afterCommit', key, version);
      this.#flights.delete(key);
      const entry: TierEntry<unknown> | undefined = op.kind === 'set' ? undefined : this.#absent(version);
      const held = await this.#commitAll(
        key,
        token,
        begun,
        version,
        op.kind === 'set' ? op.p : undefined,
        entry,
        ttlMs,
      );
      if (this.#hooks?.beforeAck) await this.#pause('beforeAck', key, version);
      this.#publish(key, version);
      if (held && deleted) this.#settle([{ key, version }]);
      this.#stats.writes++;
      StatsRecorder.record(this.#stats.writeNs, (performance.now() - start) * 1e6);
      if (this.#listening) this.#emit('write', { key, version, op: op.kind });
      return { deleted, version };
    } finally {
      release();
    }
  }

  /** The batcher's flush: one `setMany`, a poison row isolated by splitting. */
  async #writeBatch(rows: BatchRow<V>[]): Promise<void> {
    this.#stats.batches++;
    this.#stats.batchedRows += rows.length;
    StatsRecorder.record(this.#stats.batchRows, rows.length);
    if (this.#listening) this.#emit('batch', { size: rows.length });
    const results = await this.#writeRows(
      rows.map((r) => ({ key: r.key, p: r.p })),
      true,
      undefined,
    );
    for (const row of rows) {
      const r = results.get(row.key);
      if (r === undefined) row.reject(new WriteThroughError('batch row lost', { key: row.key }));
      else if (r instanceof Error) row.reject(r);
      else row.resolve({ version: r });
    }
  }

  /** Writes rows through the protocol with one `setMany`; returns each key's version or error. */
  async #writeRows(
    rows: { key: string; p: Prepared<V> }[],
    split: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, number | Error>> {
    const start = performance.now();
    const keys = rows.map((r) => r.key);
    const release = this.#guards.has('key-lock') ? noop : await this.#locks.acquire(keys);
    const results = new Map<string, number | Error>();
    try {
      if (this.#closed) {
        for (const key of keys) results.set(key, new CacheClosedError('the cache is closed', { key }));
        return results;
      }
      const tokens = new Map<string, string>();
      for (const key of keys) {
        tokens.set(key, this.#newToken());
        this.#flights.delete(key);
      }
      const begun = this.#guards.has('write-marks')
        ? new Map(keys.map((key) => [key, this.#tiers.map(() => false)]))
        : await this.#beginMany(keys, tokens, results);
      const ready = rows.filter((r) => !results.has(r.key));
      if (!this.#guards.has('publish-begin')) {
        for (const { key } of ready) if (begun.get(key)?.some(Boolean)) this.#publish(key, 0);
      }
      const commitGroup = async (group: { key: string; p: Prepared<V> }[]): Promise<void> => {
        const settled: { key: string; version: number }[] = [];
        let versions: Map<string, { version: number }>;
        let uncertain = false;
        try {
          versions = await withRetry(
            (_a, s) =>
              this.#records.setMany(
                group.map((r) => ({ key: r.key, value: r.p.value })),
                (s ?? signal) ? { signal: (s ?? signal)! } : undefined,
              ),
            {
              policy: this.#retry,
              classify: this.#classify,
              onRetry: (info) => {
                if (this.#classify(info.error).outcome === 'unknown') uncertain = true;
                this.#onRetry(group[0]!.key, info);
              },
              retryUnknownOutcome: true,
              ...(signal ? { signal } : {}),
            },
          );
        } catch (error) {
          const cls = this.#classify(error);
          // Splitting retries rows that may have committed in an earlier try only if no try was uncertain.
          if (split && group.length > 1 && cls.outcome === 'failed' && !cls.retryable && !uncertain) {
            const half = Math.ceil(group.length / 2);
            await commitGroup(group.slice(0, half));
            await commitGroup(group.slice(half));
            return;
          }
          await Promise.all(
            group.map(async ({ key }) => {
              results.set(
                key,
                await this.#writeFailed(key, tokens.get(key)!, begun.get(key)!, error, uncertain),
              );
            }),
          );
          return;
        }
        const committed: CommittedRow<V>[] = [];
        const invalid: { key: string; error: unknown }[] = [];
        for (const { key, p } of group) {
          const version = versions.get(key)?.version;
          try {
            checkVersion(version, key);
          } catch (error) {
            invalid.push({ key, error });
            continue;
          }
          this.#flights.delete(key);
          committed.push({ key, token: tokens.get(key)!, begun: begun.get(key)!, version, p });
        }
        const [held] = await Promise.all([
          this.#commitMany(committed),
          Promise.all(
            invalid.map(async ({ key, error }) => {
              results.set(key, await this.#writeFailed(key, tokens.get(key)!, begun.get(key)!, error));
            }),
          ),
        ]);
        for (const { key, version } of committed) {
          const outcome = held.get(key)!;
          if (outcome instanceof Error) {
            results.set(key, outcome);
            continue;
          }
          this.#publish(key, version);
          if (outcome) settled.push({ key, version });
          this.#stats.writes++;
          if (this.#listening) this.#emit('write', { key, version, op: 'set' });
          results.set(key, version);
        }
        if (settled.length > 0) this.#settle(settled);
      };
      if (ready.length > 0) await commitGroup(ready);
      StatsRecorder.record(this.#stats.writeNs, (performance.now() - start) * 1e6);
      return results;
    } finally {
      release();
    }
  }

  /**
   * `#beginAll` for the keys of a batch. A tier that offers `beginWriteMany` gets one call for all
   * keys, after the tiers above it; a failed call counts as a failed `beginWrite` of each key (not
   * begun there; with `onCacheError: 'fail'`, the key's write is not sent). Without such a tier, it is
   * `#beginAll` for each key. A key whose write must not be sent gets its error in `results`.
   */
  async #beginMany(
    keys: readonly string[],
    tokens: ReadonlyMap<string, string>,
    results: Map<string, number | Error>,
  ): Promise<Map<string, boolean[]>> {
    const begun = new Map<string, boolean[]>();
    if (keys.length < 2 || !this.#tiers.some((t) => t.beginMany)) {
      await Promise.all(
        keys.map(async (key) => {
          try {
            begun.set(key, await this.#beginAll(key, tokens.get(key)!));
          } catch (error) {
            results.set(key, error as Error);
          }
        }),
      );
      return begun;
    }
    for (const key of keys)
      begun.set(
        key,
        this.#tiers.map(() => false),
      );
    let live = keys;
    /** With `fail`: the write of these keys is not sent; the tiers they began are aborted. */
    const refuse = async (refused: readonly string[], error: (key: string) => Error): Promise<void> => {
      const out = new Set(refused);
      live = live.filter((key) => !out.has(key));
      await Promise.all(
        refused.map(async (key) => {
          await this.#abortAll(key, tokens.get(key)!, begun.get(key)!);
          results.set(key, error(key));
        }),
      );
    };
    for (let i = 0; i < this.#tiers.length && live.length > 0; i++) {
      const tier = this.#tiers[i]!;
      if ((tier === this.#l1 && this.#l1Bypassed) || !tier.available) {
        if (this.#refusesWrite(tier)) {
          await refuse(
            live,
            (key) =>
              new CacheTierError(`the ${tier.name} tier is unavailable; the write was not sent`, tier.name, {
                key,
              }),
          );
        }
        continue;
      }
      const failed = new Map<string, unknown>();
      if (tier.sync) {
        for (const key of live) {
          try {
            tier.store.beginWriteSync!(key, tokens.get(key)!, this.#markTtlMs);
            tier.succeeded();
            begun.get(key)![i] = true;
          } catch (error) {
            tier.failed();
            failed.set(key, error);
          }
        }
      } else if (tier.beginMany && live.length > 1) {
        try {
          await tier.store.beginWriteMany!(
            live.map((key) => ({ key, token: tokens.get(key)! })),
            this.#markTtlMs,
          );
          tier.succeeded();
          for (const key of live) begun.get(key)![i] = true;
        } catch (error) {
          tier.failed();
          for (const key of live) failed.set(key, error);
        }
      } else {
        await Promise.all(
          live.map(async (key) => {
            try {
              await tier.store.beginWrite(key, tokens.get(key)!, this.#markTtlMs);
              tier.succeeded();
              begun.get(key)![i] = true;
            } catch (error) {
              tier.failed();
              failed.set(key, error);
            }
          }),
        );
      }
      if (failed.size === 0) continue;
      for (const [key, error] of failed) this.#emitError(key, tier, 'beginWrite', error);
      if (this.#refusesWrite(tier)) {
        await refuse(
          [...failed.keys()],
          (key) =>
            new CacheTierError(
              `beginWrite failed on the ${tier.name} tier; the write was not sent`,
              tier.name,
              { key, cause: failed.get(key) },
            ),
        );
      }
    }
    return begun;
  }

  /**
   * `#commitAll` for the committed rows of a batch: per tier, from the bottom up, one
   * `commitWriteMany` for the keys that began there and one `invalidateMany` (with each version) for
   * those that did not, where the tier offers them. A failed call counts as a failed step of each of
   * its keys: queued for repair, and with `onCacheError: 'fail'` the key's outcome is a
   * `CacheTierError`. Answers, per key, whether every tier took the write (or that error). Without
   * such a tier, it is `#commitAll` for each key.
   */
  async #commitMany(rows: readonly CommittedRow<V>[]): Promise<Map<string, boolean | Error>> {
    const held = new Map<string, boolean | Error>();
    if (rows.length < 2 || !this.#tiers.some((t) => t.commitMany || t.invalidateMany)) {
      await Promise.all(
        rows.map(async ({ key, token, begun, version, p }) => {
          try {
            held.set(key, await this.#commitAll(key, token, begun, version, p, undefined, undefined));
          } catch (error) {
            held.set(key, error as Error);
          }
        }),
      );
      return held;
    }
    const failures = new Map<string, { tier: Tier; error: unknown }>();
    for (let i = this.#tiers.length - 1; i >= 0; i--) {
      const tier = this.#tiers[i]!;
      const fail = (row: CommittedRow<V>, op: string, error: unknown): void => {
        this.#repairLater(tier, row.key, row.version, op, error);
        if (!failures.has(row.key)) failures.set(row.key, { tier, error });
      };
      const entryOf = (row: CommittedRow<V>): TierEntry<unknown> =>
        tier.serialized
          ? { kind: 'value', payload: row.p.text, version: row.version }
          : localEntry(row.p.frozen, row.version);
      const commits = rows.filter((row) => row.begun[i]);
      const skip = tier === this.#l1 && this.#l1Bypassed;
      const invalidates = skip ? [] : rows.filter((row) => !row.begun[i]);
      if (tier.sync) {
        for (const row of commits) {
          try {
            const ttl = tier.ttl(false, undefined, this.#jitter);
            tier.store.commitWriteSync!(row.key, row.token, entryOf(row), ttl);
            tier.succeeded();
          } catch (error) {
            tier.failed();
            fail(row, 'commitWrite', error);
          }
        }
        for (const row of invalidates) {
          try {
            tier.store.invalidateSync!(row.key, row.version);
            tier.succeeded();
          } catch (error) {
            tier.failed();
            fail(row, 'invalidate', error);
          }
        }
        continue;
      }
      const steps: Promise<void>[] = [];
      const settle = (done: Promise<unknown>, of: readonly CommittedRow<V>[], op: string): void => {
        steps.push(
          done.then(
            () => tier.succeeded(),
            (error: unknown) => {
              tier.failed();
              for (const row of of) fail(row, op, error);
            },
          ),
        );
      };
      const call = <T>(step: () => Promise<T>): Promise<T> => {
        try {
          return step();
        } catch (error) {
          return Promise.reject(error);
        }
      };
      if (tier.commitMany && commits.length > 1) {
        const items = commits.map((row) => ({
          key: row.key,
          token: row.token,
          entry: entryOf(row),
          ttlMs: tier.ttl(false, undefined, this.#jitter),
        }));
        settle(
          call(() => tier.store.commitWriteMany!(items)),
          commits,
          'commitWrite',
        );
      } else {
        for (const row of commits) {
          const ttl = tier.ttl(false, undefined, this.#jitter);
          settle(
            call(() => tier.store.commitWrite(row.key, row.token, entryOf(row), ttl)),
            [row],
            'commitWrite',
          );
        }
      }
      if (tier.invalidateMany && invalidates.length > 1) {
        const items = invalidates.map((row) => ({ key: row.key, version: row.version }));
        settle(
          call(() => tier.store.invalidateMany!(items)),
          invalidates,
          'invalidate',
        );
      } else {
        for (const row of invalidates) {
          settle(
            call(() => tier.store.invalidate(row.key, row.version)),
            [row],
            'invalidate',
          );
        }
      }
      await Promise.all(steps);
    }
    for (const { key, version } of rows) {
      const failure = failures.get(key);
      if (failure === undefined) held.set(key, true);
      else if (this.#policy !== 'fail') held.set(key, false);
      else {
        held.set(
          key,
          new CacheTierError(
            `the write committed at version ${version}, but the ${failure.tier.name} tier failed; the key is queued for repair`,
            failure.tier.name,
            { key, cause: failure.error },
          ),
        );
      }
    }
    return held;
  }

  /** `beginWrite` on every tier; a tier that cannot be reached is recorded as not begun. */
  async #beginAll(key: string, token: string): Promise<boolean[]> {
    const begun: boolean[] = this.#tiers.map(() => false);
    for (let i = 0; i < this.#tiers.length; i++) {
      const tier = this.#tiers[i]!;
      if ((tier === this.#l1 && this.#l1Bypassed) || !tier.available) {
        if (this.#refusesWrite(tier)) {
          await this.#abortAll(key, token, begun);
          throw new CacheTierError(
            `the ${tier.name} tier is unavailable; the write was not sent`,
            tier.name,
            { key },
          );
        }
        continue;
      }
      try {
        if (tier.sync) tier.store.beginWriteSync!(key, token, this.#markTtlMs);
        else await tier.store.beginWrite(key, token, this.#markTtlMs);
        tier.succeeded();
        begun[i] = true;
      } catch (error) {
        tier.failed();
        this.#emitError(key, tier, 'beginWrite', error);
        if (this.#refusesWrite(tier)) {
          await this.#abortAll(key, token, begun);
          throw new CacheTierError(
            `beginWrite failed on the ${tier.name} tier; the write was not sent`,
            tier.name,
            {
              key,
              cause: error,
            },
          );
        }
      }
    }
    return begun;
  }

  /**
   * After the commit: `commitWrite` on the tiers that began, from the bottom tier up, and
   * `invalidate(version)` on those that did not; a tier that fails is queued for repair.
   */
  async #commitAll(
    key: string,
    token: string,
    begun: boolean[],
    version: number,
    p: Prepared<V> | undefined,
    absent: TierEntry<unknown> | undefined,
    ttlMs: number | undefined,
  ): Promise<boolean> {
    let failure: unknown;
    let failedTier: Tier | undefined;
    for (let i = this.#tiers.length - 1; i >= 0; i--) {
      const tier = this.#tiers[i]!;
      const entry: TierEntry<unknown> =
        absent ??
        (tier.serialized ? { kind: 'value', payload: p!.text, version } : localEntry(p!.frozen, version));
      try {
        if (begun[i]) {
          const ttl = tier.ttl(entry.kind === 'absent', ttlMs, this.#jitter);
          if (tier.sync) tier.store.commitWriteSync!(key, token, entry, ttl);
          else await tier.store.commitWrite(key, token, entry, ttl);
        } else if (tier === this.#l1 && this.#l1Bypassed) {
          continue;
        } else if (tier.sync) {
          tier.store.invalidateSync!(key, version);
        } else {
          await tier.store.invalidate(key, version);
        }
        tier.succeeded();
      } catch (error) {
        tier.failed();
        this.#repairLater(tier, key, version, begun[i] ? 'commitWrite' : 'invalidate', error);
        failure ??= error;
        failedTier ??= tier;
      }
    }
    if (failure !== undefined && this.#policy === 'fail') {
      throw new CacheTierError(
        `the write committed at version ${version}, but the ${failedTier!.name} tier failed; the key is queued for repair`,
        failedTier!.name,
        { key, cause: failure },
      );
    }
    return failure === undefined;
  }

  /**
   * Whether a write whose `beginWrite` could not be done on `tier` is refused before the database:
   * with `'fail'` on any tier, with `'fail-writes'` on a shared one (L1 is this process's own).
   */
  #refusesWrite(tier: Tier): boolean {
    return this.#policy === 'fail' || (this.#policy === 'fail-writes' && tier !== this.#l1);
  }

  async #abortAll(key: string, token: string, begun: boolean[]): Promise<void> {
    for (let i = 0; i < this.#tiers.length; i++) {
      if (!begun[i]) continue;
      const tier = this.#tiers[i]!;
      // A failed abort leaves this writer in the mark until it expires: reads go to the database meanwhile.
      await this.#tierStep(tier, key, 'abortWrite', () => tier.store.abortWrite(key, token));
    }
  }

  /** A write that did not commit (or may have): cleans the tiers and returns the error to throw. */
  async #writeFailed(
    key: string,
    token: string,
    begun: boolean[],
    error: unknown,
    uncertain = false,
  ): Promise<Error> {
    this.#stats.writeFailures++;
    // An abort during a retry's sleep carries the last try's error, which may be an unknown outcome.
    const last =
      error instanceof AbortedError && error.cause instanceof WriteThroughError ? error.cause : error;
    const cls = this.#classify(last);
    // A try that may have committed makes the whole call uncertain, whatever the later tries said.
    const unknown =
      (cls.outcome === 'unknown' && !(last instanceof AbortedError)) ||
      (uncertain && !this.#guards.has('unknown-across-retries'));
    if (unknown && !this.#guards.has('unknown-outcome')) {
      this.#stats.unknownOutcomes++;
      // The mark stays (this writer's token is not removed), so readers keep going to the database
      // until it expires; every tier drops the key now, and other instances' L1 too.
      for (const tier of this.#tiers) {
        if (tier === this.#l1 && this.#l1Bypassed) continue;
        try {
          await tier.store.invalidate(key);
          tier.succeeded();
        } catch (cause) {
          tier.failed();
          this.#repairLater(tier, key, 0, 'invalidate', cause);
        }
      }
      this.#publish(key, 0);
      return new WriteOutcomeUnknownError(
        `the write of key ${JSON.stringify(key)} may or may not have committed (${(error as Error)?.message ?? error}); ` +
          'the key was invalidated in every tier: read it to learn the outcome',
        { key, cause: error },
      );
    }
    await this.#abortAll(key, token, begun);
    if (error instanceof VersionConflictError) {
      this.#stats.conflicts++;
      if (this.#listening) this.#emit('conflict', { key, error });
      return error;
    }
    return this.#wrapRecordError(error, key, 'write');
  }

  // -------------------------------------------------------------------------------------------
  // Bus, repairs, helpers
  // -------------------------------------------------------------------------------------------

  /** Tells the record store that every tier holds these writes (an outbox may drop their rows). */
  #settle(writes: { key: string; version: number }[]): void {
    const settled = this.#records.settled;
    if (settled === undefined) return;
    try {
      settled.call(this.#records, writes);
    } catch (error) {
      this.#emitError(writes[0]?.key, undefined, 'settled', error);
    }
  }

  #publish(key: string, version: number): void {
    const bus = this.#bus;
    if (bus === undefined) return;
    bus.publish({ cache: this.name, key, version, origin: this.instanceId }).catch((error) => {
      this.#emitError(key, undefined, 'publish', error);
    });
  }

  #onBusMessage(message: InvalidationMessage): void {
    if (message.cache !== this.name || message.origin === this.instanceId) return;
    this.#stats.busMessages++;
    const apply = (): void => {
      const l1 = this.#l1;
      this.#flights.delete(message.key);
      if (l1 === undefined || this.#l1Bypassed) return;
      if (message.key === '' && message.version === 0) {
        this.#flights.clear();
        l1.store.clear().catch((error) => this.#emitError(undefined, l1, 'clear', error));
        return;
      }
      if (this.#guards.has('bus-floor')) {
        const peeked = (l1.store as { inspect?: (k: string) => { entry?: unknown } }).inspect?.(message.key);
        if (peeked?.entry !== undefined) l1.store.invalidate(message.key).catch(() => {});
        return;
      }
      const done =
        message.version === 0
          ? l1.store.invalidate(message.key)
          : l1.store.invalidate(message.key, message.version);
      done.catch((error) => this.#emitError(message.key, l1, 'invalidate', error));
    };
    if (this.#hooks?.beforeL1Apply) {
      this.#pause('beforeL1Apply', message.key, message.version).then(apply, apply);
    } else {
      apply();
    }
  }

  #onBusState(state: BusState): void {
    const bypass = state === 'disconnected';
    if (bypass) {
      this.#stats.busDisconnects++;
      this.#flights.clear();
      const l1 = this.#l1;
      // Messages may have been lost: nothing in L1 can be trusted, and fills begun before this
      // moment lose their leases with the clear.
      if (l1 !== undefined) l1.store.clear().catch((error) => this.#emitError(undefined, l1, 'clear', error));
    }
    this.#l1Bypassed = bypass;
    if (this.#listening) this.#emit('bus', { state });
  }

  /** A tier step that failed: reported, and the key queued to be invalidated up to `version` once the tier answers. */
  #repairLater(tier: Tier, key: string, version: number, op: string, error: unknown): void {
    this.#emitError(key, tier, op, error);
    tier.queueRepair(key, version, this.#maxRepairs);
    this.#scheduleRepair();
  }

  #scheduleRepair(): void {
    if (this.#repairTimer !== undefined || this.#closed) return;
    this.#repairTimer = setTimeout(() => {
      this.#repairTimer = undefined;
      this.#runRepairs().catch((error) => this.#emitError(undefined, undefined, 'repair', error));
    }, this.#repairIntervalMs);
    this.#repairTimer.unref?.();
  }

  /** Retries the queued invalidations of every tier; what still fails waits for the next round. */
  async #runRepairs(): Promise<void> {
    if (this.#repairing) return;
    this.#repairing = true;
    try {
      for (const tier of this.#tiers) {
        if (tier.needsClear) {
          try {
            await tier.store.clear();
            tier.needsClear = false;
            tier.succeeded();
          } catch {
            tier.failed();
            continue;
          }
        }
        for (const [key, version] of [...tier.repairs]) {
          try {
            await (version === 0 ? tier.store.invalidate(key) : tier.store.invalidate(key, version));
            tier.succeeded();
            if (tier.repairs.get(key) === version) tier.repairs.delete(key);
            if (this.#listening) this.#emit('repair', { key, tier: tier.name });
          } catch {
            tier.failed();
            break;
          }
        }
      }
    } finally {
      this.#repairing = false;
    }
    if (this.#tiers.some((t) => t.repairs.size > 0 || t.needsClear)) this.#scheduleRepair();
  }

  /** Runs one tier step; a failure is counted, reported and (with `fallback`) swallowed. */
  async #tierStep<T>(tier: Tier, key: string, op: string, step: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await step();
      tier.succeeded();
      return result;
    } catch (error) {
      this.#tierFailed(tier, error, key, op);
      return undefined;
    }
  }

  /** `#tierStep` for a synchronous step. */
  #syncStep<T>(tier: Tier, key: string, op: string, step: () => T): T | undefined {
    try {
      return step();
    } catch (error) {
      this.#tierFailed(tier, error, key, op);
      return undefined;
    }
  }

  #tierFailed(tier: Tier, error: unknown, key: string, op: string): void {
    tier.failed();
    this.#emitError(key, tier, op, error);
    if (this.#policy === 'fail') {
      throw new CacheTierError(`${op} failed on the ${tier.name} tier`, tier.name, { key, cause: error });
    }
  }

  #emitError(key: string | undefined, tier: Tier | undefined, op: string, error: unknown): void {
    if (this.#events.listenerCount('error') === 0) return;
    const info: { key?: string; tier?: 'l1' | 'l2'; op: string; error: unknown } = { op, error };
    if (key !== undefined) info.key = key;
    if (tier !== undefined) info.tier = tier.name;
    this.#events.emit('error', info);
  }

  #onRetry(key: string, info: { attempt: number; delayMs: number; error: unknown }): void {
    this.#stats.retries++;
    if (this.#listening) this.#emit('retry', { key, ...info });
  }

  #emit<E extends keyof CacheEvents>(event: E, ...args: CacheEvents[E]): void {
    this.#events.emit(event, ...args);
  }

  async #pause(point: PausePoint, key: string, version?: number): Promise<void> {
    const hook = this.#hooks?.[point];
    if (hook === undefined) return;
    const info: PauseInfo = version === undefined ? { point, key } : { point, key, version };
    await hook(info);
  }

  #newToken(): string {
    return `${this.instanceId}:${++this.#tokenSeq}`;
  }

  #absent(version: number): TierEntry<unknown> {
    // Without the version guard a cached absence would win over every later write's invalidation.
    return {
      kind: 'absent',
      version: this.#guards.has('absence-version') ? Number.MAX_SAFE_INTEGER : version,
    };
  }

  #toEntry(tier: Tier, key: string, loaded: Loaded<V>): TierEntry<unknown> {
    if (!loaded.found) return this.#absent(loaded.version);
    if (!tier.serialized) return localEntry(loaded.value, loaded.version);
    loaded.text ??= encode(this.#serializer, key, loaded.value);
    if (byteLength(loaded.text) > this.#maxValueBytes) {
      throw new SizeLimitError('value too large to cache', byteLength(loaded.text), this.#maxValueBytes, {
        key,
      });
    }
    return { kind: 'value', payload: loaded.text, version: loaded.version };
  }

  #fromEntry(tier: Tier, key: string, entry: TierEntry<unknown>): Loaded<V> {
    const source = tier.name;
    if (entry.kind === 'absent') return { found: false, value: undefined, version: entry.version, source };
    if (!tier.serialized) return { found: true, value: entry.payload as V, version: entry.version, source };
    const text = entry.payload as string;
    const value = decode(this.#serializer, key, text) as V;
    return {
      found: true,
      value: this.#freeze ? deepFreeze(value) : value,
      version: entry.version,
      text,
      source,
    };
  }

  #fromRecord(key: string, read: RecordRead<V>): Loaded<V> {
    if (read === undefined || read === null || typeof read !== 'object' || typeof read.found !== 'boolean') {
      throw new RecordStoreError(
        `the record store returned ${describe(read)} for key ${JSON.stringify(key)}`,
        { key },
      );
    }
    checkVersion(read.version, key, true);
    if (!read.found) return { found: false, value: undefined, version: read.version, source: 'records' };
    if (!this.#freeze) return { found: true, value: read.value, version: read.version, source: 'records' };
    // A private frozen copy: the record store's object is never frozen or shared.
    const text = encode(this.#serializer, key, read.value);
    const value = deepFreeze(decode(this.#serializer, key, text) as V);
    return { found: true, value, version: read.version, text, source: 'records' };
  }

  #prepare(key: string, value: V): Prepared<V> {
    if (value === undefined) {
      throw new InvalidArgumentError(
        `the value of key ${JSON.stringify(key)} is undefined; use delete() to remove a key`,
        {
          key,
        },
      );
    }
    let checked: V = value;
    if (this.#validate !== undefined) {
      try {
        checked = this.#validate(value);
      } catch (cause) {
        throw new ValidationError(
          `the value of key ${JSON.stringify(key)} was refused by the validator: ${(cause as Error)?.message ?? cause}`,
          { key, cause },
        );
      }
      if (checked === undefined) {
        throw new ValidationError(`the validator returned undefined for key ${JSON.stringify(key)}`, { key });
      }
    }
    const text = encode(this.#serializer, key, checked);
    const size = byteLength(text);
    if (size > this.#maxValueBytes) {
      throw new SizeLimitError(
        `the value of key ${JSON.stringify(key)} is ${size} bytes serialized, over the limit of ${this.#maxValueBytes} (maxValueBytes)`,
        size,
        this.#maxValueBytes,
        { key },
      );
    }
    const frozen = this.#freeze ? deepFreeze(decode(this.#serializer, key, text) as V) : checked;
    return { value: checked, text, frozen };
  }

  #checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string')
      throw new InvalidArgumentError(`a key must be a string, got ${describe(key)}`);
    if (key.length === 0) throw new InvalidArgumentError('a key must not be empty');
    if (key.length > this.#maxKeyChars) {
      const size = Buffer.byteLength(key, 'utf8');
      if (size > this.#maxKeyBytes) {
        throw new SizeLimitError(
          `a key of ${size} bytes is over the limit of ${this.#maxKeyBytes} (maxKeyBytes)`,
          size,
          this.#maxKeyBytes,
          { key: key.slice(0, 64) },
        );
      }
    }
  }

  #checkIfVersion(ifVersion: unknown, key: string): number | undefined {
    if (ifVersion === undefined) return undefined;
    if (typeof ifVersion !== 'number' || !Number.isSafeInteger(ifVersion) || ifVersion < 0) {
      throw new InvalidArgumentError(`ifVersion must be a non-negative integer, got ${describe(ifVersion)}`, {
        key,
      });
    }
    return ifVersion;
  }

  #wrapRecordError(error: unknown, key: string, what: 'read' | 'write'): Error {
    if (error instanceof WriteThroughError) return error;
    const cls = this.#classify(error);
    return new RecordStoreError(
      `the record store failed to ${what} key ${JSON.stringify(key)}: ${(error as Error)?.message ?? error}`,
      {
        key,
        cause: error,
        retryable: cls.retryable,
        outcome: cls.outcome,
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Stats, events, lifecycle
  // -------------------------------------------------------------------------------------------

  /** A snapshot of the counters and latency percentiles. */
  /**
   * Applies a write this instance did not make through the cache (an outbox relay, a change-data
   * consumer, a migration script): the protocol's `invalidate(version)` on every tier (entries
   * older than `version` go, the key's floor rises to it, its fill lease is revoked), then the same
   * on the other instances through the bus. Without `version` the key's entries go whatever their
   * version. Rejects with `CacheTierError` when a tier could not be reached; the key is then queued
   * for repair (and read from the database by this instance until the tier answers), and the caller
   * should retry — an outbox relay keeps the row.
   */
  async invalidate(key: string, version?: number): Promise<void> {
    if (this.#closed) throw new CacheClosedError('the cache is closed', { key });
    this.#checkKey(key);
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 0)) {
      throw new InvalidArgumentError(`version must be an integer >= 0, got ${String(version)}`, { key });
    }
    const v = version ?? 0;
    this.#flights.delete(key);
    let failure: unknown;
    let failedTier: Tier | undefined;
    for (let i = this.#tiers.length - 1; i >= 0; i--) {
      const tier = this.#tiers[i]!;
      if (tier === this.#l1 && this.#l1Bypassed) continue;
      try {
        if (tier.sync) {
          if (v === 0) tier.store.invalidateSync!(key);
          else tier.store.invalidateSync!(key, v);
        } else if (v === 0) {
          await tier.store.invalidate(key);
        } else {
          await tier.store.invalidate(key, v);
        }
        tier.succeeded();
      } catch (error) {
        tier.failed();
        this.#repairLater(tier, key, v, 'invalidate', error);
        failure ??= error;
        failedTier ??= tier;
      }
    }
    this.#publish(key, v);
    if (failure !== undefined) {
      throw new CacheTierError(
        `invalidate failed on the ${failedTier!.name} tier; the key is queued for repair`,
        failedTier!.name,
        { key, cause: failure },
      );
    }
  }

  stats(): CacheStats {
    let pending = 0;
    for (const tier of this.#tiers) pending += tier.repairs.size;
    return this.#stats.snapshot(this.name, pending);
  }

  /** Zeroes the counters (for a benchmark or a demo phase). */
  resetStats(): void {
    this.#stats.reset();
  }

  /** Listens to an event. */
  on<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Stops listening. */
  off<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this {
    this.#events.off(event, listener as (...args: unknown[]) => void);
    this.#listening = this.#events.eventNames().length > 0;
    return this;
  }

  /** Whether the bus is connected (always true without a bus). */
  get l1Enabled(): boolean {
    return this.#l1 !== undefined && !this.#l1Bypassed;
  }

  /** Flushes pending batches, stops background work and closes what the cache created. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#batcher?.flush();
    this.#closed = true;
    if (this.#repairTimer !== undefined) clearTimeout(this.#repairTimer);
    this.#unsubscribe?.();
    await Promise.all(this.#ownedStores.map((s) => s.close()));
  }
}

/** Creates a write-through cache. Throws `InvalidArgumentError` for invalid options. */
export function createCache<V>(options: CacheOptions<V>): WriteThroughCache<V> {
  return new WriteThroughCache<V>(options);
}

function toValidator<V>(validate: Validator<V> | undefined): ((value: unknown) => V) | undefined {
  if (validate === undefined) return undefined;
  if (typeof validate === 'function') return validate;
  if (validate !== null && typeof validate === 'object' && typeof validate.parse === 'function') {
    return (value) => validate.parse(value);
  }
  throw new InvalidArgumentError(
    `validate must be a function or an object with parse(), got ${describe(validate)}`,
  );
}

function checkVersion(version: unknown, key: string, allowZero = false): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < (allowZero ? 0 : 1)) {
    throw new RecordStoreError(
      `the record store returned an invalid version ${describe(version)} for key ${JSON.stringify(key)}`,
      {
        key,
      },
    );
  }
}

function checkSignal(signal: AbortSignal | undefined, key?: string): void {
  if (signal?.aborted)
    throw new AbortedError('the call was aborted before it started', { key, cause: signal.reason });
}

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted)
    return Promise.reject(new AbortedError('the call was aborted', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('the call was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function noop(): void {}

function valueOfLoaded<V>(loaded: Loaded<V>): V | undefined {
  return loaded.value;
}
