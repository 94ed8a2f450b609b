/**
 * `memoryRecords`: a `RecordStore` kept in memory, the reference record store of the tests, the
 * demos and the benchmarks. It assigns versions from one global counter (as Postgres does with a
 * sequence), keeps tombstones, and injects faults (latency, failures, hangs, commits reported as
 * unknown) from a seeded generator, so a failing run replays the same way.
 */
import { type RandomGenerator, unsafeSkipN, xoroshiro128plus } from 'pure-rand';
import type {
  ErrorClass,
  RecordCallOptions,
  RecordRead,
  RecordStore,
  RecordWriteOptions,
} from './contracts.js';
import {
  AbortedError,
  CacheClosedError,
  InvalidArgumentError,
  RecordStoreError,
  SerializationError,
  VersionConflictError,
} from './errors.js';

/** A record-store method that faults can target. */
export type RecordOperation = 'get' | 'getMany' | 'set' | 'setMany' | 'delete';

/** Which operations a fault applies to: all, the reads, the writes, or a list of operations. */
export type OperationFilter = 'all' | 'reads' | 'writes' | readonly RecordOperation[];

/**
 * What an injected failure looks like. `transient`: retryable, nothing committed. `permanent`: not
 * retryable, nothing committed. `unknown`: retryable with outcome `unknown` (reads: `failed`, as the
 * contract says reads always are), though nothing committed; `failAfterCommitNext` is the case where
 * the write did commit.
 */
export type FailureKind = 'transient' | 'permanent' | 'unknown';

/** A call's delay in ms: fixed, or drawn uniformly from `[min, max]` by the seeded generator. */
export type Latency = number | { readonly min: number; readonly max: number };

/** The standing faults of a `MemoryRecords`; the one-shot faults are `failNext`, `hangNext` and `failAfterCommitNext`. */
export interface FaultSettings {
  /** Delay of every call in `latencyOps`, on real timers; 0 answers on the microtask queue. Default 0. */
  readonly latencyMs: Latency;
  /** The operations `latencyMs` applies to. Default `all`. */
  readonly latencyOps: OperationFilter;
  /** Probability (0..1) that a call in `failureOps` fails with a transient error before any effect. Default 0. */
  readonly failureRate: number;
  /** The operations `failureRate` applies to. Default `all`. */
  readonly failureOps: OperationFilter;
}

/** Options of `memoryRecords`. */
export interface MemoryRecordsOptions<V = unknown> extends Partial<FaultSettings> {
  /** Seed of the generator behind random latency and random failures (a 32-bit integer). Default 1. */
  readonly seed?: number;
  /**
   * A constraint for tests: returns an error to refuse a row (in `set` or `setMany`). A refused row
   * fails the whole statement with a permanent `RecordStoreError` (cause: the returned error) and
   * nothing is written. Must not mutate the value.
   */
  readonly rejectValue?: ((key: string, value: V) => Error | undefined) | undefined;
}

