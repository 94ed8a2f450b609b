/** Small helpers the package's option parsing and connection handling share. */
import { InvalidArgumentError } from '@writethrough/core';

/** `value` when it is a safe integer >= `min`, `fallback` when undefined; else `InvalidArgumentError` naming `name`. */
export function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Runs `promise` with a bound; rejects with `error()` when it does not settle in time. */
export function bounded<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (cause) => {
        clearTimeout(timer);
        reject(cause);
      },
    );
  });
}
