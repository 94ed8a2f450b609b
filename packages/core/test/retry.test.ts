import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ErrorClass } from '../src/contracts.js';
import { AbortedError, InvalidArgumentError, RecordStoreError } from '../src/errors.js';
import { memoryRecords } from '../src/memory-records.js';
import { type GiveUpInfo, type RetryInfo, resolveRetryOptions, withRetry } from '../src/retry.js';

const transient = () => new RecordStoreError('connection reset', { retryable: true, outcome: 'failed' });
const permanent = () => new RecordStoreError('syntax error', { retryable: false, outcome: 'failed' });
const unknownOutcome = () =>
  new RecordStoreError('timeout during commit', { retryable: true, outcome: 'unknown' });

function classify(error: unknown): ErrorClass {
  if (error instanceof RecordStoreError) return { retryable: error.retryable, outcome: error.outcome };
  return { retryable: false, outcome: 'unknown' };
}

/** A try function that throws the given errors in turn, then answers `ok`. */
function failing(...errors: unknown[]) {
  const seen: { attempt: number; signal: AbortSignal | undefined }[] = [];
  const fn = async (attempt: number, signal?: AbortSignal) => {
    seen.push({ attempt, signal });
    const error = errors[attempt - 1];
    if (error !== undefined) throw error;
    return 'ok';
  };
  return { fn, seen };
}