/** Counters of a `MemoryRecords`: calls that reached the store, per operation, and the faults injected. */
export interface MemoryRecordsCalls {
  /** `get` calls. */
  readonly get: number;
  /** `getMany` calls. */
  readonly getMany: number;
  /** `set` calls. */
  readonly set: number;
  /** `setMany` calls. */
  readonly setMany: number;
  /** `delete` calls. */
  readonly delete: number;
  /** Failures injected: random, `failNext` and `failAfterCommitNext`. */
  readonly failures: number;
  /** Calls made to hang by `hangNext`. */
  readonly hangs: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// A tombstone is a `found: false` row at the delete's version.
type StoredRow<V> = RecordRead<V>;

interface QueuedFault {
  readonly type: 'fail' | 'hang' | 'failAfterCommit';
  readonly kind: FailureKind;
  readonly ops: ReadonlySet<RecordOperation>;
  remaining: number;
}

type DrawnFault = Pick<QueuedFault, 'type' | 'kind'>;

const READS: readonly RecordOperation[] = ['get', 'getMany'];
const WRITES: readonly RecordOperation[] = ['set', 'setMany', 'delete'];
const ALL: readonly RecordOperation[] = [...READS, ...WRITES];

/** Creates an in-memory record store with seeded fault injection. */
export function memoryRecords<V>(options: MemoryRecordsOptions<V> = {}): MemoryRecords<V> {
  return new MemoryRecords<V>(options);
}

/** The in-memory `RecordStore`; see `memoryRecords`. */
export class MemoryRecords<V> implements RecordStore<V> {
  readonly #rows = new Map<string, StoredRow<V>>();
  readonly #queue: QueuedFault[] = [];
  readonly #hung = new Set<(error: Error) => void>();
  readonly #calls: Mutable<MemoryRecordsCalls> = emptyCalls();
  readonly #rng: RandomGenerator;
  #counter = 0;
  #closed = false;
  #faults: FaultSettings = { latencyMs: 0, latencyOps: 'all', failureRate: 0, failureOps: 'all' };
  #latencyOps: ReadonlySet<RecordOperation> = new Set(ALL);
  #failureOps: ReadonlySet<RecordOperation> = new Set(ALL);
  #rejectValue: ((key: string, value: V) => Error | undefined) | undefined;

  constructor(options: MemoryRecordsOptions<V> = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`seed must be an integer, got ${seed}`);
    this.#rng = xoroshiro128plus(seed);
    // xoroshiro's first outputs from small seeds are close to each other (seed 1 and 2 both start
    // near 1.0): discarding a few decorrelates them.
    unsafeSkipN(this.#rng, 16);
    this.setFaults({
      latencyMs: options.latencyMs,
      latencyOps: options.latencyOps,
      failureRate: options.failureRate,
      failureOps: options.failureOps,
    });
    this.#rejectValue = options.rejectValue;
  }

