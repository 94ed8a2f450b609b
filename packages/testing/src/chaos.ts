/**
 * Chaos wrappers: put one around any adapter (`chaosRecordStore`, `chaosCacheStore`, `chaosBus`) and
 * drive its failures from the test through the controller: throw, delay, hang, fail after the
 * effect, fail the Nth call, or pause a call at a gate to force an interleaving. Faults apply to
 * every method, or to some with `chaos.on('commitWrite')`.
 */

import {
  AbortedError,
  type BeginWriteItem,
  type BusState,
  type CacheStore,
  type CommitWriteItem,
  type InvalidateItem,
  type InvalidationBus,
  type InvalidationMessage,
  type LeaseOptions,
  type RecordCallOptions,
  type RecordStore,
  RecordStoreError,
  type RecordWriteOptions,
  type TierEntry,
} from '@writethrough/core';
import { type Gate, gate, sleep } from './deferred.js';

/**
 * The failure the wrappers throw by default for a cache tier or a bus (record stores get a
 * `RecordStoreError`).
 */
export class ChaosError extends Error {
  /** The wrapped method that failed. */
  readonly method: string;

  constructor(message: string, method: string) {
    super(message);
    this.method = method;
  }

  override get name(): string {
    return 'ChaosError';
  }
}

/** The methods of a `CacheStore` a chaos controller can target. */
export type CacheStoreMethod =
  | 'get'
  | 'getSync'
  | 'getMany'
  | 'fill'
  | 'beginWrite'
  | 'commitWrite'
  | 'abortWrite'
  | 'invalidate'
  | 'beginWriteMany'
  | 'commitWriteMany'
  | 'invalidateMany'
  | 'clear'
  | 'close';

/** The methods of a `RecordStore` a chaos controller can target. */
export type RecordStoreMethod = 'get' | 'getMany' | 'set' | 'setMany' | 'delete' | 'close';

/** One call that reached a wrapper (whatever happened to it). */
export interface ChaosCall<M extends string> {
  /** The method called. */
  readonly method: M;
  /** Its arguments. */
  readonly args: readonly unknown[];
}

/**
 * Faults for the methods in scope. Every fault is decided when a call arrives, in this order: a
 * pause, then `throwAlways`, `throwNext`, `failNth` (the first that applies throws, before the real
 * method runs), then `hangNext`, `delay`, the real call, `failAfterEffectNext`. Synchronous methods
 * (`getSync`) take only the throwing faults. `error` defaults to a `RecordStoreError` (record stores)
 * or a `ChaosError`.
 */
export interface ChaosFaults {
  /** Every call throws `error` before its effect, until `reset()`. */
  throwAlways(error?: unknown): void;
  /** The next `n` calls throw `error` before their effect. */
  throwNext(n: number, error?: unknown): void;
  /** The `n`th call from now (1 = the next) throws `error` before its effect; the others pass. */
  failNth(n: number, error?: unknown): void;
  /**
   * The next `n` calls run the real method, then throw `error`: the effect happened, the caller sees a
   * failure.
   */
  failAfterEffectNext(n: number, error?: unknown): void;
  /**
   * Every call waits `ms` (real time) before the real method; 0 removes the delay of this scope. Scopes'
   * delays do not add: the largest applies.
   */
  delay(ms: number): void;
  /**
   * The next `n` calls wait before the real method until `release()` or `reset()` (then run it), or their
   * `AbortSignal` (then reject with `AbortedError`).
   */
  hangNext(n: number): void;
}

/** Options of `pauseAt`. */
export interface PauseOptions {
  /**
   * Pause after the real method ran (its effect is done, its answer held) instead of before. Default false.
   */
  readonly after?: boolean;
}

/** The controller of a chaos wrapper. */
export interface Chaos<M extends string> extends ChaosFaults {
  /** Faults that apply only to the named methods: `chaos.on('commitWrite').throwNext(1)`. */
  on(...methods: M[]): ChaosFaults;
  /**
   * The next call of `method` (not already paused) waits at the returned gate: await `gate.reached`,
   * do what the interleaving needs, then `gate.open()`. Several pauses on one method pause successive
   * calls. A pause `after` is taken by the next call that gets an answer (not one a fault fails).
   */
  pauseAt(method: M, options?: PauseOptions): Gate;
  /** Lets every hung call go on to the real method; returns how many. */
  release(): number;
  /** Removes every fault, releases hung calls and opens every pause. The call log stays. */
  reset(): void;
  /** Every call that reached the wrapper, in arrival order. */
  readonly calls: readonly ChaosCall<M>[];
  /** How many calls of `method` (of any method without it) reached the wrapper. */
  count(method?: M): number;
}