async function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('resolveRetryOptions', () => {
  it('applies the defaults', () => {
    expect(resolveRetryOptions()).toEqual({
      attempts: 3,
      baseDelayMs: 50,
      maxDelayMs: 1_000,
      deadlineMs: 5_000,
      random: Math.random,
    });
    expect(resolveRetryOptions({ attempts: 5 })).toMatchObject({ attempts: 5, baseDelayMs: 50 });
  });

  it('false means one attempt', () => {
    expect(resolveRetryOptions(false).attempts).toBe(1);
  });

  it('accepts Infinity as the deadline', () => {
    expect(resolveRetryOptions({ deadlineMs: Number.POSITIVE_INFINITY }).deadlineMs).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it.each([
    [{ attempts: 0 }, 'attempts'],
    [{ attempts: 2.5 }, 'attempts'],
    [{ attempts: Number.NaN }, 'attempts'],
    [{ baseDelayMs: -1 }, 'baseDelayMs'],
    [{ baseDelayMs: Number.NaN }, 'baseDelayMs'],
    [{ maxDelayMs: Number.POSITIVE_INFINITY }, 'maxDelayMs'],
    [{ deadlineMs: 0 }, 'deadlineMs'],
    [{ deadlineMs: Number.NaN }, 'deadlineMs'],
    [{ random: 0.5 as unknown as () => number }, 'random'],
  ])('refuses %o with InvalidArgumentError naming %s', (options, name) => {
    expect(() => resolveRetryOptions(options)).toThrow(InvalidArgumentError);
    expect(() => resolveRetryOptions(options)).toThrow(name);
  });
});

describe('withRetry', () => {
  it('returns the first success without retrying, passing the try number and the signal', async () => {
    const { fn, seen } = failing();
    const onRetry = vi.fn();
    const signal = new AbortController().signal;
    await expect(withRetry(fn, { policy: resolveRetryOptions(), classify, signal, onRetry })).resolves.toBe(
      'ok',
    );
    expect(seen).toEqual([{ attempt: 1, signal }]);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('retries retryable failures with full-jitter exponential backoff', async () => {
    const { fn, seen } = failing(transient(), transient(), transient());
    const retries: RetryInfo[] = [];
    const policy = resolveRetryOptions({ attempts: 4, baseDelayMs: 100, random: () => 0.5 });
    const result = withRetry(fn, { policy, classify, onRetry: (info) => retries.push(info) });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3, 4]);
    expect(retries.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 50],
      [2, 100],
      [3, 200],
    ]);
    expect(retries[0]?.error).toBeInstanceOf(RecordStoreError);
  });

  it('actually sleeps the chosen delay before the next try', async () => {
    const { fn, seen } = failing(transient());
    const policy = resolveRetryOptions({ baseDelayMs: 100, random: () => 0.5 });
    const result = withRetry(fn, { policy, classify });
    await vi.advanceTimersByTimeAsync(49);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(2);
    await expect(result).resolves.toBe('ok');
  });

  it('caps the backoff at maxDelayMs and scales it by random()', async () => {
    const { fn } = failing(transient(), transient(), transient(), transient(), transient());
    const delays: number[] = [];
    const draws = [0, 0.999, 0.25, 0.5, 1.7];
    const policy = resolveRetryOptions({
      attempts: 6,
      baseDelayMs: 100,
      maxDelayMs: 300,
      deadlineMs: Number.POSITIVE_INFINITY,
      random: () => draws.shift() ?? 0,
    });
    const result = withRetry(fn, { policy, classify, onRetry: (info) => delays.push(info.delayMs) });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    // Ceilings: 100, 200, 300 (capped from 400), 300, 300; a draw above 1 is clamped.
    expect(delays).toEqual([0, 199.8, 75, 150, 300]);
  });

  it('gives up after `attempts` tries and rethrows the last error unchanged', async () => {
    const errors = [transient(), transient(), transient()];
    const { fn, seen } = failing(...errors);
    const giveUps: GiveUpInfo[] = [];
    const policy = resolveRetryOptions({ random: () => 0 });
    const result = settle(withRetry(fn, { policy, classify, onGiveUp: (info) => giveUps.push(info) }));
    await vi.runAllTimersAsync();
    const outcome = await result;
    expect(outcome.ok).toBe(false);
    expect((outcome as { error: unknown }).error).toBe(errors[2]);
    expect(seen).toHaveLength(3);
    expect(giveUps).toEqual([{ attempts: 3, reason: 'attempts', error: errors[2] }]);
  });

  it('does not retry an error classified not retryable', async () => {
    const error = permanent();
    const { fn, seen } = failing(error);
    const onGiveUp = vi.fn();
    await expect(withRetry(fn, { policy: resolveRetryOptions(), classify, onGiveUp })).rejects.toBe(error);
    expect(seen).toHaveLength(1);
    expect(onGiveUp).toHaveBeenCalledWith({ attempts: 1, reason: 'not-retryable', error });
  });

  it('does not retry an unknown outcome unless allowed', async () => {
    const error = unknownOutcome();
    const first = failing(error);
    const onGiveUp = vi.fn();
    await expect(withRetry(first.fn, { policy: resolveRetryOptions(), classify, onGiveUp })).rejects.toBe(
      error,
    );
    expect(first.seen).toHaveLength(1);
    expect(onGiveUp).toHaveBeenCalledWith({ attempts: 1, reason: 'unknown-outcome', error });

    const second = failing(unknownOutcome());
    const policy = resolveRetryOptions({ random: () => 0 });
    const result = withRetry(second.fn, { policy, classify, retryUnknownOutcome: true });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    expect(second.seen).toHaveLength(2);
  });

  it('retries nothing with resolveRetryOptions(false)', async () => {
    const error = transient();
    const { fn, seen } = failing(error);
    await expect(withRetry(fn, { policy: resolveRetryOptions(false), classify })).rejects.toBe(error);
    expect(seen).toHaveLength(1);
  });

  it('does not make a retry whose sleep would pass the deadline', async () => {
    const errors = [transient(), transient(), transient(), transient()];
    const { fn, seen } = failing(...errors);
    const giveUps: GiveUpInfo[] = [];
    // Sleeps of 1000 then 2000: the second would end at 3000, past the 2500 budget.
    const policy = resolveRetryOptions({
      attempts: 10,
      baseDelayMs: 1_000,
      maxDelayMs: 10_000,
      deadlineMs: 2_500,
      random: () => 1,
    });
    const result = settle(withRetry(fn, { policy, classify, onGiveUp: (info) => giveUps.push(info) }));
    await vi.runAllTimersAsync();
    expect((await result).ok).toBe(false);
    expect(seen).toHaveLength(2);
    expect(giveUps).toEqual([{ attempts: 2, reason: 'deadline', error: errors[1] }]);
  });

  it('counts the time spent in the tries against the deadline', async () => {
    const seen: number[] = [];
    const slowFailure = async (attempt: number) => {
      seen.push(attempt);
      await new Promise((resolve) => setTimeout(resolve, 900));
      throw transient();
    };
    const policy = resolveRetryOptions({
      attempts: 10,
      baseDelayMs: 100,
      deadlineMs: 2_000,
      random: () => 1,
    });
    const result = settle(withRetry(slowFailure, { policy, classify }));
    await vi.runAllTimersAsync();
    expect((await result).ok).toBe(false);
    // Try 1 ends at 900, sleeps 100; try 2 ends at 1900, a sleep of 200 would end at 2100.
    expect(seen).toEqual([1, 2]);
  });

  it('an abort during the sleep stops at once with AbortedError caused by the last error', async () => {
    const error = transient();
    const { fn, seen } = failing(error, transient());
    const controller = new AbortController();
    const policy = resolveRetryOptions({ baseDelayMs: 1_000, random: () => 1 });
    const result = settle(withRetry(fn, { policy, classify, signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    const outcome = await result;
    expect(outcome.ok).toBe(false);
    const thrown = (outcome as { error: unknown }).error;
    expect(thrown).toBeInstanceOf(AbortedError);
    expect((thrown as AbortedError).cause).toBe(error);
    expect(seen).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an already aborted signal throws AbortedError before any try', async () => {
    const { fn, seen } = failing();
    const signal = AbortSignal.abort();
    await expect(withRetry(fn, { policy: resolveRetryOptions(), classify, signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(seen).toHaveLength(0);
  });

  it('a signal aborted during a retryable try stops before sleeping', async () => {
    const controller = new AbortController();
    const error = transient();
    const fn = vi.fn(async () => {
      controller.abort();
      throw error;
    });
    const outcome = await settle(
      withRetry(fn, { policy: resolveRetryOptions(), classify, signal: controller.signal }),
    );
    expect((outcome as { error: unknown }).error).toBeInstanceOf(AbortedError);
    expect(((outcome as { error: unknown }).error as AbortedError).cause).toBe(error);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('a non-retryable error of an aborted try is rethrown as it is', async () => {
    const controller = new AbortController();
    const error = new AbortedError('the store saw the abort');
    const fn = async () => {
      controller.abort();
      throw error;
    };
    const policy = resolveRetryOptions();
    const aborted = (e: unknown): ErrorClass =>
      e instanceof AbortedError ? { retryable: false, outcome: 'failed' } : classify(e);
    await expect(withRetry(fn, { policy, classify: aborted, signal: controller.signal })).rejects.toBe(error);
  });

  it('with the default random, delays stay within the full-jitter range', async () => {
    const { fn } = failing(transient(), transient(), transient(), transient());
    const delays: number[] = [];
    const policy = resolveRetryOptions({ attempts: 5, baseDelayMs: 40, maxDelayMs: 100 });
    const result = withRetry(fn, { policy, classify, onRetry: (info) => delays.push(info.delayMs) });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    const ceilings = [40, 80, 100, 100];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(ceilings[i]!);
    });
  });
});

describe('withRetry with memoryRecords', () => {
  it('rides out transient failures of the store', async () => {
    const records = memoryRecords<string>();
    records.failNext(2, 'transient');
    const policy = resolveRetryOptions({ random: () => 0.5 });
    const result = withRetry((_attempt, signal) => records.set('k', 'v', signal ? { signal } : {}), {
      policy,
      classify: (e) => records.classifyError(e),
    });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toEqual({ version: 1 });
    expect(records.calls.set).toBe(3);
  });

  it('does not blindly retry a write that committed with an unknown outcome', async () => {
    const records = memoryRecords<string>();
    records.failAfterCommitNext(1);
    const policy = resolveRetryOptions({ random: () => 0 });
    const result = settle(
      withRetry(() => records.set('k', 'v'), { policy, classify: (e) => records.classifyError(e) }),
    );
    await vi.runAllTimersAsync();
    const outcome = await result;
    expect((outcome as { error: unknown }).error).toMatchObject({ outcome: 'unknown' });
    expect(records.calls.set).toBe(1);
    expect(records.peek('k')).toEqual({ found: true, value: 'v', version: 1 });
  });
});
