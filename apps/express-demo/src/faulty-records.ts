/**
 * A record store wrapper that fails calls on request, so the demo can show the engine's retry
 * against a real database: `failNext(2)` makes the next two writes throw a transient (retryable)
 * `RecordStoreError` before they reach the database. Used by `pnpm demo` and the tests only.
 */
import { classifyError, type ErrorClass, type RecordStore, RecordStoreError } from '@writethrough/core';

/** Which calls an injected failure hits. */
export type FaultOps = 'writes' | 'reads';

/** A record store that can be told to fail its next calls. */
export interface FaultyRecords<V> extends RecordStore<V> {
  /** The next `n` calls of `ops` fail with a transient error before touching the database. */
  failNext(n: number, ops?: FaultOps): void;
  /** Drops failures not yet used. */
  clearFaults(): void;
  /** Failures injected so far. */
  readonly injected: number;
  /** Failures still queued, per kind of call. */
  readonly pending: { readonly writes: number; readonly reads: number };
}

/** Wraps `inner` so failures can be injected in front of it. */
export function faultyRecords<V>(inner: RecordStore<V>): FaultyRecords<V> {
  const pending = { writes: 0, reads: 0 };
  let injected = 0;
  const maybeFail = (ops: FaultOps, op: string, key: string): void => {
    if (pending[ops] === 0) return;
    pending[ops]--;
    injected++;
    throw new RecordStoreError(`${op} failed: injected transient failure (the demo's fault switch)`, {
      key,
      retryable: true,
    });
  };
  const own = inner.classifyError?.bind(inner);
  const store: FaultyRecords<V> = {
    async get(key, options) {
      maybeFail('reads', 'get', key);
      return inner.get(key, options);
    },
    async getMany(keys, options) {
      maybeFail('reads', 'getMany', keys[0] ?? '');
      return inner.getMany(keys, options);
    },
    async set(key, value, options) {
      maybeFail('writes', 'set', key);
      return inner.set(key, value, options);
    },
    async setMany(entries, options) {
      maybeFail('writes', 'setMany', entries[0]?.key ?? '');
      return inner.setMany(entries, options);
    },
    async delete(key, options) {
      maybeFail('writes', 'delete', key);
      return inner.delete(key, options);
    },
    settled(writes) {
      inner.settled?.(writes);
    },
    classifyError(error: unknown): ErrorClass {
      // Injected failures carry their own flags; the database's errors keep the store's classifier.
      if (error instanceof RecordStoreError) return classifyError(error);
      return own ? own(error) : classifyError(error);
    },
    async close() {
      await inner.close?.();
    },
    failNext(n, ops = 'writes') {
      if (!Number.isInteger(n) || n < 0 || n > 1_000) throw new RangeError('n must be an integer in 0..1000');
      pending[ops] = n;
    },
    clearFaults() {
      pending.writes = 0;
      pending.reads = 0;
    },
    get injected() {
      return injected;
    },
    get pending() {
      return { ...pending };
    },
  };
  return store;
}