type ErrorFactory<M extends string> = (method: M, args: readonly unknown[], afterEffect: boolean) => unknown;

interface Rule<M extends string> {
  readonly scope: ReadonlySet<M> | undefined;
  readonly kind: 'throwAlways' | 'throwNext' | 'failNth' | 'afterEffect' | 'hang';
  readonly error: { value: unknown } | undefined;
  /** Calls left (throwNext, afterEffect, hang); the target call number (failNth). */
  remaining: number;
}

interface Pause<M extends string> {
  readonly method: M;
  readonly after: boolean;
  readonly gate: Gate;
  claimed: boolean;
}

interface Plan {
  pauseBefore?: Gate;
  errorBefore?: { value: unknown };
  hang?: boolean;
  delayMs: number;
  errorAfter?: { value: unknown };
  pauseAfter?: Gate;
}

/** The fault bookkeeping shared by the wrappers. */
class ChaosEngine<M extends string> implements Chaos<M> {
  readonly calls: ChaosCall<M>[] = [];
  readonly #makeError: ErrorFactory<M>;
  #rules: Rule<M>[] = [];
  readonly #delays = new Map<string, { scope: ReadonlySet<M> | undefined; ms: number }>();
  #pauses: Pause<M>[] = [];
  /** Every gate handed out since the last reset, claimed or not, so that reset can open them. */
  readonly #gates = new Set<Gate>();
  readonly #hung = new Set<() => void>();

  constructor(makeError: ErrorFactory<M>) {
    this.#makeError = makeError;
  }

  throwAlways(error?: unknown): void {
    this.#faults(undefined).throwAlways(error);
  }
  throwNext(n: number, error?: unknown): void {
    this.#faults(undefined).throwNext(n, error);
  }
  failNth(n: number, error?: unknown): void {
    this.#faults(undefined).failNth(n, error);
  }
  failAfterEffectNext(n: number, error?: unknown): void {
    this.#faults(undefined).failAfterEffectNext(n, error);
  }
  delay(ms: number): void {
    this.#faults(undefined).delay(ms);
  }
  hangNext(n: number): void {
    this.#faults(undefined).hangNext(n);
  }

  on(...methods: M[]): ChaosFaults {
    if (methods.length === 0) throw new TypeError('chaos.on needs at least one method');
    return this.#faults(new Set(methods));
  }

  pauseAt(method: M, options: PauseOptions = {}): Gate {
    const pause: Pause<M> = { method, after: options.after ?? false, gate: gate(), claimed: false };
    this.#pauses.push(pause);
    this.#gates.add(pause.gate);
    return pause.gate;
  }