  /** Calls that reached the store (after the closed and aborted checks), per operation, and faults injected. */
  get calls(): MemoryRecordsCalls {
    return { ...this.#calls };
  }

  /** The standing faults (latency and random failures). */
  get faults(): FaultSettings {
    return this.#faults;
  }

  /** The last version the store assigned (0 before the first commit). */
  get lastVersion(): number {
    return this.#counter;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Changes some standing faults; the others keep their values. */
  setFaults(patch: { readonly [K in keyof FaultSettings]?: FaultSettings[K] | undefined }): void {
    const next: FaultSettings = { ...this.#faults, ...stripUndefined<FaultSettings>(patch) };
    validateLatency(next.latencyMs);
    if (typeof next.failureRate !== 'number' || !(next.failureRate >= 0 && next.failureRate <= 1)) {
      throw new InvalidArgumentError(`failureRate must be a number from 0 to 1, got ${next.failureRate}`);
    }
    const latencyOps = resolveFilter(next.latencyOps, 'latencyOps');
    const failureOps = resolveFilter(next.failureOps, 'failureOps');
    this.#faults = next;
    this.#latencyOps = latencyOps;
    this.#failureOps = failureOps;
  }

  /** Replaces the `rejectValue` constraint (undefined removes it). */
  setRejectValue(rule: ((key: string, value: V) => Error | undefined) | undefined): void {
    this.#rejectValue = rule;
  }

  /**
   * The next `n` calls in `ops` fail before any effect with a `RecordStoreError` of `kind`.
   * One-shot faults are used in the order they were queued, one per call.
   */
  failNext(n: number, kind: FailureKind = 'transient', ops: OperationFilter = 'all'): void {
    if (kind !== 'transient' && kind !== 'permanent' && kind !== 'unknown') {
      throw new InvalidArgumentError(`kind must be transient, permanent or unknown, got ${String(kind)}`);
    }
    this.#enqueue('fail', kind, n, resolveFilter(ops, 'ops'));
  }

  /** The next `n` calls in `ops` never answer; their `AbortSignal` (or `close()`) rejects them. */
  hangNext(n: number, ops: OperationFilter = 'all'): void {
    this.#enqueue('hang', 'transient', n, resolveFilter(ops, 'ops'));
  }

  /**
   * The next `n` writes in `ops` commit, then throw a retryable `RecordStoreError` with outcome
   * `unknown`: a connection lost while the commit's answer was on its way.
   */
  failAfterCommitNext(n: number, ops: OperationFilter = 'writes'): void {
    const writes = [...resolveFilter(ops, 'ops')].filter((op) => WRITES.includes(op));
    if (writes.length === 0)
      throw new InvalidArgumentError('failAfterCommitNext needs at least one write operation');
    this.#enqueue('failAfterCommit', 'unknown', n, new Set(writes));
  }

  /** Removes every fault: standing ones back to none, queued ones dropped. Hung calls stay hung. */
  clearFaults(): void {
    this.#queue.length = 0;
    this.setFaults({ latencyMs: 0, latencyOps: 'all', failureRate: 0, failureOps: 'all' });
  }

  /** Sets every counter of `calls` back to 0. */
  resetCalls(): void {
    Object.assign(this.#calls, emptyCalls());
  }

  /** Every key the store knows (tombstones included) with what `get` would answer, without faults or counters. */
  snapshot(): Map<string, RecordRead<V>> {
    const result = new Map<string, RecordRead<V>>();
    for (const [key, row] of this.#rows) result.set(key, readRow(row));
    return result;
  }

  /** What `get` would answer, without faults, counters or the closed check. */
  peek(key: string): RecordRead<V> {
    return readRow(this.#rows.get(key));
  }

  /** Reads a key; a deleted key answers `found: false` at the delete's version, an unknown key at 0. */
  async get(key: string, options: RecordCallOptions = {}): Promise<RecordRead<V>> {
    validateKey(key);
    return this.#run('get', key, options.signal, () => readRow(this.#rows.get(key)));
  }

  /** Reads many keys; every key asked for is in the map (absent ones as `found: false`). */
  async getMany(
    keys: readonly string[],
    options: RecordCallOptions = {},
  ): Promise<Map<string, RecordRead<V>>> {
    for (const key of keys) validateKey(key);
    return this.#run('getMany', undefined, options.signal, () => {
      const result = new Map<string, RecordRead<V>>();
      for (const key of keys) result.set(key, readRow(this.#rows.get(key)));
      return result;
    });
  }

  /** Writes a value at the next version; `ifVersion` compares with the live version (0 when absent or deleted). */
  async set(key: string, value: V, options: RecordWriteOptions = {}): Promise<{ version: number }> {
    validateKey(key);
    validateIfVersion(options.ifVersion, key);
    const stored = cloneValue(value, key);
    return this.#run('set', key, options.signal, () => {
      this.#checkVersion(key, options.ifVersion);
      this.#checkRow(key, stored);
      const version = ++this.#counter;
      this.#rows.set(key, { found: true, value: stored, version });
      return { version };
    });
  }

  /**
   * Writes many rows, in order, in one transaction: every row commits or none does. Duplicate keys
   * are refused with `InvalidArgumentError`.
   */
  async setMany(
    entries: readonly { key: string; value: V }[],
    options: RecordCallOptions = {},
  ): Promise<Map<string, { version: number }>> {
    const seen = new Set<string>();
    const rows: { key: string; value: V }[] = [];
    for (const { key, value } of entries) {
      validateKey(key);
      if (seen.has(key)) {
        throw new InvalidArgumentError(
          `setMany got the key ${JSON.stringify(key)} twice; keys must be distinct`,
          {
            key,
          },
        );
      }
      seen.add(key);
      rows.push({ key, value: cloneValue(value, key) });
    }
    return this.#run('setMany', undefined, options.signal, () => {
      for (const { key, value } of rows) this.#checkRow(key, value);
      const result = new Map<string, { version: number }>();
      for (const { key, value } of rows) {
        const version = ++this.#counter;
        this.#rows.set(key, { found: true, value, version });
        result.set(key, { version });
      }
      return result;
    });
  }

  /**
   * Deletes a key at the next version and keeps a tombstone. Deleting an absent key commits nothing
   * and answers its absence version.
   */
  async delete(
    key: string,
    options: RecordWriteOptions = {},
  ): Promise<{ deleted: boolean; version: number }> {
    validateKey(key);
    validateIfVersion(options.ifVersion, key);
    return this.#run('delete', key, options.signal, () => {
      this.#checkVersion(key, options.ifVersion);
      const row = this.#rows.get(key);
      if (row === undefined || !row.found) return { deleted: false, version: row?.version ?? 0 };
      const version = ++this.#counter;
      this.#rows.set(key, { found: false, version });
      return { deleted: true, version };
    });
  }

