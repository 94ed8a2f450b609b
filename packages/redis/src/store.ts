/**
 * `redisStore`: the shared L2 cache tier on Redis (standalone or Cluster, through ioredis), running
 * the verified protocol (`shared/model/README.md`) with one Lua script per step, with the same
 * semantics as core's `memoryStore`. Payloads are the engine's serialized strings.
 */

import { randomBytes } from 'node:crypto';
import {
  type BeginWriteItem,
  CacheClosedError,
  type CacheStore,
  type CacheStoreCapabilities,
  CacheTierError,
  type CommitWriteItem,
  InvalidArgumentError,
  type InvalidateItem,
  type LeaseOptions,
  type Lookup,
  SizeLimitError,
  type TierEntry,
  WriteThroughError,
} from '@writethrough/core';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { bounded } from './bounded.js';
import {
  checkKey,
  checkNamespace,
  describe,
  isWellFormed,
  keySlot,
  namespacePattern,
  redisKeys,
  valueKey,
} from './keys.js';
import { SCRIPTS, type Script } from './scripts.js';

/** What `onRestart` is told: the Redis server (or a Cluster master) is not the one seen before. */
export interface RedisRestartEvent {
  /** `run_id` of each master seen before, by address (`default` for a standalone server). */
  readonly previous: ReadonlyMap<string, string>;
  /** `run_id` of each master now. */
  readonly current: ReadonlyMap<string, string>;
}

/** Options of `redisStore`. Exactly one of `client`, `url` or `redis` says where Redis is. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` or `Cluster` client. The caller owns it: `close()` leaves it open. It must not
   * have a `keyPrefix` (use `namespace`).
   */
  readonly client?: Redis | Cluster;
  /** A Redis URL (`redis://…`, `rediss://…`); the store opens and closes its own connection. */
  readonly url?: string;
  /**
   * ioredis options for the store's own connection (alone, or on top of `url`). The store's defaults
   * (`commandTimeout` = `timeoutMs`, `connectTimeout`, `maxRetriesPerRequest: 0`, `autoResendUnfulfilledCommands: false`,
   * `enableOfflineQueue: false`) apply unless set here.
   */
  readonly redis?: RedisOptions;
  /**
   * The prefix of every Redis key of this store, e.g. `users:`. Non-empty, without `{` or `}`.
   * `clear()` removes this namespace only. Default `wt:`.
   */
  readonly namespace?: string;
  /** The longest any call may take, ms; past it the call rejects with `CacheTierError`. Default 1000. */
  readonly timeoutMs?: number;
  /**
   * The least time, ms, a mark lives after `invalidate(version)` or `commitWrite` raised its floor.
   * Keep it at least the lease TTL. Default 10_000 (as memoryStore).
   */
  readonly floorTtlMs?: number;
  /** The largest payload, in UTF-8 bytes; larger ones throw `SizeLimitError`. Default 512 KiB. */
  readonly maxValueBytes?: number;
  /** The longest key, in UTF-8 bytes; longer ones throw `SizeLimitError`. Default 16 KiB. */
  readonly maxKeyBytes?: number;
  /**
   * Read `run_id` (INFO server) each time the connection becomes ready and clear this namespace when
   * it changed (a restart or a failover may have brought back an old or partial data set). Default true.
   */
  readonly detectRestarts?: boolean;
  /** Called after a restart or failover was detected and this namespace was cleared. */
  readonly onRestart?: (event: RedisRestartEvent) => void;
}

/** Counters of one store (for tests and monitoring). */
export interface RedisStoreStats {
  /** Restarts or failovers detected (each cleared the namespace). */
  restarts: number;
  /** Calls that ran past `timeoutMs`. */
  timeouts: number;
  /** Calls refused at once because the connection was not ready. */
  notReady: number;
  /** Scripts found missing on the server (NOSCRIPT) and sent again. */
  scriptReloads: number;
}

const DEFAULT_NAMESPACE = 'wt:';
const DEFAULT_TIMEOUT_MS = 1_000;
const DEFAULT_FLOOR_TTL_MS = 10_000;
const DEFAULT_MAX_VALUE_BYTES = 512 * 1024;
const DEFAULT_MAX_KEY_BYTES = 16 * 1024;
/** TTLs beyond this (about 31,000 years) are stored without expiry. */
const MAX_FINITE_TTL_MS = 1e15;
/** Keys per script call of getMany and of the batched write steps (per hash slot on Cluster). */
const GET_MANY_CHUNK = 256;
/** Keys per SCAN step of clear(). */
const SCAN_COUNT = 1000;

const CAPABILITIES: CacheStoreCapabilities = Object.freeze({ shared: true, serialized: true, sync: false });
const WRITING: Lookup<never> = Object.freeze({ kind: 'writing' });
const WAIT: Lookup<never> = Object.freeze({ kind: 'wait' });

type Client = Redis | Cluster;

/** A call in flight, for the timeout sweeper. */
interface Pending {
  readonly deadline: number;
  done: boolean;
  readonly reject: (error: unknown) => void;
  readonly key: string | undefined;
  readonly step: string;
}
type Listener = Parameters<NodeJS.EventEmitter['on']>[1];

/** Value keys read in one turn of the event loop, with their readers' callbacks (same indexes). */
interface ReadBatch {
  readonly keys: string[];
  readonly onValue: ((raw: string | null) => void)[];
  readonly onError: ((error: unknown) => void)[];
}

/** Creates a Redis cache tier. */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}