  release(): number {
    const hung = [...this.#hung];
    this.#hung.clear();
    for (const resume of hung) resume();
    return hung.length;
  }

  reset(): void {
    this.#rules = [];
    this.#delays.clear();
    for (const each of this.#gates) each.disable();
    this.#gates.clear();
    this.#pauses = [];
    this.release();
  }

  count(method?: M): number {
    return method === undefined
      ? this.calls.length
      : this.calls.filter((call) => call.method === method).length;
  }

  /** Runs an async call through the faults. */
  async run<T>(
    method: M,
    args: readonly unknown[],
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    const plan = this.#plan(method, args, false);
    if (plan.pauseBefore) await holdAt(plan.pauseBefore, method, signal);
    if (plan.errorBefore) throw plan.errorBefore.value;
    if (plan.hang) await this.#hang(method, signal);
    if (plan.delayMs > 0) await abortableSleep(plan.delayMs, method, signal);
    const result = await call();
    if (plan.errorAfter) throw plan.errorAfter.value;
    if (plan.pauseAfter) await holdAt(plan.pauseAfter, method, signal);
    return result;
  }

  /** Runs a synchronous call through the faults that can apply to it (the throwing ones). */
  runSync<T>(method: M, args: readonly unknown[], call: () => T): T {
    const plan = this.#plan(method, args, true);
    if (plan.errorBefore) throw plan.errorBefore.value;
    const result = call();
    if (plan.errorAfter) throw plan.errorAfter.value;
    return result;
  }

  #plan(method: M, args: readonly unknown[], sync: boolean): Plan {
    this.calls.push({ method, args });
    const plan: Plan = { delayMs: 0 };
    const applies = (rule: { scope: ReadonlySet<M> | undefined }) =>
      rule.scope === undefined || rule.scope.has(method);
    if (!sync) {
      const before = this.#claimPause(method, false);
      if (before) plan.pauseBefore = before;
    }
    const errorOf = (rule: Rule<M>, afterEffect: boolean) =>
      rule.error ?? { value: this.#makeError(method, args, afterEffect) };
    // failNth counts every call in scope, whatever else happens to it.
    let nth: Rule<M> | undefined;
    for (const rule of this.#rules) {
      if (rule.kind !== 'failNth' || !applies(rule)) continue;
      rule.remaining--;
      if (rule.remaining === 0 && nth === undefined) nth = rule;
    }
    this.#rules = this.#rules.filter((rule) => rule.kind !== 'failNth' || rule.remaining > 0);
    const always = this.#rules.find((rule) => rule.kind === 'throwAlways' && applies(rule));
    const next = always ? undefined : this.#take('throwNext', applies);
    const failing = always ?? next ?? nth;
    if (failing) {
      plan.errorBefore = errorOf(failing, false);
      return plan;
    }
    if (!sync) {
      if (this.#take('hang', applies)) plan.hang = true;
      for (const delay of this.#delays.values())
        if (applies(delay)) plan.delayMs = Math.max(plan.delayMs, delay.ms);
    }
    const after = this.#take('afterEffect', applies);
    if (after) plan.errorAfter = errorOf(after, true);
    else if (!sync) {
      const pause = this.#claimPause(method, true);
      if (pause) plan.pauseAfter = pause;
    }
    return plan;
  }

  #take(kind: Rule<M>['kind'], applies: (rule: Rule<M>) => boolean): Rule<M> | undefined {
    const rule = this.#rules.find((each) => each.kind === kind && each.remaining > 0 && applies(each));
    if (rule === undefined) return undefined;
    rule.remaining--;
    if (rule.remaining === 0) this.#rules = this.#rules.filter((each) => each !== rule);
    return rule;
  }

  #claimPause(method: M, after: boolean): Gate | undefined {
    const pause = this.#pauses.find(
      (each) => !each.claimed && each.method === method && each.after === after,
    );
    if (pause === undefined) return undefined;
    pause.claimed = true;
    this.#pauses = this.#pauses.filter((each) => each !== pause);
    return pause.gate;
  }

  #hang(method: M, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(aborted(method, signal.reason));
        return;
      }
      const onAbort = () => {
        this.#hung.delete(resume);
        reject(aborted(method, signal?.reason));
      };
      const resume = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#hung.add(resume);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #faults(scope: ReadonlySet<M> | undefined): ChaosFaults {
    const add = (kind: Rule<M>['kind'], n: number, error: unknown) => {
      count(n, kind);
      if (n > 0)
        this.#rules.push({
          scope,
          kind,
          remaining: n,
          error: error === undefined ? undefined : { value: error },
        });
    };
    return {
      throwAlways: (error?: unknown) => add('throwAlways', 1, error),
      throwNext: (n: number, error?: unknown) => add('throwNext', n, error),
      failNth: (n: number, error?: unknown) => {
        if (n < 1) throw new RangeError(`failNth needs n >= 1, got ${n}`);
        add('failNth', n, error);
      },
      failAfterEffectNext: (n: number, error?: unknown) => add('afterEffect', n, error),
      hangNext: (n: number) => add('hang', n, undefined),
      delay: (ms) => {
        if (!(Number.isFinite(ms) && ms >= 0))
          throw new RangeError(`delay needs a number of ms >= 0, got ${ms}`);
        const id = scope === undefined ? '*' : [...scope].sort().join(',');
        if (ms === 0) this.#delays.delete(id);
        else this.#delays.set(id, { scope, ms });
      },
    };
  }
}