  /**
   * `RecordStoreError`: its own flags. Errors this store throws before any effect (version conflict,
   * abort, closed, invalid argument, serialization): not retryable, `failed`. Anything else: not
   * retryable, `unknown`.
   */
  classifyError(error: unknown): ErrorClass {
    if (error instanceof RecordStoreError) return { retryable: error.retryable, outcome: error.outcome };
    if (
      error instanceof VersionConflictError ||
      error instanceof AbortedError ||
      error instanceof CacheClosedError ||
      error instanceof InvalidArgumentError ||
      error instanceof SerializationError
    ) {
      return { retryable: false, outcome: 'failed' };
    }
    return { retryable: false, outcome: 'unknown' };
  }

  /** Closes the store: later calls throw `CacheClosedError`, hung calls reject with it. The data stays readable by `peek`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new CacheClosedError('the record store was closed while the call was in flight');
    for (const reject of this.#hung) reject(error);
    this.#hung.clear();
  }

  async #run<T>(
    op: RecordOperation,
    key: string | undefined,
    signal: AbortSignal | undefined,
    effect: () => T,
  ): Promise<T> {
    this.#checkOpen();
    if (signal?.aborted) throw abortedError(op, key, signal);
    this.#calls[op]++;
    // Faults are drawn when the call arrives, not after its delay, so the generator is consumed in
    // call order and a seed replays the same pattern whatever the timers do.
    const fault = this.#drawFault(op);
    const delay = this.#drawLatency(op);
    if (fault?.type === 'hang') {
      this.#calls.hangs++;
      await this.#hang(op, key, signal);
    }
    await sleep(delay, op, key, signal);
    this.#checkOpen();
    if (fault?.type === 'fail') {
      this.#calls.failures++;
      throw injectedFailure(fault.kind, op, key);
    }
    const result = effect();
    if (fault?.type === 'failAfterCommit') {
      this.#calls.failures++;
      throw new RecordStoreError(`${op} committed, then the connection was lost (injected)`, {
        key,
        retryable: true,
        outcome: 'unknown',
      });
    }
    return result;
  }

  #drawFault(op: RecordOperation): DrawnFault | undefined {
    const index = this.#queue.findIndex((fault) => fault.ops.has(op));
    const queued = this.#queue[index];
    if (queued !== undefined) {
      queued.remaining--;
      if (queued.remaining === 0) this.#queue.splice(index, 1);
      return queued;
    }
    const rate = this.#faults.failureRate;
    if (rate > 0 && this.#failureOps.has(op) && this.#random() < rate)
      return { type: 'fail', kind: 'transient' };
    return undefined;
  }

  #drawLatency(op: RecordOperation): number {
    if (!this.#latencyOps.has(op)) return 0;
    const latency = this.#faults.latencyMs;
    if (typeof latency === 'number') return latency;
    return latency.min + this.#random() * (latency.max - latency.min);
  }

  #random(): number {
    return (this.#rng.unsafeNext() >>> 0) / 0x1_0000_0000;
  }

  #enqueue(type: QueuedFault['type'], kind: FailureKind, n: number, ops: ReadonlySet<RecordOperation>): void {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new InvalidArgumentError(`n must be a non-negative integer, got ${n}`);
    if (n > 0) this.#queue.push({ type, kind, ops, remaining: n });
  }

  #hang(op: RecordOperation, key: string | undefined, signal: AbortSignal | undefined): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const settle = (error: Error) => {
        this.#hung.delete(settle);
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      const onAbort = () => settle(abortedError(op, key, signal));
      this.#hung.add(settle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #checkOpen(): void {
    if (this.#closed) throw new CacheClosedError('the record store is closed');
  }

  #checkVersion(key: string, ifVersion: number | undefined): void {
    if (ifVersion === undefined) return;
    const row = this.#rows.get(key);
    const current = row?.found ? row.version : 0;
    if (ifVersion !== current) throw new VersionConflictError(ifVersion, current, { key });
  }

  #checkRow(key: string, value: V): void {
    const refusal = this.#rejectValue?.(key, value);
    if (refusal === undefined) return;
    throw new RecordStoreError(
      `the record store refused the row of key ${JSON.stringify(key)}: ${refusal.message}`,
      {
        key,
        cause: refusal,
        retryable: false,
        outcome: 'failed',
      },
    );
  }
}

function emptyCalls(): Mutable<MemoryRecordsCalls> {
  return { get: 0, getMany: 0, set: 0, setMany: 0, delete: 0, failures: 0, hangs: 0 };
}

function readRow<V>(row: StoredRow<V> | undefined): RecordRead<V> {
  if (row === undefined) return { found: false, version: 0 };
  if (!row.found) return { found: false, version: row.version };
  return { found: true, value: structuredClone(row.value), version: row.version };
}

function cloneValue<V>(value: V, key: string): V {
  try {
    return structuredClone(value);
  } catch (error) {
    throw new SerializationError(`the value of key ${JSON.stringify(key)} cannot be stored (not cloneable)`, {
      key,
      cause: error,
    });
  }
}

function injectedFailure(kind: FailureKind, op: RecordOperation, key: string | undefined): RecordStoreError {
  if (kind === 'permanent') {
    return new RecordStoreError(`${op} failed (injected permanent failure)`, { key, retryable: false });
  }
  if (kind === 'unknown') {
    const outcome = WRITES.includes(op) ? 'unknown' : 'failed';
    return new RecordStoreError(`${op} lost its connection (injected, nothing committed)`, {
      key,
      retryable: true,
      outcome,
    });
  }
  return new RecordStoreError(`${op} failed (injected transient failure)`, { key, retryable: true });
}

function abortedError(
  op: RecordOperation,
  key: string | undefined,
  signal: AbortSignal | undefined,
): AbortedError {
  return new AbortedError(`${op} was aborted`, { key, cause: signal?.reason });
}

function sleep(ms: number, op: RecordOperation, key: string | undefined, signal: AbortSignal | undefined) {
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(op, key, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function resolveFilter(filter: OperationFilter, name: string): ReadonlySet<RecordOperation> {
  if (filter === 'all') return new Set(ALL);
  if (filter === 'reads') return new Set(READS);
  if (filter === 'writes') return new Set(WRITES);
  if (Array.isArray(filter) && filter.every((op) => ALL.includes(op))) return new Set(filter);
  throw new InvalidArgumentError(
    `${name} must be 'all', 'reads', 'writes' or a list of ${ALL.join(', ')}; got ${JSON.stringify(filter)}`,
  );
}

function validateLatency(latency: Latency): void {
  const ok =
    typeof latency === 'number'
      ? Number.isFinite(latency) && latency >= 0
      : typeof latency === 'object' &&
        latency !== null &&
        Number.isFinite(latency.min) &&
        Number.isFinite(latency.max) &&
        latency.min >= 0 &&
        latency.min <= latency.max;
  if (!ok) {
    throw new InvalidArgumentError(
      `latencyMs must be a finite number >= 0 or { min, max } with 0 <= min <= max, got ${JSON.stringify(latency)}`,
    );
  }
}

function validateKey(key: string): void {
  if (typeof key !== 'string') throw new InvalidArgumentError(`a key must be a string, got ${typeof key}`);
}

function validateIfVersion(ifVersion: number | undefined, key: string): void {
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
    throw new InvalidArgumentError(`ifVersion must be an integer >= 0, got ${ifVersion}`, { key });
  }
}

function stripUndefined<T extends object>(patch: { readonly [K in keyof T]?: T[K] | undefined }): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}
