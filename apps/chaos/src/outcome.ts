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
    default:
      // WriteOutcomeUnknownError, timeouts, aborts and anything unrecognised.
      return 'info';
  }
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
