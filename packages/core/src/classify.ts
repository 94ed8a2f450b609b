import type { ErrorClass, RecordStore } from './contracts.js';
import { AbortedError, RecordStoreError, VersionConflictError, WriteThroughError } from './errors.js';

const FAILED: ErrorClass = { retryable: false, outcome: 'failed' };
const UNKNOWN: ErrorClass = { retryable: false, outcome: 'unknown' };

/**
 * How the engine treats an error thrown by a record store without `classifyError`:
 * `RecordStoreError` by its flags; conflicts, aborts and other writethrough errors as definite
 * failures; anything else as an unknown outcome — the safe side for a write, since an unclassified
 * error may have come after the commit.
 */
export function classifyError(error: unknown): ErrorClass {
  if (error instanceof RecordStoreError) return { retryable: error.retryable, outcome: error.outcome };
  if (error instanceof VersionConflictError || error instanceof AbortedError) return FAILED;
  if (error instanceof WriteThroughError) return FAILED;
  return UNKNOWN;
}

/** The classifier of `records`: its own `classifyError` when it has one, else `classifyError`. */
export function classifierOf(records: RecordStore<unknown>): (error: unknown) => ErrorClass {
  const own = records.classifyError?.bind(records);
  if (own === undefined) return classifyError;
  return (error) => {
    if (error instanceof VersionConflictError || error instanceof AbortedError) return FAILED;
    return own(error);
  };
}