/** The Redis cache tier (see `redisStore`). */
export class RedisStore implements CacheStore<string> {
  /** Shared between processes, holds serialized payloads, asynchronous. */
  readonly capabilities: CacheStoreCapabilities = CAPABILITIES;
  /** Counters, updated in place. */
  readonly stats: RedisStoreStats = { restarts: 0, timeouts: 0, notReady: 0, scriptReloads: 0 };
  /** The namespace (prefix of every Redis key of this store). */
  readonly namespace: string;
  /** The ioredis client (the caller's, or the store's own). */
  readonly client: Client;
  readonly #cmd: Redis;
  readonly #owned: boolean;
  readonly #cluster: boolean;
  readonly #timeoutMs: number;
  readonly #floorTtl: string;
  readonly #maxValueBytes: number;
  readonly #maxKeyBytes: number;
  readonly #detectRestarts: boolean;
  readonly #onRestart: ((event: RedisRestartEvent) => void) | undefined;
  /** Lease tokens: a random id of this instance, then a counter; never reused. */
  readonly #instanceId = randomBytes(9).toString('base64url');
  #nextToken = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The connection was ready once: from then on, a connection that is not ready fails calls at once. */
  #everReady = false;
  #waitingReady: Promise<void> | undefined;
  /** Bumped each time the connection closes; a check that saw another epoch must run again. */
  #epoch = 0;
  /** The connection (re)opened and its server was not checked yet. */
  #needsCheck: boolean;
  #check: Promise<void> | undefined;
  #runIds: Map<string, string> | undefined;
  /** Marker keys by master address (Cluster); see `#markerKey`. */
  readonly #markers = new Map<string, string>();
  /** The masters at the last check (Cluster), to notice a failover without a closed connection. */
  #lastMasters = '';
  /** Calls in flight, in the order they started (so also by deadline); see `#bounded`. */
  readonly #pending: Pending[] = [];
  #pendingHead = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  readonly #sweepMs: number;
  readonly #listeners: [target: NodeJS.EventEmitter, event: string, listener: Listener][] = [];
  /** The hit-path reads of this turn of the event loop, sent together after it; see `#readValue`. */
  #reads: ReadBatch | undefined;

