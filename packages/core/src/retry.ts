/**
 * Retry of record-store calls: exponential backoff with full jitter, only for errors classified
 * retryable, bounded by a number of attempts and an overall deadline, cancellable with an
 * `AbortSignal`. A write whose outcome is unknown is not retried unless the caller says it is safe.
 */
import type { ErrorClass } from './contracts.js';
import { AbortedError, InvalidArgumentError } from './errors.js';

/** How record-store calls are retried. */
export interface RetryOptions {
  /** Total tries, the first included (1 = no retry). A positive integer. Default 3. */
  attempts?: number;
  /** The backoff's base, ms: the sleep before retry n (n >= 1) is at most `baseDelayMs * 2^(n-1)`. Default 50. */
  baseDelayMs?: number;
  /** The cap of the backoff, ms. Default 1_000. */
  maxDelayMs?: number;
  /** The overall budget from the first try, ms; a retry whose sleep would end past it is not made. Default 5_000. */
  deadlineMs?: number;
  /** The jitter's source, a number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Retry options with every default applied and validated. */
export type RetryPolicy = Readonly<Required<RetryOptions>>;

/** What `onRetry` is told before each sleep. */
export interface RetryInfo {
  /** The try that just failed (1 = the first). */
  readonly attempt: number;
  /** The sleep chosen before the next try, ms. */
  readonly delayMs: number;
  /** The error the failed try threw. */
  readonly error: unknown;
}

/** Why `withRetry` stopped retrying and rethrew. */
export type GiveUpReason = 'not-retryable' | 'unknown-outcome' | 'attempts' | 'deadline';

/** What `onGiveUp` is told before the last error is rethrown. */
export interface GiveUpInfo {
  /** Tries made, the failed last one included. */
  readonly attempts: number;
  /** Why no further try is made. */
  readonly reason: GiveUpReason;
  /** The last error, which is rethrown unchanged. */
  readonly error: unknown;
}

/** Options of one `withRetry` run. */
export interface WithRetryOptions {
  /** The resolved policy (`resolveRetryOptions`). */
  readonly policy: RetryPolicy;
  /** Tells whether an error may be retried and whether a write may have committed. */
  readonly classify: (error: unknown) => ErrorClass;
  /** Cancels the sleeps (and is passed to every try). */
  readonly signal?: AbortSignal | undefined;
  /** Called before each sleep. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined;
  /** Called once when the last error is about to be rethrown (not on success, not on abort). */
  readonly onGiveUp?: ((info: GiveUpInfo) => void) | undefined;
  /** Retry errors whose outcome is `unknown` too (safe only for idempotent writes). Default false. */
  readonly retryUnknownOutcome?: boolean | undefined;
}

const DEFAULTS = { attempts: 3, baseDelayMs: 50, maxDelayMs: 1_000, deadlineMs: 5_000 } as const;

/**
 * Applies the defaults and validates the options: `attempts` must be a positive integer, the
 * delays finite numbers >= 0, `deadlineMs` a number > 0 (`Infinity` = no deadline). `false` means
 * no retry (one attempt). Throws `InvalidArgumentError` naming the option and the reason.
 */
export function resolveRetryOptions(options?: RetryOptions | false): RetryPolicy {
  const given = options === false ? { attempts: 1 } : (options ?? {});
  const policy: RetryPolicy = {
    attempts: given.attempts ?? DEFAULTS.attempts,
    baseDelayMs: given.baseDelayMs ?? DEFAULTS.baseDelayMs,
    maxDelayMs: given.maxDelayMs ?? DEFAULTS.maxDelayMs,
    deadlineMs: given.deadlineMs ?? DEFAULTS.deadlineMs,
    random: given.random ?? Math.random,
  };
  if (!Number.isSafeInteger(policy.attempts) || policy.attempts < 1) {
    throw invalid('attempts', policy.attempts, 'must be an integer >= 1 (the first try included)');
  }
  for (const name of ['baseDelayMs', 'maxDelayMs'] as const) {
    const value = policy[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw invalid(name, value, 'must be a finite number of milliseconds >= 0');
    }
  }
  if (typeof policy.deadlineMs !== 'number' || Number.isNaN(policy.deadlineMs) || policy.deadlineMs <= 0) {
    throw invalid(
      'deadlineMs',
      policy.deadlineMs,
      'must be a number of milliseconds > 0 (Infinity for none)',
    );
  }
  if (typeof policy.random !== 'function') throw invalid('random', policy.random, 'must be a function');
  return Object.freeze(policy);
}

/**
 * Runs `fn` (given the try's number, 1-based, and the signal) until it succeeds or may not be tried
 * again. A failed try is retried only when `classify(error).retryable` and its outcome is `failed`
 * (or `retryUnknownOutcome` is set), more tries are allowed, and the sleep ends before the deadline.
 * The sleep before retry n is `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))` (full jitter).
 *
 * When it gives up, the last error is rethrown unchanged, so its class, flags and cause chain
 * reach the caller as the store made them; the tries made are reported to `onGiveUp` (a caller
 * that builds a `RecordStoreError` sets its `attempts` from there). An already aborted signal
 * throws `AbortedError` before any try; an abort during a sleep throws `AbortedError` at once with
 * the last error as its cause (which, with `retryUnknownOutcome`, may be a write that committed).
 * A try in progress is never cut short: it sees the signal and the deadline only bounds retries.
 */
export async function withRetry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T>,
  options: WithRetryOptions,
): Promise<T> {
  const { policy, signal } = options;
  if (signal?.aborted) throw new AbortedError('aborted before the first try', { cause: signal.reason });
  const start = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt, signal);
    } catch (error) {
      const reason = giveUpReason(error, attempt, options);
      const delayMs = reason === undefined ? backoff(policy, attempt) : 0;
      const outOfTime = reason === undefined && performance.now() - start + delayMs >= policy.deadlineMs;
      if (reason !== undefined || outOfTime) {
        options.onGiveUp?.({ attempts: attempt, reason: reason ?? 'deadline', error });
        throw error;
      }
      if (signal?.aborted) throw new AbortedError(`aborted after try ${attempt}`, { cause: error });
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal, error);
    }
  }
}

function giveUpReason(error: unknown, attempt: number, options: WithRetryOptions): GiveUpReason | undefined {
  const { retryable, outcome } = options.classify(error);
  if (!retryable) return 'not-retryable';
  if (outcome !== 'failed' && options.retryUnknownOutcome !== true) return 'unknown-outcome';
  if (attempt >= options.policy.attempts) return 'attempts';
  return undefined;
}

function backoff(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // A `random` that strays out of [0, 1) (or returns NaN) must not produce a negative, NaN or over-cap sleep.
  const r = policy.random();
  return r > 0 ? Math.min(r, 1) * ceiling : 0;
}

function sleep(ms: number, signal: AbortSignal | undefined, lastError: unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('aborted while waiting to retry', { cause: lastError }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function invalid(name: string, value: unknown, reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`retry option ${name} ${reason}, got ${String(value)}`);
}
