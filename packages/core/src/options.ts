import type { CacheStore, InvalidationBus, RecordStore } from './contracts.js';
import type { DebugOptions } from './debug.js';
import { InvalidArgumentError } from './errors.js';
import type { RetryOptions } from './retry.js';
import type { Serializer } from './serializer.js';
import type { VerifyOptions } from './verify.js';

/** A validator: a function returning the value (or throwing), or an object with `parse` (a zod schema). */
export type Validator<V> = ((value: unknown) => V) | { parse(value: unknown): V };

/** What the cache does when a tier (L1 or L2) fails. */
export type CacheErrorPolicy =
  /**
   * Reads fall back to the next tier or the database; writes still commit and the key is queued for
   * repair. Available, but a write acknowledged while this instance cannot reach L2 leaves the old
   * value there for other instances until the repair (or the outbox relay) runs.
   */
  | 'fallback'
  /**
   * Reads fall back as with `fallback`; a write whose `beginWrite` cannot reach a shared tier (L2)
   * is refused with `CacheTierError` before the database is touched. No read through L2 is ever
   * older than an acknowledged write, also when only this instance is cut off from Redis.
   */
  | 'fail-writes'
  /** Tier errors are thrown as `CacheTierError`; a write whose `beginWrite` fails is not sent to the database. */
  | 'fail';

/** Options of `createCache`. Durations in milliseconds. */
export interface CacheOptions<V> {
  /** The cache's name: the bus channel's cache field and the label of its stats. Default `default`. */
  readonly name?: string;
  /** The database: the source of truth and of versions. */
  readonly records: RecordStore<V>;
  /** The in-process tier. Default: a `memoryStore` of 10,000 entries; `false` for none. */
  readonly l1?: CacheStore<unknown> | false;
  /** The shared tier (e.g. `redisStore`), optional. Give each cache its own store or namespace. */
  readonly l2?: CacheStore<unknown>;
  /** Invalidates other instances' L1 after each write; while it is disconnected, L1 is cleared and bypassed. */
  readonly bus?: InvalidationBus;
  /** Time to live of cached values. Default 300,000 (5 min). */
  readonly ttlMs?: number;
  /** Time to live of L1 entries. Default: `ttlMs` with no L2 and no bus, else min(`ttlMs`, 5,000) — the bound on L1 staleness when bus messages are lost. */
  readonly l1TtlMs?: number;
  /** Time to live of cached absences ("not found"). Default min(`ttlMs`, 60,000). */
  readonly absentTtlMs?: number;
  /** Each TTL is shortened by a random fraction up to this (0..1), so entries filled together do not expire together. Default 0.1. */
  readonly ttlJitter?: number;
  /** Lifetime of a fill lease; must outlast a database read. Default 5,000. */
  readonly leaseTtlMs?: number;
  /** Lifetime of a write mark; must outlast a database write (set it above your statement timeout). Default 30,000. */
  readonly markTtlMs?: number;
  /** While another caller holds the fill lease: how many times to look again, and the first delay (doubling). Default 3 × 5 ms, then read the database without filling. */
  readonly leaseWait?: { readonly attempts?: number; readonly delayMs?: number };
  /** Retry of record-store calls (transient errors only). `false` disables it. */
  readonly retry?: RetryOptions | false;
  /**
   * Write batching: concurrent unconditional `set`s are sent as one `setMany`. Default off. A batch
   * goes at the end of the event-loop turn while fewer than `maxInFlight` (4) are in flight; else
   * when one of those finishes or after `maxWaitMs` (2), whichever is first; at once at `maxSize`
   * (64) keys.
   */
  readonly batch?:
    | { readonly maxSize?: number; readonly maxWaitMs?: number; readonly maxInFlight?: number }
    | false;
  /** Checks (and may transform) every value before anything is written; a zod schema works as it is. */
  readonly validate?: Validator<V>;
  /** Encodes values for serialized tiers and copies them for L1. Default JSON. */
  readonly serializer?: Serializer;
  /** Largest key, in UTF-8 bytes. Default 1,024. */
  readonly maxKeyBytes?: number;
  /** Largest serialized value, in UTF-8 bytes. Default 1,048,576 (1 MiB). */
  readonly maxValueBytes?: number;
  /** What a tier failure does. Default `fallback`. */
  readonly onCacheError?: CacheErrorPolicy;
  /** After this many consecutive failures a tier is skipped for `breakerOpenMs`. Default 3 and 1,000. */
  readonly breakerFailures?: number;
  readonly breakerOpenMs?: number;
  /** Keys queued for repair while a tier is unreachable; past this the whole tier is cleared when it returns. Default 100,000. */
  readonly maxRepairs?: number;
  /** How often the repair queue is retried. Default 1,000. */
  readonly repairIntervalMs?: number;
  /** Returned values are deep-frozen so callers cannot corrupt the cache (default true). `false` shares them as they are. */
  readonly freezeValues?: boolean;
  /**
   * The shadow verifier: this fraction of reads first reads the key's version from the record store
   * (one extra record-store read each) and counts the read as stale if it returns an older version
   * (`stats().verify`, the `stale` event, `onStale`). Default off.
   */
  readonly verify?: VerifyOptions;
  /** This instance's id on the bus (default: random). */
  readonly instanceId?: string;
  /** Test switches and pause points; never in production. */
  readonly debug?: DebugOptions;
}

/** Throws `InvalidArgumentError` unless `value` is a finite number within [min, max] (an integer when `integer`). */
export function checkNumber(
  name: string,
  value: unknown,
  {
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
    integer = false,
  }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidArgumentError(`${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) && value !== max) {
    throw new InvalidArgumentError(`${name} must be finite, got ${value}`);
  }
  if (value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  if (integer && !Number.isInteger(value)) {
    throw new InvalidArgumentError(`${name} must be an integer, got ${value}`);
  }
  return value;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `${typeof value} ${String(value)}`;
}

/** Checks that `value` is a store with the named methods. */
export function checkStore(name: string, value: unknown, methods: readonly string[]): void {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(
      `${name} must be an object with ${methods.join(', ')}, got ${describe(value)}`,
    );
  }
  for (const m of methods) {
    if (typeof (value as Record<string, unknown>)[m] !== 'function') {
      throw new InvalidArgumentError(`${name} must have a ${m}() method`);
    }
  }
}

const KNOWN_OPTIONS = new Set([
  'name',
  'records',
  'l1',
  'l2',
  'bus',
  'ttlMs',
  'l1TtlMs',
  'absentTtlMs',
  'ttlJitter',
  'leaseTtlMs',
  'markTtlMs',
  'leaseWait',
  'retry',
  'batch',
  'validate',
  'serializer',
  'maxKeyBytes',
  'maxValueBytes',
  'onCacheError',
  'breakerFailures',
  'breakerOpenMs',
  'maxRepairs',
  'repairIntervalMs',
  'freezeValues',
  'instanceId',
  'verify',
  'debug',
]);

/** Refuses option names the cache does not know (a typo would otherwise be silently ignored). */
export function checkKnownOptions(options: object): void {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new InvalidArgumentError(`unknown option ${JSON.stringify(key)} for createCache`);
    }
  }
}