  /** Creates a Redis cache tier (see `redisStore`). */
  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError(`redisStore options must be an object, got ${describe(options)}`);
    }
    this.namespace = checkNamespace(options.namespace ?? DEFAULT_NAMESPACE);
    this.#timeoutMs = positiveFinite('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#sweepMs = Math.max(1, Math.min(25, this.#timeoutMs / 10));
    this.#floorTtl = ttlArg('floorTtlMs', options.floorTtlMs ?? DEFAULT_FLOOR_TTL_MS);
    this.#maxValueBytes = positiveInteger('maxValueBytes', options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
    this.#maxKeyBytes = positiveInteger('maxKeyBytes', options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES);
    this.#detectRestarts = options.detectRestarts ?? true;
    if (options.onRestart !== undefined && typeof options.onRestart !== 'function') {
      throw new InvalidArgumentError(`onRestart must be a function, got ${describe(options.onRestart)}`);
    }
    this.#onRestart = options.onRestart;
    const given = [options.client, options.url, options.redis].filter((each) => each !== undefined).length;
    if (options.client !== undefined) {
      if (given > 1)
        throw new InvalidArgumentError('pass either client, or url and/or redis options, not both');
      const client = options.client as Partial<Redis> | null;
      if (client === null || typeof client !== 'object' || typeof client.evalsha !== 'function') {
        throw new InvalidArgumentError(`client must be an ioredis Redis or Cluster, got ${describe(client)}`);
      }
      this.client = options.client;
      this.#owned = false;
    } else {
      if (given === 0) throw new InvalidArgumentError('redisStore needs a client, a url or redis options');
      if (options.url !== undefined && typeof options.url !== 'string') {
        throw new InvalidArgumentError(`url must be a string, got ${describe(options.url)}`);
      }
      const own: RedisOptions = {
        commandTimeout: this.#timeoutMs,
        connectTimeout: Math.max(this.#timeoutMs, 2_000),
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        // A command unanswered when the connection dropped fails; it is not sent to the next server.
        autoResendUnfulfilledCommands: false,
        ...options.redis,
      };
      // ioredis's option types do not allow explicit undefined under exactOptionalPropertyTypes.
      this.client =
        options.url === undefined ? new Redis(own as never) : new Redis(options.url, own as never);
      this.#owned = true;
    }
    this.#cmd = this.client as Redis;
    this.#cluster = (this.client as { isCluster?: boolean }).isCluster === true;
    const keyPrefix = (this.client as { options?: { keyPrefix?: string } }).options?.keyPrefix;
    if (keyPrefix) {
      if (this.#owned) void this.client.quit().catch(() => {});
      throw new InvalidArgumentError(
        `the client has keyPrefix ${JSON.stringify(keyPrefix)}: redisStore needs a client without one (use namespace)`,
      );
    }
    this.#needsCheck = true;
    this.#everReady = this.client.status === 'ready';
    this.#listen(this.client, 'ready', () => this.#onReady());
    for (const event of ['close', 'end', 'reconnecting'])
      this.#listen(this.client, event, () => this.#onDown());
    if (this.#cluster) {
      // A master that restarts or a replica promoted in a failover shows on its own node connection.
      const watch = (node: Redis) => {
        this.#listen(node, 'close', () => this.#onDown());
        this.#listen(node, 'ready', () => this.#onReady());
      };
      for (const node of (this.client as Cluster).nodes('all')) watch(node);
      this.#listen(this.client, '+node', (node: Redis) => {
        watch(node);
        this.#onTopology();
      });
      this.#listen(this.client, '-node', () => this.#onTopology());
      // A replica promoted without any connection closing (a partitioned master) shows as a new
      // set of masters after the slots refresh.
      this.#listen(this.client, 'refresh', () => {
        if (this.#mastersKey() !== this.#lastMasters) this.#onTopology();
      });
    }
    // Without it, an error event on the store's own connection would crash the process.
    if (this.#owned) this.#listen(this.client, 'error', () => {});
    if (this.#everReady) this.#onReady();
  }

  /** The connection is ready and its server checked: calls go to Redis now. */
  get connected(): boolean {
    return !this.#closed && this.client.status === 'ready' && !this.#needsCheck;
  }

  /**
   * Resolves once the connection is ready and its server checked (restart detection done), within
   * `timeoutMs`; rejects with `CacheTierError` otherwise.
   */
  async ready(): Promise<void> {
    await this.#bounded(this.#enter(undefined), undefined, 'ready');
  }

  // -------------------------------------------------------------------------------------------
  // The protocol's steps
  // -------------------------------------------------------------------------------------------

  /**
   * `get`: HIT, WRITING, WAIT or a new lease (see `CacheStore.get`).
   *
   * The hit path is a plain GET of the value key, without Lua: while the value key exists no writer
   * can be in flight (`beginWrite` deletes the value in the same script that adds the writer, and
   * `commitWrite` / `fill` install a value only when the in-flight set is empty), and the `get` step
   * itself answers HIT whenever the value exists, before looking at the mark or the lease. So a GET
   * that finds the value answers exactly what the script would have answered at that instant. Only a
   * miss runs the script, which checks the value again atomically with the mark and the lease.
   */
  get(key: string, options: LeaseOptions): Promise<Lookup<string>> {
    // Not an async function, and one promise of its own: the hit path costs little more than a GET.
    try {
      checkKey(key, this.#maxKeyBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.connected) {
      return this.#bounded(
        this.#enterThen(key, () => this.#cmd.get(valueKey(this.namespace, key))),
        key,
        'get',
      ).then((raw) => (raw === null ? this.#bounded(this.#miss(key, options), key, 'get') : hit(raw, key)));
    }
    // The hit path, folded into the bounding promise (one promise besides ioredis's own).
    const epoch = this.#epoch;
    return new Promise<Lookup<string>>((resolve, reject) => {
      const pending = this.#track(reject, key, 'get');
      this.#readValue(
        valueKey(this.namespace, key),
        (raw) => {
          if (pending.done) return;
          if (epoch !== this.#epoch) {
            pending.done = true;
            reject(this.#lostError(key, 'get'));
            return;
          }
          if (raw === null) {
            this.#miss(key, options).then(
              (lookup) => {
                if (!this.#settle(pending)) return;
                if (epoch === this.#epoch) resolve(lookup);
                else reject(this.#lostError(key, 'get'));
              },
              (error: unknown) => this.#settle(pending) && reject(tierError(error, key, 'get')),
            );
            return;
          }
          pending.done = true;
          try {
            resolve(hit(raw, key));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => this.#settle(pending) && reject(tierError(error, key, 'get')),
      );
    });
  }

  /**
   * Reads a value key for the hit path. The reads asked for in one turn of the event loop go out
   * together after it (`process.nextTick`, which runs once the microtasks of the turn are done): one
   * GET when alone, else one MGET (per hash slot on Cluster). Each read is still one round trip, but
   * sixteen concurrent hits cost one command and one socket write instead of sixteen; the socket
   * writes are most of what a GET costs the client.
   */
  #readValue(
    redisKey: string,
    onValue: (raw: string | null) => void,
    onError: (error: unknown) => void,
  ): void {
    let batch = this.#reads;
    if (batch === undefined) {
      batch = { keys: [], onValue: [], onError: [] };
      this.#reads = batch;
      process.nextTick(this.#flushReads);
    }
    batch.keys.push(redisKey);
    batch.onValue.push(onValue);
    batch.onError.push(onError);
  }

  readonly #flushReads = (): void => {
    const batch = this.#reads;
    this.#reads = undefined;
    if (batch === undefined) return;
    if (batch.keys.length === 1) {
      this.#cmd.get(batch.keys[0]!).then(batch.onValue[0], batch.onError[0]);
      return;
    }
    if (!this.#cluster) {
      this.#mget(batch, null);
      return;
    }
    const bySlot = new Map<number, number[]>();
    for (let i = 0; i < batch.keys.length; i++) {
      const slot = keySlot(batch.keys[i]!);
      const list = bySlot.get(slot);
      if (list === undefined) bySlot.set(slot, [i]);
      else list.push(i);
    }
    for (const indexes of bySlot.values()) this.#mget(batch, indexes);
  };

  /** One MGET of the batch's keys at `indexes` (all of them when null), answering each reader. */
  #mget(batch: ReadBatch, indexes: number[] | null): void {
    const keys = indexes === null ? batch.keys : indexes.map((i) => batch.keys[i]!);
    this.#cmd.mget(keys).then(
      (values) => {
        for (let j = 0; j < keys.length; j++) {
          const i = indexes === null ? j : indexes[j]!;
          batch.onValue[i]!(values[j] ?? null);
        }
      },
      (error: unknown) => {
        for (let j = 0; j < keys.length; j++) batch.onError[indexes === null ? j : indexes[j]!]!(error);
      },
    );
  }

  /** The `get` script, after a GET found no value. */
  #miss(key: string, options: LeaseOptions): Promise<Lookup<string>> {
    const token = this.#token();
    const k = redisKeys(this.namespace, key);
    return this.#evalsha(SCRIPTS.get, [k.value, k.lease, k.mark], [token, leaseArg(options)]).then((answer) =>
      this.#lookup(answer, token, key, options),
    );
  }

  /** Waits for `#enter`, then runs `step`. */
  async #enterThen<T>(key: string | undefined, step: () => Promise<T>): Promise<T> {
    await this.#enter(key);
    return step();
  }

  /** `get` of many keys in one round trip (one per hash slot on Cluster); results in the order of `keys`. */
  async getMany(keys: readonly string[], options: LeaseOptions): Promise<Lookup<string>[]> {
    if (!Array.isArray(keys)) throw new InvalidArgumentError(`keys must be an array, got ${describe(keys)}`);
    for (const key of keys) checkKey(key, this.#maxKeyBytes);
    if (keys.length === 0) return [];
    return this.#bounded(
      this.#enterThen(keys[0], () => this.#getMany(keys, options)),
      keys[0],
      'getMany',
    );
  }

  async #getMany(keys: readonly string[], options: LeaseOptions): Promise<Lookup<string>[]> {
    const lease = leaseArg(options);
    const tokens = keys.map(() => this.#token());
    const chunks = this.#chunks(keys);
    const calls = this.#callsOf(keys, chunks, (i, args) => args.push(tokens[i]!), lease);
    const answers = await this.#runMany(SCRIPTS.getMany, calls);
    const results: Lookup<string>[] = new Array(keys.length);
    for (const [c, chunk] of chunks.entries()) {
      const answer = answers[c];
      if (!Array.isArray(answer) || answer.length !== chunk.length) {
        throw new CacheTierError('redis answered getMany with an unexpected reply', 'l2', { key: keys[0] });
      }
      for (const [j, i] of chunk.entries()) {
        results[i] = this.#lookup(answer[j], tokens[i]!, keys[i]!, options);
      }
    }
    return results;
  }

  /**
   * The script calls of `chunks` (see `#chunks`): each call's KEYS the chunk's key triples, its ARGV
   * each key's `argsOf(i)` in order, then `tail`.
   */
  #callsOf(
    keys: readonly string[],
    chunks: readonly number[][],
    argsOf: (i: number, args: string[]) => void,
    tail: string,
  ): { keys: string[]; args: string[] }[] {
    return chunks.map((chunk) => {
      const redisKeyList: string[] = [];
      const args: string[] = [];
      for (const i of chunk) {
        const k = redisKeys(this.namespace, keys[i]!);
        redisKeyList.push(k.value, k.lease, k.mark);
        argsOf(i, args);
      }
      args.push(tail);
      return { keys: redisKeyList, args };
    });
  }

  /**
   * Splits keys into the chunks of one script call each: at most `GET_MANY_CHUNK` keys, all of one
   * hash slot on Cluster. Answers indexes into `keys`; each chunk keeps the order of `keys`.
   */
  #chunks(keys: readonly string[]): number[][] {
    const chunks: number[][] = [];
    if (this.#cluster) {
      const bySlot = new Map<number, number[]>();
      for (let i = 0; i < keys.length; i++) {
        const slot = keySlot(valueKey(this.namespace, keys[i]!));
        let list = bySlot.get(slot);
        if (list === undefined || list.length === GET_MANY_CHUNK) {
          if (list !== undefined) chunks.push(list);
          list = [];
          bySlot.set(slot, list);
        }
        list.push(i);
      }
      chunks.push(...bySlot.values());
    } else {
      for (let i = 0; i < keys.length; i += GET_MANY_CHUNK) {
        chunks.push(Array.from({ length: Math.min(GET_MANY_CHUNK, keys.length - i) }, (_, j) => i + j));
      }
    }
    return chunks;
  }

  /**
   * Runs a batched step: `script` once per chunk of `keys` (see `#chunks` and `#callsOf`). Bounded and
   * guarded (deadline, reconnection epoch, server check) as one call, like a per-key step: a reply
   * is used only when every chunk answered on the connection the call began on.
   */
  #runBatch(
    script: Script,
    keys: readonly string[],
    argsOf: (i: number, args: string[]) => void,
    tail: string,
  ): Promise<{ chunks: number[][]; answers: unknown[] }> {
    const send = async () => {
      const chunks = this.#chunks(keys);
      return { chunks, answers: await this.#runMany(script, this.#callsOf(keys, chunks, argsOf, tail)) };
    };
    const first = keys[0];
    return this.#bounded(this.connected ? send() : this.#enterThen(first, send), first, script.name);
  }

  /**
   * `beginWrite(key, token, markTtlMs)` for each item (see `CacheStore.beginWriteMany`): one script
   * call per 256 keys (per hash slot on Cluster), the per-key step's Lua function run for each key.
   */
  async beginWriteMany(items: readonly BeginWriteItem[], markTtlMs: number): Promise<void> {
    if (!Array.isArray(items))
      throw new InvalidArgumentError(`items must be an array, got ${describe(items)}`);
    const ttl = ttlArg('markTtlMs', markTtlMs);
    const keys: string[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = checkItem(items[i]);
      checkKey(item.key, this.#maxKeyBytes);
      checkToken(item.token, item.key);
      keys[i] = item.key;
    }
    if (keys.length === 0) return;
    const { chunks, answers } = await this.#runBatch(
      SCRIPTS.beginWriteMany,
      keys,
      (i, args) => args.push(items[i]!.token),
      ttl,
    );
    chunks.forEach((chunk, c) => {
      if (answers[c] !== chunk.length) {
        throw new CacheTierError('redis answered beginWriteMany with an unexpected reply', 'l2', {
          key: keys[chunk[0]!]!,
        });
      }
    });
  }

  /**
   * `commitWrite(key, token, entry, ttlMs)` for each item (see `CacheStore.commitWriteMany`), batched
   * as `beginWriteMany`; answers each item's result in order.
   */
  async commitWriteMany(items: readonly CommitWriteItem<string>[]): Promise<boolean[]> {
    if (!Array.isArray(items))
      throw new InvalidArgumentError(`items must be an array, got ${describe(items)}`);
    const keys: string[] = new Array(items.length);
    const encoded: string[][] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = checkItem(items[i]);
      const key = item.key;
      checkKey(key, this.#maxKeyBytes);
      checkToken(item.token, key);
      const ttl = ttlArg('ttlMs', item.ttlMs, key);
      const entry = this.#encode(item.entry, key);
      keys[i] = key;
      encoded[i] = [item.token, entry, String(item.entry.version), ttl];
    }
    if (keys.length === 0) return [];
    const { chunks, answers } = await this.#runBatch(
      SCRIPTS.commitWriteMany,
      keys,
      (i, args) => args.push(...encoded[i]!),
      this.#floorTtl,
    );
    const results: boolean[] = new Array(keys.length);
    for (const [c, chunk] of chunks.entries()) {
      const answer = answers[c];
      if (!Array.isArray(answer) || answer.length !== chunk.length) {
        throw new CacheTierError('redis answered commitWriteMany with an unexpected reply', 'l2', {
          key: keys[chunk[0]!]!,
        });
      }
      for (const [j, i] of chunk.entries()) results[i] = answer[j] === 1;
    }
    return results;
  }

  /**
   * `invalidate(key, version)` for each item (see `CacheStore.invalidateMany`), batched as
   * `beginWriteMany`; an item without a version is a DEL of its value and lease, as `invalidate(key)`.
   */
  async invalidateMany(items: readonly InvalidateItem[]): Promise<void> {
    if (!Array.isArray(items))
      throw new InvalidArgumentError(`items must be an array, got ${describe(items)}`);
    const keys: string[] = new Array(items.length);
    const versions: string[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = checkItem(items[i]);
      const { key, version } = item;
      checkKey(key, this.#maxKeyBytes);
      if (
        version !== undefined &&
        (typeof version !== 'number' || !Number.isFinite(version) || version < 0)
      ) {
        throw new InvalidArgumentError(`version must be a finite number >= 0, got ${describe(version)}`, {
          key,
        });
      }
      keys[i] = key;
      versions[i] = version === undefined ? '-' : String(version);
    }
    if (keys.length === 0) return;
    const { chunks, answers } = await this.#runBatch(
      SCRIPTS.invalidateMany,
      keys,
      (i, args) => args.push(versions[i]!),
      this.#floorTtl,
    );
    chunks.forEach((chunk, c) => {
      if (answers[c] !== chunk.length) {
        throw new CacheTierError('redis answered invalidateMany with an unexpected reply', 'l2', {
          key: keys[chunk[0]!]!,
        });
      }
    });
  }

  /** `fill(token, entry)` (see `CacheStore.fill`). */
  async fill(key: string, token: string, entry: TierEntry<string>, ttlMs: number): Promise<boolean> {
    checkKey(key, this.#maxKeyBytes);
    checkToken(token, key);
    const ttl = ttlArg('ttlMs', ttlMs, key);
    const encoded = this.#encode(entry, key);
    const k = redisKeys(this.namespace, key);
    const args = [token, encoded, String(entry.version), ttl, this.#floorTtl];
    const answer = await this.#run(SCRIPTS.fill, [k.value, k.lease, k.mark], args, key);
    return answer === 1;
  }

  /** `beginWrite(token)` (see `CacheStore.beginWrite`). */
  async beginWrite(key: string, token: string, markTtlMs: number): Promise<void> {
    checkKey(key, this.#maxKeyBytes);
    checkToken(token, key);
    const ttl = ttlArg('markTtlMs', markTtlMs, key);
    const k = redisKeys(this.namespace, key);
    await this.#run(SCRIPTS.beginWrite, [k.value, k.lease, k.mark], [token, ttl], key);
  }

  /** `commitWrite(token, entry)` (see `CacheStore.commitWrite`). */
  async commitWrite(key: string, token: string, entry: TierEntry<string>, ttlMs: number): Promise<boolean> {
    checkKey(key, this.#maxKeyBytes);
    checkToken(token, key);
    const ttl = ttlArg('ttlMs', ttlMs, key);
    const encoded = this.#encode(entry, key);
    const k = redisKeys(this.namespace, key);
    const args = [token, encoded, String(entry.version), ttl, this.#floorTtl];
    const answer = await this.#run(SCRIPTS.commitWrite, [k.value, k.lease, k.mark], args, key);
    return answer === 1;
  }

  /**
   * `abortWrite(token)`: one HDEL of the writer's field in the mark, atomic by itself (no script).
   * The floor field keeps the mark (and its expiry) alive, as memoryStore keeps an empty mark.
   */
  async abortWrite(key: string, token: string): Promise<void> {
    checkKey(key, this.#maxKeyBytes);
    checkToken(token, key);
    const mark = redisKeys(this.namespace, key).mark;
    await this.#bounded(
      this.#enterThen(key, () => this.#cmd.hdel(mark, `w${token}`)),
      key,
      'abortWrite',
    );
  }

  /**
   * `invalidate(version)` (see `CacheStore.invalidate`). Without a version it is one DEL of the value
   * and the lease (no script): it also runs when Redis is out of memory under `noeviction`.
   */
  async invalidate(key: string, version?: number): Promise<void> {
    checkKey(key, this.#maxKeyBytes);
    if (version !== undefined && (typeof version !== 'number' || !Number.isFinite(version) || version < 0)) {
      throw new InvalidArgumentError(`version must be a finite number >= 0, got ${describe(version)}`, {
        key,
      });
    }
    const k = redisKeys(this.namespace, key);
    if (version === undefined) {
      await this.#bounded(
        this.#enterThen(key, () => this.#cmd.del(k.value, k.lease)),
        key,
        'invalidate',
      );
      return;
    }
    await this.#run(SCRIPTS.invalidate, [k.value, k.lease, k.mark], [String(version), this.#floorTtl], key);
  }

  /**
   * Removes every entry, lease and mark of this namespace (SCAN MATCH + UNLINK, on every master of a
   * Cluster). Each round trip is bounded by `timeoutMs`; the whole clear is not.
   */
  async clear(): Promise<void> {
    await this.#bounded(this.#enter(undefined), undefined, 'clear');
    await this.#clearNamespace();
  }

  /**
   * Closes the store: every later call rejects with `CacheClosedError`. Quits the connection only when
   * the store opened it. Closing twice does nothing.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    for (const [target, event, listener] of this.#listeners) target.removeListener(event, listener);
    this.#listeners.length = 0;
    this.#closing = this.#owned ? this.#quit() : Promise.resolve();
    return this.#closing;
  }

  // -------------------------------------------------------------------------------------------
  // Connection state, restart detection
  // -------------------------------------------------------------------------------------------

  /** Quits the store's own connection and resolves once it has ended (disconnects if QUIT gets no answer). */
  async #quit(): Promise<void> {
    const client = this.client;
    if (client.status === 'end') return;
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    try {
      if (client.status === 'ready') await bounded(client.quit(), this.#timeoutMs, noAnswer(this.#timeoutMs));
      else client.disconnect();
    } catch {
      client.disconnect();
    }
    await bounded(ended, this.#timeoutMs, noAnswer(this.#timeoutMs)).catch(() => {});
  }

  #listen(target: NodeJS.EventEmitter, event: string, listener: Listener): void {
    target.on(event, listener);
    this.#listeners.push([target, event, listener]);
  }

  #onDown(): void {
    this.#epoch++;
    this.#needsCheck = true;
  }

  /** The masters changed (Cluster): calls in flight are not trusted, and the servers are checked again. */
  #onTopology(): void {
    this.#onDown();
    if (this.client.status === 'ready' && !this.#closed) this.#startCheck().catch(() => {});
  }

  /** The set of master addresses, as one string (Cluster). */
  #mastersKey(): string {
    return this.#masters()
      .map(([address]) => address)
      .sort()
      .join(',');
  }

  #onReady(): void {
    this.#everReady = true;
    // Check the server at once, so a restart clears the namespace even before the next call.
    if (this.#needsCheck && !this.#closed) this.#startCheck().catch(() => {});
  }

  /**
   * Waits until calls may go to Redis: refuses at once when the store is closed or the connection is
   * down (after it was ready once); waits, within `timeoutMs`, for the first connection and for the
   * server check after each (re)connection.
   */
  async #enter(key: string | undefined): Promise<void> {
    if (this.#closed) throw closedError(key);
    if (this.client.status !== 'ready') {
      const status = this.client.status;
      if (this.#everReady || (status !== 'connecting' && status !== 'connect')) {
        this.stats.notReady++;
        throw new CacheTierError(
          `redis is not ready (connection status "${status}"): the call was refused without waiting`,
          'l2',
          ctx(key),
        );
      }
      await this.#firstReady();
    }
    // A check that began before another reconnection leaves #needsCheck set: check again.
    while (this.#needsCheck) {
      if (this.client.status !== 'ready') {
        this.stats.notReady++;
        throw new CacheTierError('redis reconnected while its server was being checked', 'l2', ctx(key));
      }
      await this.#startCheck();
      if (this.#closed) throw closedError(key);
    }
    if (this.#closed) throw closedError(key);
  }

  /**
   * Resolves when the client emits `ready` (the first connection); rejects when it ends first. One
   * promise (and one pair of listeners) for every call waiting meanwhile.
   */
  #firstReady(): Promise<void> {
    this.#waitingReady ??= new Promise<void>((resolve, reject) => {
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(new Error('the connection ended'));
      };
      const cleanup = () => {
        this.client.removeListener('ready', onReady);
        this.client.removeListener('end', onEnd);
      };
      this.client.once('ready', onReady);
      this.client.once('end', onEnd);
    }).finally(() => {
      this.#waitingReady = undefined;
    });
    return this.#waitingReady;
  }

  #startCheck(): Promise<void> {
    if (this.#check === undefined) {
      const epoch = this.#epoch;
      this.#check = this.#checkServer().then(
        () => {
          this.#check = undefined;
          if (epoch === this.#epoch) this.#needsCheck = false;
          // Out of date (the connection flapped meanwhile): check the server now connected.
          else if (this.client.status === 'ready' && !this.#closed) this.#startCheck().catch(() => {});
        },
        (error) => {
          this.#check = undefined;
          throw error;
        },
      );
    }
    return this.#check;
  }

  /**
   * Reads each master's `run_id`, loads the scripts, and clears this namespace when a master is not
   * the one seen before (restarted, or a replica promoted by a failover): it may have come back empty
   * or from an old snapshot, without the invalidations and marks written since.
   */
  async #checkServer(): Promise<void> {
    const nodes = this.#masters();
    const current = new Map<string, string>();
    /** What each master's marker key held (the run_id of the server that last checked it). */
    const marked = new Map<string, string | null>();
    await Promise.all(
      nodes.map(async ([address, node]) => {
        const pipeline = node.pipeline();
        pipeline.info('server');
        for (const script of Object.values(SCRIPTS)) pipeline.script('LOAD', script.lua);
        if (this.#detectRestarts) pipeline.get(this.#markerKey(address));
        const replies = (await bounded(pipeline.exec(), this.#timeoutMs, noAnswer(this.#timeoutMs))) ?? [];
        const [error, info] = replies[0] ?? [new Error('no reply to INFO')];
        if (error) throw error;
        const runId = /^run_id:(\S+)/m.exec(String(info))?.[1];
        if (runId === undefined) throw new Error('INFO server has no run_id');
        current.set(address, runId);
        if (this.#detectRestarts) {
          const [markError, mark] = replies[replies.length - 1] ?? [new Error('no reply to GET')];
          if (markError) throw markError;
          marked.set(address, (mark as string | null) ?? null);
        }
      }),
    );
    this.#lastMasters = [...current.keys()].sort().join(',');
    if (!this.#detectRestarts) return;
    const previous = this.#runIds;
    // Seen by this store: a master's run_id changed since its last check.
    let restarted = false;
    if (previous !== undefined) {
      for (const [address, runId] of current) if (previous.get(address) !== runId) restarted = true;
    }
    // Seen in the data: the marker holds another server's run_id — this server was restored from a
    // snapshot or promoted, also when no store was connected to see it go.
    let needsClear = false;
    for (const [address, runId] of current) {
      const mark = marked.get(address) ?? null;
      if (mark !== runId) needsClear = true;
      if (mark !== null && mark !== runId) restarted = true;
    }
    // The marker is written only after a clear: when it holds this server's run_id, some store
    // already cleared the namespace since this server started. No marker at all (a new server, a
    // flush, an evicted marker): clearing is safe, and cheap on an empty server.
    if (needsClear) await this.#clearNamespace();
    // Marked only after the clear: a store that finds its run_id there knows the namespace is clean.
    await Promise.all(
      nodes.map(async ([address, node]) => {
        const runId = current.get(address)!;
        if (marked.get(address) !== runId) {
          await bounded(
            node.set(this.#markerKey(address), runId),
            this.#timeoutMs,
            noAnswer(this.#timeoutMs),
          );
        }
      }),
    );
    this.#runIds = current;
    if (restarted) {
      this.stats.restarts++;
      try {
        this.#onRestart?.({ previous: previous ?? new Map(), current });
      } catch {
        // A listener's error is its own.
      }
    }
  }

  /**
   * The key on master `address` that holds the run_id of the server that last checked this namespace:
   * `<namespace>run-id` standalone; on a Cluster `<namespace>run-id:{n}`, with `n` the first integer
   * whose slot that master serves. Outside the `<namespace>{` pattern, so `clear()` leaves it.
   */
  #markerKey(address: string): string {
    const base = `${this.namespace}run-id`;
    if (!this.#cluster) return base;
    const cached = this.#markers.get(address);
    if (cached !== undefined && this.#slotOwner(keySlot(cached)) === address) return cached;
    for (let n = 0; n < 100_000; n++) {
      const key = `${base}:{${n}}`;
      if (this.#slotOwner(keySlot(key)) === address) {
        this.#markers.set(address, key);
        return key;
      }
    }
    throw new CacheTierError(`no slot of the cluster is served by ${address}`, 'l2', {});
  }

  /** The address of the master serving `slot` (Cluster), from ioredis's slot table. */
  #slotOwner(slot: number): string | undefined {
    return (this.client as unknown as { slots: (string[] | undefined)[] }).slots[slot]?.[0];
  }

  /** The masters as [address, connection]: the client itself when standalone. */
  #masters(): [string, Redis][] {
    if (!this.#cluster) return [['default', this.client as Redis]];
    return (this.client as Cluster)
      .nodes('master')
      .map((node) => [`${node.options.host ?? ''}:${node.options.port ?? ''}`, node]);
  }

  async #clearNamespace(): Promise<void> {
    const pattern = namespacePattern(this.namespace);
    await Promise.all(
      this.#masters().map(async ([, node]) => {
        let cursor = '0';
        do {
          const [next, found] = await this.#bounded(
            node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
            undefined,
            'clear',
          );
          cursor = next;
          if (found.length === 0) continue;
          if (this.#cluster) {
            // Keys of many slots: one UNLINK per key (a node refuses a cross-slot UNLINK).
            const pipeline = node.pipeline();
            for (const key of found) pipeline.unlink(key);
            const replies = await this.#bounded(pipeline.exec(), undefined, 'clear');
            for (const [error] of replies ?? []) if (error) throw error;
          } else {
            await this.#bounded(node.unlink(...found), undefined, 'clear');
          }
        } while (cursor !== '0');
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Scripts, timeouts, encoding
  // -------------------------------------------------------------------------------------------

  /** Runs one script by SHA (EVALSHA), sending it again (EVAL) if the server lost it (NOSCRIPT). */
  #run(script: Script, keys: string[], args: string[], key: string): Promise<unknown> {
    const call = this.connected
      ? this.#evalsha(script, keys, args)
      : this.#enterThen(key, () => this.#evalsha(script, keys, args));
    return this.#bounded(call, key, script.name);
  }

  async #evalsha(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#cmd.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      this.stats.scriptReloads++;
      // NOSCRIPT means the script did not run: sending it again cannot apply the step twice.
      return await this.#cmd.eval(script.lua, keys.length, ...keys, ...args);
    }
  }

  /** Runs several calls of one script: one pipeline when standalone, concurrent calls routed by slot on Cluster. */
  async #runMany(script: Script, calls: { keys: string[]; args: string[] }[]): Promise<unknown[]> {
    if (calls.length === 1 || this.#cluster) {
      return Promise.all(calls.map((call) => this.#evalsha(script, call.keys, call.args)));
    }
    const pipeline = this.#cmd.pipeline();
    for (const call of calls) pipeline.evalsha(script.sha, call.keys.length, ...call.keys, ...call.args);
    const replies = (await pipeline.exec()) ?? [];
    const results: unknown[] = new Array(calls.length);
    const missing: number[] = [];
    for (let i = 0; i < calls.length; i++) {
      const [error, result] = replies[i] ?? [new Error('no reply')];
      if (!error) results[i] = result;
      else if (isNoScript(error)) missing.push(i);
      else throw error;
    }
    if (missing.length > 0) {
      this.stats.scriptReloads++;
      const again = await Promise.all(
        missing.map((i) =>
          this.#cmd.eval(script.lua, calls[i]!.keys.length, ...calls[i]!.keys, ...calls[i]!.args),
        ),
      );
      for (const [j, i] of missing.entries()) results[i] = again[j];
    }
    return results;
  }

  /**
   * Bounds a call by `timeoutMs` with a deadline of the store's own (a caller's client may queue
   * commands offline and have no command timeout), and turns its errors into `CacheTierError`.
   *
   * No timer per call: every call gets the same timeout, so deadlines come in the order calls start,
   * and one sweeper (every `timeoutMs / 10`, at most 25 ms, while calls are pending) rejects the
   * expired ones from the head of a FIFO queue. A call thus fails at most one sweep period late.
   */
  #bounded<T>(promise: Promise<T>, key: string | undefined, step: string): Promise<T> {
    const epoch = this.#epoch;
    return new Promise<T>((resolve, reject) => {
      const pending = this.#track(reject, key, step);
      promise.then(
        (value) => {
          if (!this.#settle(pending)) return;
          if (epoch === this.#epoch) resolve(value);
          else reject(this.#lostError(key, step));
        },
        (error: unknown) => this.#settle(pending) && reject(tierError(error, key, step)),
      );
    });
  }

  /**
   * A reply that arrived after the connection closed once since the call began. ioredis re-sends
   * unanswered commands after a reconnect (and a caller's client may queue them offline): such a
   * reply may come from a restarted server before this store checked it, so it is not used.
   */
  #lostError(key: string | undefined, step: string): CacheTierError {
    return new CacheTierError(
      `the connection to redis was lost while ${step} was in flight; its reply is not used`,
      'l2',
      ctx(key),
    );
  }

  /** Puts a call in the timeout queue; the sweeper rejects it with `reject` past its deadline. */
  #track(reject: (error: unknown) => void, key: string | undefined, step: string): Pending {
    const pending: Pending = {
      deadline: performance.now() + this.#timeoutMs,
      done: false,
      reject,
      key,
      step,
    };
    this.#pending.push(pending);
    if (this.#sweeper === undefined) this.#sweeper = setInterval(() => this.#sweep(), this.#sweepMs);
    return pending;
  }

  /** Marks a call settled; false when the sweeper settled it first (it timed out). */
  #settle(pending: Pending): boolean {
    if (pending.done) return false;
    pending.done = true;
    return true;
  }

  /** Rejects the calls past their deadline; stops when nothing is pending. */
  #sweep(): void {
    const queue = this.#pending;
    const now = performance.now();
    let head = this.#pendingHead;
    while (head < queue.length) {
      const pending = queue[head]!;
      if (!pending.done) {
        if (pending.deadline > now) break;
        pending.done = true;
        this.stats.timeouts++;
        pending.reject(
          new CacheTierError(
            `redis did not answer ${pending.step} within ${this.#timeoutMs} ms (timeoutMs)`,
            'l2',
            ctx(pending.key),
          ),
        );
      }
      head++;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    } else if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.#pendingHead = head;
  }

  #token(): string {
    return `${this.#instanceId}.${(++this.#nextToken).toString(36)}`;
  }

  #lookup(answer: unknown, token: string, key: string, options: LeaseOptions): Lookup<string> {
    switch (answer) {
      case 'L':
        return { kind: 'lease', token };
      case 'T':
        return WAIT;
      case 'W':
        return WRITING;
      case 'X':
        throw leaseError(options, key);
      default:
        if (typeof answer === 'string') return hit(answer, key);
        throw new CacheTierError(`redis answered get with an unexpected reply ${describe(answer)}`, 'l2', {
          key,
        });
    }
  }

  /** `v<version>:<payload>` or `a<version>`; checks the entry and the payload size first. */
  #encode(entry: TierEntry<string>, key: string): string {
    if (entry === null || typeof entry !== 'object') {
      throw new InvalidArgumentError(`entry must be an object, got ${describe(entry)}`, { key });
    }
    const version = entry.version;
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new InvalidArgumentError(`entry.version must be an integer >= 0, got ${describe(version)}`, {
        key,
      });
    }
    if (entry.kind === 'absent') return `a${version}`;
    if (entry.kind !== 'value') {
      throw new InvalidArgumentError(
        `entry.kind must be "value" or "absent", got ${describe((entry as { kind: unknown }).kind)}`,
        {
          key,
        },
      );
    }
    const payload = entry.payload;
    if (typeof payload !== 'string') {
      throw new InvalidArgumentError(
        `redisStore holds serialized payloads: entry.payload must be a string, got ${describe(payload)}`,
        { key },
      );
    }
    // A UTF-16 code unit is at most 3 UTF-8 bytes: the byte count is needed only for long payloads.
    if (payload.length * 3 > this.#maxValueBytes) {
      const size = Buffer.byteLength(payload, 'utf8');
      if (size > this.#maxValueBytes) {
        throw new SizeLimitError(
          `the payload of key ${JSON.stringify(key.length > 64 ? `${key.slice(0, 61)}...` : key)} is ${size} bytes, over the limit of ${this.#maxValueBytes} (maxValueBytes)`,
          size,
          this.#maxValueBytes,
          { key },
        );
      }
    }
    if (!isWellFormed(payload)) {
      throw new InvalidArgumentError('entry.payload must be well-formed UTF-16 (no lone surrogates)', {
        key,
      });
    }
    return `v${version}:${payload}`;
  }
}

