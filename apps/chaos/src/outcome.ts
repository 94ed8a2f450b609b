/**
 * How an error of a cache call maps to Jepsen's outcomes: `fail` only when the write certainly did
 * not commit; anything the harness cannot prove definite is `info` (it may have taken effect).
 */
import type { Outcome } from './history.js';

/** The outcome of a write that rejected with `error`. */
export function writeOutcome(error: unknown): Outcome {
  const name = errorName(error);
  switch (name) {
    case 'VersionConflictError':
    case 'ValidationError':
    case 'InvalidArgumentError':
    case 'SerializationError':
    case 'SizeLimitError':
      return 'fail';
    case 'RecordStoreError':
      return (error as { outcome?: unknown }).outcome === 'failed' ? 'fail' : 'info';
    case 'CacheTierError':
      // `onCacheError: 'fail-writes'` refuses a write whose beginWrite could not reach L2, before
      // the database; a tier error after the commit (only under 'fail') is of a committed write.
      return notSent(error) ? 'fail' : 'info';
    default:
      // WriteOutcomeUnknownError, timeouts, aborts and anything unrecognised.
      return 'info';
  }
}

/**
 * The outcome of one key of a `setMany` that rejected with `error`. The batch's keys are refused
 * (or not) one by one before the database transaction, and the error names the first refused key:
 * that key certainly failed, while the others may have been sent and committed. Any other error
 * is the whole transaction's.
 */
export function setManyOutcome(error: unknown, key: string): Outcome {
  if (errorName(error) === 'CacheTierError' && notSent(error)) {
    return (error as { key?: unknown }).key === key ? 'fail' : 'info';
  }
  return writeOutcome(error);
}

/** Whether a `CacheTierError` says the write never reached the database. */
function notSent(error: unknown): boolean {
  return errorMessage(error).includes('the write was not sent');
}

/** The name recorded in the history for an error. */
export function errorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error;
}

/** A short message for logs and probes. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