/** Runs a subscriber's handler; its exception is rethrown on its own so the other handlers still run. */
function guarded(run: () => void): void {
  try {
    run();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function count(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} needs an integer >= 0, got ${n}`);
}

async function holdAt(pause: Gate, method: string, signal: AbortSignal | undefined): Promise<void> {
  try {
    await pause.wait(signal);
  } catch (cause) {
    throw aborted(method, cause);
  }
}

function aborted(method: string, cause: unknown): AbortedError {
  return new AbortedError(`${method} was aborted while held by chaos`, { cause });
}

function abortableSleep(ms: number, method: string, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return sleep(ms);
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(aborted(method, signal.reason));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(method, signal.reason));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A wrapped adapter and its chaos controller. */
export interface Chaotic<T, M extends string> {
  /** The wrapper: use it where the adapter was used. */
  readonly store: T;
  /** Drives the wrapper's failures. */
  readonly chaos: Chaos<M>;
}

/**
 * Wraps a cache tier. Faults throw a `ChaosError` by default. `getSync` (when the tier has it) takes
 * only the throwing faults; `capabilities` are the tier's.
 */
export function chaosCacheStore<P>(inner: CacheStore<P>): Chaotic<CacheStore<P>, CacheStoreMethod> {
  const chaos = new ChaosEngine<CacheStoreMethod>(
    (method, _args, afterEffect) =>
      new ChaosError(
        `chaos: ${method} ${afterEffect ? 'took effect, then failed' : 'failed'} (injected)`,
        method,
      ),
  );
  const getSync = inner.getSync?.bind(inner);
  const beginWriteMany = inner.beginWriteMany?.bind(inner);
  const commitWriteMany = inner.commitWriteMany?.bind(inner);
  const invalidateMany = inner.invalidateMany?.bind(inner);
  const store: CacheStore<P> = {
    capabilities: inner.capabilities,
    get: (key: string, options: LeaseOptions) =>
      chaos.run('get', [key, options], undefined, () => inner.get(key, options)),
    getMany: (keys: readonly string[], options: LeaseOptions) =>
      chaos.run('getMany', [keys, options], undefined, () => inner.getMany(keys, options)),
    fill: (key: string, token: string, entry: TierEntry<P>, ttlMs: number) =>
      chaos.run('fill', [key, token, entry, ttlMs], undefined, () => inner.fill(key, token, entry, ttlMs)),
    beginWrite: (key: string, token: string, markTtlMs: number) =>
      chaos.run('beginWrite', [key, token, markTtlMs], undefined, () =>
        inner.beginWrite(key, token, markTtlMs),
      ),
    commitWrite: (key: string, token: string, entry: TierEntry<P>, ttlMs: number) =>
      chaos.run('commitWrite', [key, token, entry, ttlMs], undefined, () =>
        inner.commitWrite(key, token, entry, ttlMs),
      ),
    abortWrite: (key: string, token: string) =>
      chaos.run('abortWrite', [key, token], undefined, () => inner.abortWrite(key, token)),
    invalidate: (key: string, version?: number) =>
      chaos.run('invalidate', version === undefined ? [key] : [key, version], undefined, () =>
        version === undefined ? inner.invalidate(key) : inner.invalidate(key, version),
      ),
    clear: () => chaos.run('clear', [], undefined, () => inner.clear()),
    close: () => chaos.run('close', [], undefined, () => inner.close()),
    ...(getSync === undefined
      ? {}
      : {
          getSync: (key: string, options: LeaseOptions) =>
            chaos.runSync('getSync', [key, options], () => getSync(key, options)),
        }),
    // The batched steps only when the tier has them (the engine falls back to per-key steps otherwise).
    ...(beginWriteMany === undefined
      ? {}
      : {
          beginWriteMany: (items: readonly BeginWriteItem[], markTtlMs: number) =>
            chaos.run('beginWriteMany', [items, markTtlMs], undefined, () =>
              beginWriteMany(items, markTtlMs),
            ),
        }),
    ...(commitWriteMany === undefined
      ? {}
      : {
          commitWriteMany: (items: readonly CommitWriteItem<P>[]) =>
            chaos.run('commitWriteMany', [items], undefined, () => commitWriteMany(items)),
        }),
    ...(invalidateMany === undefined
      ? {}
      : {
          invalidateMany: (items: readonly InvalidateItem[]) =>
            chaos.run('invalidateMany', [items], undefined, () => invalidateMany(items)),
        }),
  };
  return { store, chaos };
}

const WRITE_METHODS: ReadonlySet<RecordStoreMethod> = new Set(['set', 'setMany', 'delete']);

/**
 * Wraps a record store. Faults throw a `RecordStoreError` by default: retryable, outcome `failed`
 * before the effect; outcome `unknown` (writes) after it. Hangs and delays honour the call's
 * `AbortSignal`. `classifyError` (when the store has one) classifies `RecordStoreError`s by their
 * flags and passes every other error to the store's.
 */
export function chaosRecordStore<V>(inner: RecordStore<V>): Chaotic<RecordStore<V>, RecordStoreMethod> {
  const chaos = new ChaosEngine<RecordStoreMethod>((method, args, afterEffect) => {
    const key = typeof args[0] === 'string' ? args[0] : undefined;
    return new RecordStoreError(
      `chaos: ${method} ${afterEffect ? 'took effect, then lost its connection' : 'failed'} (injected)`,
      { key, retryable: true, outcome: afterEffect && WRITE_METHODS.has(method) ? 'unknown' : 'failed' },
    );
  });
  const classify = inner.classifyError?.bind(inner);
  const close = inner.close?.bind(inner);
  const store: RecordStore<V> = {
    get: (key: string, options?: RecordCallOptions) =>
      chaos.run('get', [key, options], options?.signal, () => inner.get(key, options)),
    getMany: (keys: readonly string[], options?: RecordCallOptions) =>
      chaos.run('getMany', [keys, options], options?.signal, () => inner.getMany(keys, options)),
    set: (key: string, value: V, options?: RecordWriteOptions) =>
      chaos.run('set', [key, value, options], options?.signal, () => inner.set(key, value, options)),
    setMany: (entries: readonly { key: string; value: V }[], options?: RecordCallOptions) =>
      chaos.run('setMany', [entries, options], options?.signal, () => inner.setMany(entries, options)),
    delete: (key: string, options?: RecordWriteOptions) =>
      chaos.run('delete', [key, options], options?.signal, () => inner.delete(key, options)),
    ...(classify === undefined
      ? {}
      : {
          classifyError: (error: unknown) =>
            error instanceof RecordStoreError
              ? { retryable: error.retryable, outcome: error.outcome }
              : classify(error),
        }),
    ...(close === undefined ? {} : { close: () => chaos.run('close', [], undefined, () => close()) }),
  };
  return { store, chaos };
}

/** The controller of a `chaosBus` wrapper. */
export interface BusChaos {
  /** The next `n` incoming messages are lost silently (the bus still looks connected). */
  dropNext(n: number): void;
  /** While on, every incoming message is lost silently. */
  dropAll(on?: boolean): void;
  /** Incoming messages arrive `ms` later (real time), in their order; 0 removes the delay. */
  delay(ms: number): void;
  /**
   * A lost subscription: `connected` turns false, `onState('disconnected')` fires, incoming messages are lost
   * until `reconnect()`.
   */
  disconnect(): void;
  /**
   * Ends `disconnect()`: `connected` follows the wrapped bus again, and `onState('connected')` fires if it is
   * connected.
   */
  reconnect(): void;
  /** The next `n` publishes reject with `error` (default a `ChaosError`); nothing is sent. */
  throwOnPublishNext(n: number, error?: unknown): void;
  /** The next `n` publishes resolve but send nothing (a lost outgoing message). */
  dropPublishNext(n: number): void;
  /** Removes every fault and reconnects; messages already delayed still arrive. */
  reset(): void;
  /** Incoming messages handed to the subscribers so far. */
  readonly delivered: number;
  /** Incoming messages lost to the faults so far. */
  readonly dropped: number;
}

/** Wraps an invalidation bus: lose, delay or block incoming messages, fail or lose publishes, disconnect. */
export function chaosBus(inner: InvalidationBus): {
  readonly bus: InvalidationBus;
  readonly chaos: BusChaos;
} {
  const onMessage = new Set<(message: InvalidationMessage) => void>();
  const onState = new Set<(state: BusState) => void>();
  let innerUnsubscribe: (() => void) | undefined;
  let forcedDown = false;
  let session = 0;
  let dropCount = 0;
  let dropEverything = false;
  let delayMs = 0;
  let publishFailures: { n: number; error: { value: unknown } | undefined } = { n: 0, error: undefined };
  let publishDrops = 0;
  let delivered = 0;
  let dropped = 0;
  let pending = 0;
  let tail: Promise<void> = Promise.resolve();

  const connected = () => inner.connected && !forcedDown;
  const emit = (state: BusState) => {
    for (const handler of [...onState]) guarded(() => handler(state));
  };
  const deliver = (message: InvalidationMessage, at: number) => {
    if (at !== session || !connected()) {
      dropped++;
      return;
    }
    delivered++;
    for (const handler of [...onMessage]) guarded(() => handler({ ...message }));
  };
  const incoming = (message: InvalidationMessage) => {
    if (!connected() || dropEverything) {
      dropped++;
      return;
    }
    if (dropCount > 0) {
      dropCount--;
      dropped++;
      return;
    }
    const at = session;
    // A message behind a delayed one waits for it, so the order is kept when the delay changes.
    if (delayMs === 0 && pending === 0) {
      deliver(message, at);
      return;
    }
    const due = performance.now() + delayMs;
    pending++;
    tail = tail.then(async () => {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending--;
      deliver(message, at);
    });
  };
  const ensureSubscribed = () => {
    if (innerUnsubscribe !== undefined) return;
    innerUnsubscribe = inner.subscribe(incoming, (state) => {
      if (!forcedDown) emit(state);
    });
  };
  const dropSubscription = () => {
    if (onMessage.size > 0 || onState.size > 0 || innerUnsubscribe === undefined) return;
    innerUnsubscribe();
    innerUnsubscribe = undefined;
  };

  const bus: InvalidationBus = {
    get connected(): boolean {
      return connected();
    },
    async publish(message: InvalidationMessage): Promise<void> {
      if (publishFailures.n > 0) {
        publishFailures.n--;
        throw publishFailures.error
          ? publishFailures.error.value
          : new ChaosError('chaos: publish failed (injected)', 'publish');
      }
      if (publishDrops > 0) {
        publishDrops--;
        return;
      }
      await inner.publish(message);
    },
    subscribe(handler, stateHandler) {
      const messageHandler = (message: InvalidationMessage) => handler(message);
      const wrappedState = stateHandler && ((state: BusState) => stateHandler(state));
      onMessage.add(messageHandler);
      if (wrappedState) onState.add(wrappedState);
      ensureSubscribed();
      return () => {
        onMessage.delete(messageHandler);
        if (wrappedState) onState.delete(wrappedState);
        dropSubscription();
      };
    },
    async close(): Promise<void> {
      onMessage.clear();
      onState.clear();
      dropSubscription();
      await inner.close?.();
    },
  };

  const chaos: BusChaos = {
    dropNext(n) {
      count(n, 'dropNext');
      dropCount += n;
    },
    dropAll(on = true) {
      dropEverything = on;
    },
    delay(ms) {
      if (!(Number.isFinite(ms) && ms >= 0))
        throw new RangeError(`delay needs a number of ms >= 0, got ${ms}`);
      delayMs = ms;
    },
    disconnect() {
      if (forcedDown) return;
      const was = connected();
      forcedDown = true;
      session++;
      if (was) emit('disconnected');
    },
    reconnect() {
      if (!forcedDown) return;
      forcedDown = false;
      if (inner.connected) emit('connected');
    },
    throwOnPublishNext(n, error?: unknown) {
      count(n, 'throwOnPublishNext');
      publishFailures = { n, error: error === undefined ? undefined : { value: error } };
    },
    dropPublishNext(n) {
      count(n, 'dropPublishNext');
      publishDrops += n;
    },
    reset() {
      dropCount = 0;
      dropEverything = false;
      delayMs = 0;
      publishFailures = { n: 0, error: undefined };
      publishDrops = 0;
      chaos.reconnect();
    },
    get delivered() {
      return delivered;
    },
    get dropped() {
      return dropped;
    },
  };
  return { bus, chaos };
}
