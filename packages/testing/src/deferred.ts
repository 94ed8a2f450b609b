/**
 * Promises a test controls: `deferred` (settle it from outside), `gate` (a reusable pause point
 * that race tests put inside the code under test), and `waitFor` / `sleep` for bounded polling.
 */

/** A promise with its `resolve` and `reject` handed out, and whether it has settled. */
export interface Deferred<T> {
  /** The promise. */
  readonly promise: Promise<T>;
  /** Fulfils the promise (no effect once settled). */
  resolve(value: T): void;
  /** Rejects the promise (no effect once settled). */
  reject(reason?: unknown): void;
  /** True once `resolve` or `reject` was called. */
  readonly settled: boolean;
}

/** Creates a promise settled from outside. */
export function deferred<T = void>(): Deferred<T> {
  let settled = false;
  let resolve!: (value: T) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    promise,
    resolve(value: T): void {
      if (settled) return;
      settled = true;
      resolve(value);
    },
    reject(reason?: unknown): void {
      if (settled) return;
      settled = true;
      reject(reason);
    },
    get settled(): boolean {
      return settled;
    },
  };
}

/**
 * A reusable pause point. Code under test calls `await gate.wait()`; the test awaits `gate.reached`
 * (something is waiting), does what the interleaving needs, then `gate.open()` releases every waiter
 * and the gate closes again for the next `wait()`.
 */
export interface Gate {
  /** Waits until the next `open()` (at once after `disable()`); rejects when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void>;
  /** Releases every caller waiting now; returns how many. Later `wait()` calls pause again. */
  open(): number;
  /** Opens the gate for good: every current and future `wait()` passes. */
  disable(): void;
  /** Resolves when at least one caller is waiting (a fresh promise after each `open()`). */
  readonly reached: Promise<void>;
  /** How many callers are waiting now. */
  readonly waiting: number;
}

/** Creates a closed, reusable pause point. */
export function gate(): Gate {
  let waiters: Deferred<void>[] = [];
  let reached = deferred();
  let disabled = false;
  return {
    wait(signal?: AbortSignal): Promise<void> {
      if (disabled) return Promise.resolve();
      if (signal?.aborted) return Promise.reject(signal.reason);
      const waiter = deferred();
      waiters.push(waiter);
      reached.resolve();
      if (signal !== undefined) {
        const onAbort = () => {
          waiters = waiters.filter((w) => w !== waiter);
          waiter.reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        void waiter.promise.then(
          () => signal.removeEventListener('abort', onAbort),
          () => undefined,
        );
      }
      return waiter.promise;
    },
    open(): number {
      const released = waiters;
      waiters = [];
      if (reached.settled) reached = deferred();
      for (const waiter of released) waiter.resolve();
      return released.length;
    },
    disable(): void {
      disabled = true;
      reached.resolve();
      const released = waiters;
      waiters = [];
      for (const waiter of released) waiter.resolve();
    },
    get reached(): Promise<void> {
      return reached.promise;
    },
    get waiting(): number {
      return waiters.length;
    },
  };
}

/** Resolves after `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Give up after this many ms. Default 2_000. */
  readonly timeoutMs?: number;
  /** Poll every this many ms. Default 2. */
  readonly intervalMs?: number;
  /** Describes what was awaited, for the timeout error. */
  readonly what?: string;
}

/**
 * Polls `condition` until it returns true (or a promise of true), bounded by `timeoutMs`.
 * Throws an `Error` naming `what` when the time runs out, so a missing event fails fast and clearly.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const intervalMs = options.intervalMs ?? 2;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() >= deadline) {
      throw new Error(`waitFor: ${options.what ?? 'the condition'} did not hold within ${timeoutMs} ms`);
    }
    await sleep(intervalMs);
  }
}
