/**
 * Coded errors. Every error the library throws is a `WriteThroughError` with a stable `code`,
 * the `key` it concerns (when there is one) and the underlying `cause`.
 */

/** Context every error may carry. */
export interface ErrorContext {
  /** The cache key the failed call was about. */
  readonly key?: string | undefined;
  /** The underlying error. */
  readonly cause?: unknown;
}

/** Base class of every error thrown by writethrough. */
export class WriteThroughError extends Error {
  /** A stable machine-readable code, `WT_…`. */
  readonly code: string = 'WT_ERROR';
  /** The key the failed call was about, if any. */
  readonly key: string | undefined;

  constructor(message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.key = context.key;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** A key, a TTL, an option or another argument is invalid; nothing was read or written. */
export class InvalidArgumentError extends WriteThroughError {
  override readonly code = 'WT_INVALID_ARGUMENT';
}

/** The value was refused by the cache's validator; nothing was written. */
export class ValidationError extends WriteThroughError {
  override readonly code = 'WT_VALIDATION';
}

/** The serializer could not encode or decode a value; nothing was written. */
export class SerializationError extends WriteThroughError {
  override readonly code = 'WT_SERIALIZATION';
}

/** A key or a serialized value is larger than the configured limit; nothing was written. */
export class SizeLimitError extends WriteThroughError {
  override readonly code = 'WT_SIZE_LIMIT';
  /** The size found, in bytes. */
  readonly size: number;
  /** The configured limit, in bytes. */
  readonly limit: number;

  constructor(message: string, size: number, limit: number, context: ErrorContext = {}) {
    super(message, context);
    this.size = size;
    this.limit = limit;
  }
}

/** A conditional write (`ifVersion`) found another version in the database; nothing was written. */
export class VersionConflictError extends WriteThroughError {
  override readonly code = 'WT_VERSION_CONFLICT';
  /** The version the caller expected. */
  readonly expectedVersion: number;
  /** The key's current version in the database (0 when it does not exist). */
  readonly currentVersion: number;

  constructor(expectedVersion: number, currentVersion: number, context: ErrorContext = {}) {
    super(
      `version conflict on key ${JSON.stringify(context.key ?? '')}: expected version ${expectedVersion}, ` +
        `the database has ${currentVersion}; read the key again and retry with its version`,
      context,
    );
    this.expectedVersion = expectedVersion;
    this.currentVersion = currentVersion;
  }
}

/** Options of a `RecordStoreError`. */
export interface RecordStoreErrorOptions extends ErrorContext {
  /** Retrying the same call may succeed. Default false. */
  readonly retryable?: boolean;
  /** `unknown` when a write may have committed. Default `failed`. */
  readonly outcome?: 'failed' | 'unknown';
  /** How many attempts were made before giving up. */
  readonly attempts?: number;
}

/** The record store failed a call. `retryable` and `outcome` say how the engine treated it. */
export class RecordStoreError extends WriteThroughError {
  override readonly code: string = 'WT_RECORD_STORE';
  /** Retrying the same call may succeed. */
  readonly retryable: boolean;
  /** `unknown` when a write may have committed. */
  readonly outcome: 'failed' | 'unknown';
  /** Attempts made (1 when not retried). */
  readonly attempts: number;

  constructor(message: string, options: RecordStoreErrorOptions = {}) {
    super(message, options);
    this.retryable = options.retryable ?? false;
    this.outcome = options.outcome ?? 'failed';
    this.attempts = options.attempts ?? 1;
  }
}

/**
 * A write may or may not have committed (a timeout or reset while the commit was in flight).
 * The key was invalidated in every tier before this was thrown, so no stale or phantom value is
 * served; read the key to learn the outcome.
 */
export class WriteOutcomeUnknownError extends WriteThroughError {
  override readonly code = 'WT_WRITE_OUTCOME_UNKNOWN';
}

/** A cache tier failed and the cache was configured with `onCacheError: 'fail'`. */
export class CacheTierError extends WriteThroughError {
  override readonly code = 'WT_CACHE_TIER';
  /** Which tier failed: `l1` or `l2`. */
  readonly tier: string;

  constructor(message: string, tier: string, context: ErrorContext = {}) {
    super(message, context);
    this.tier = tier;
  }
}

/** The call was aborted by its `AbortSignal` or ran past its deadline. */
export class AbortedError extends WriteThroughError {
  override readonly code = 'WT_ABORTED';
}

/** The cache was closed; no call is accepted after `close()`. */
export class CacheClosedError extends WriteThroughError {
  override readonly code = 'WT_CACHE_CLOSED';
}

/** Every error class, by code. */
export const errors = {
  WT_ERROR: WriteThroughError,
  WT_INVALID_ARGUMENT: InvalidArgumentError,
  WT_VALIDATION: ValidationError,
  WT_SERIALIZATION: SerializationError,
  WT_SIZE_LIMIT: SizeLimitError,
  WT_VERSION_CONFLICT: VersionConflictError,
  WT_RECORD_STORE: RecordStoreError,
  WT_WRITE_OUTCOME_UNKNOWN: WriteOutcomeUnknownError,
  WT_CACHE_TIER: CacheTierError,
  WT_ABORTED: AbortedError,
  WT_CACHE_CLOSED: CacheClosedError,
} as const;

/** The codes of `errors`. */
export type ErrorCode = keyof typeof errors;