function hit(raw: string, key: string): Lookup<string> {
  return { kind: 'hit', entry: decode(raw, key) };
}

function decode(raw: string, key: string): TierEntry<string> {
  const kind = raw.charCodeAt(0);
  if (kind === 118 /* v */) {
    const colon = raw.indexOf(':', 1);
    const version = Number(raw.slice(1, colon));
    if (colon > 1 && Number.isSafeInteger(version))
      return { kind: 'value', payload: raw.slice(colon + 1), version };
  } else if (kind === 97 /* a */) {
    const version = Number(raw.slice(1));
    if (raw.length > 1 && Number.isSafeInteger(version)) return { kind: 'absent', version };
  }
  throw new CacheTierError(`the Redis value of key ${JSON.stringify(key)} is not a redisStore entry`, 'l2', {
    key,
  });
}

/** A Redis or connection error as `CacheTierError`; the store's own errors as they are. */
function tierError(error: unknown, key: string | undefined, step: string): unknown {
  if (error instanceof WriteThroughError) return error;
  return new CacheTierError(`redis failed ${step}: ${(error as Error)?.message ?? String(error)}`, 'l2', {
    ...ctx(key),
    cause: error,
  });
}

function isNoScript(error: unknown): boolean {
  return typeof (error as Error)?.message === 'string' && (error as Error).message.startsWith('NOSCRIPT');
}

