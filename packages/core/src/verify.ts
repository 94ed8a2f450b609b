/**
 * The shadow verifier (P16): a sampled read first reads the key's version from the record store,
 * then does the normal read, and counts the read as stale when it returned an older version than
 * the record store already held before it began.
 */
import { InvalidArgumentError } from './errors.js';
import { checkNumber, describe } from './options.js';

/** Where a read was served from: L1, L2, or the record store (a load). */
export type ReadTier = 'l1' | 'l2' | 'records';

/** A sampled read that returned an older version than the record store held before it began. */
export interface StaleReadEvent {
  /** The key read. */
  readonly key: string;
  /** The version the read returned: of its value, or of the absence it returned (0: never existed). */
  readonly returned: number;
  /**
   * `older`: the key's version in the record store read before the read began, above `returned`.
   * `never-committed`: the version read again after the read, below `returned` (no commit ever
   * produced what the read returned).
   */
  readonly current: number;
  /** `older`: older than what was committed before the read; `never-committed`: a version the record store never reached. */
  readonly reason: 'older' | 'never-committed';
  /** The tier that served the read (a read that joined a load of this process: that load's). */
  readonly tier: ReadTier;
}

/** The `verify` option of `createCache`. */
export interface VerifyOptions {
  /** Fraction of reads verified, in [0, 1] (each costs one extra record-store read). 0 turns it off. */
  readonly sampleRate: number;
  /** Called for each stale read, after the `stale` event; what it throws is reported as an `error` event. */
  readonly onStale?: (event: StaleReadEvent) => void;
}

/** The verifier's settings once validated. */
export interface ResolvedVerify {
  readonly sampleRate: number;
  readonly onStale: ((event: StaleReadEvent) => void) | undefined;
}

const VERIFY_KEYS = new Set(['sampleRate', 'onStale']);

/** Validates the `verify` option; throws `InvalidArgumentError` naming the field at fault. */
export function resolveVerifyOptions(verify: unknown): ResolvedVerify {
  if (verify === undefined) return { sampleRate: 0, onStale: undefined };
  if (verify === null || typeof verify !== 'object') {
    throw new InvalidArgumentError(
      `verify must be an object { sampleRate, onStale? }, got ${describe(verify)}`,
    );
  }
  for (const key of Object.keys(verify)) {
    if (!VERIFY_KEYS.has(key)) {
      throw new InvalidArgumentError(`unknown option ${JSON.stringify(`verify.${key}`)} for createCache`);
    }
  }
  const { sampleRate, onStale } = verify as { sampleRate?: unknown; onStale?: unknown };
  const rate = checkNumber('verify.sampleRate', sampleRate, { min: 0, max: 1 });
  if (onStale !== undefined && typeof onStale !== 'function') {
    throw new InvalidArgumentError(`verify.onStale must be a function, got ${describe(onStale)}`);
  }
  return { sampleRate: rate, onStale: onStale as ((event: StaleReadEvent) => void) | undefined };
}

/** The version in a record-store answer, or undefined when the answer is malformed. */
export function versionOfRead(read: unknown): number | undefined {
  if (read === null || typeof read !== 'object') return undefined;
  const { found, version } = read as { found?: unknown; version?: unknown };
  if (typeof found !== 'boolean' || typeof version !== 'number') return undefined;
  if (!Number.isSafeInteger(version) || version < 0) return undefined;
  return version;
}