function ctx(key: string | undefined): { key?: string } {
  return key === undefined ? {} : { key };
}

function closedError(key: string | undefined): CacheClosedError {
  return new CacheClosedError('the redis store is closed', ctx(key));
}

function checkItem<T extends { readonly key: string }>(item: T | undefined): T {
  if (item === null || typeof item !== 'object') {
    throw new InvalidArgumentError(`each item must be an object with a key, got ${describe(item)}`);
  }
  return item;
}

function checkToken(token: unknown, key: string): asserts token is string {
  if (typeof token !== 'string') {
    throw new InvalidArgumentError(`a token must be a string, got ${describe(token)}`, { key });
  }
}

/** A lease TTL as the get script takes it: whole ms, `0` for never, `-1` when invalid (see GET). */
function leaseArg(options: LeaseOptions): string {
  const ttl = (options as LeaseOptions | undefined)?.leaseTtlMs;
  if (typeof ttl !== 'number' || !(ttl > 0)) return '-1';
  return ttl > MAX_FINITE_TTL_MS ? '0' : String(Math.ceil(ttl));
}

function leaseError(options: LeaseOptions, key: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `leaseTtlMs must be a number of ms > 0 (Infinity = never expires), got ${describe((options as LeaseOptions | undefined)?.leaseTtlMs)}`,
    { key },
  );
}

/** Checks a duration in ms (> 0, `Infinity` = never expires); answers it as a script argument. */
function ttlArg(name: string, value: number, key?: string): string {
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidArgumentError(
      `${name} must be a number of ms > 0 (Infinity = never expires), got ${describe(value)}`,
      ctx(key),
    );
  }
  return value > MAX_FINITE_TTL_MS ? '0' : String(Math.ceil(value));
}

function positiveFinite(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) {
    throw new InvalidArgumentError(`${name} must be a finite number of ms > 0, got ${describe(value)}`);
  }
  return value;
}

/** The error of a call that got no answer within `ms`. */
function noAnswer(ms: number): () => Error {
  return () => new Error(`no answer within ${ms} ms`);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be an integer >= 1, got ${describe(value)}`);
  }
  return value;
}
