/**
 * Test switches and pause points. They exist to prove the race tests: each guard of the
 * protocol can be turned off so that its test is seen to fail, and named pause points let a test
 * force an interleaving. Never set them in production.
 */

/** Engine-side guards that `debug.unsafeDisable` can turn off. */
export type EngineGuard =
  /** R10: same-key writes of one process are serialized in call order. */
  | 'key-lock'
  /** Fix 2: a read that returns a version it did not install reports it with `invalidate(v)`. */
  | 'report'
  /** R8: an unknown outcome keeps the write mark and invalidates every tier (off: treated as a plain failure). */
  | 'unknown-outcome'
  /** R8: a call whose earlier try had an unknown outcome stays unknown when a later try fails definitely. */
  | 'unknown-across-retries'
  /** R8: a value read from the database while a lower tier had a write in flight is not filled into an upper tier. */
  | 'settled-fill'
  /** R3 on other instances: a write announces itself on the bus when it begins, so their L1 copies go first. */
  | 'publish-begin'
  /** L1 monotonic reads: a read that bypassed L1 (bus down) still reports its version to L1. */
  | 'bypass-report'
  /** L1 and the bus: a MISS_WAIT retry looks at the bypass again before it asks L1. */
  | 'wait-bypass'
  /** R3: `beginWrite` before the database write (off: tiers are only updated after the commit). */
  | 'write-marks'
  /** R5: a bus message raises the L1 floor and revokes its lease (off: only a cached L1 entry is dropped). */
  | 'bus-floor'
  /** R11: a cached absence carries the version it was read at (off: it is treated as current forever). */
  | 'absence-version'
  /** Single flight: a read joins only a load that began after it was invoked (off: any load of the key in flight). */
  | 'join-earlier-load';

/** Where a test can pause the engine (the hook is awaited there). */
export type PausePoint =
  /** A write holds its key lock and is about to call `beginWrite`. */
  | 'beforeBegin'
  /** `beginWrite` is done on every tier; the database write comes next. */
  | 'afterBegin'
  /** The database committed (or refused); the tiers are updated next. */
  | 'afterCommit'
  /** The tiers were updated; the bus publish and the acknowledgement come next. */
  | 'beforeAck'
  /** A read loaded from the database and is about to fill (or report to) the tiers. */
  | 'afterRecordRead'
  /** A bus message arrived and is about to be applied to L1. */
  | 'beforeL1Apply';

/** What a pause-point hook is told. */
export interface PauseInfo {
  /** The point reached. */
  readonly point: PausePoint;
  /** The key concerned. */
  readonly key: string;
  /** The version at hand, when known (after a commit or a read). */
  readonly version?: number;
}

/** The `debug` option of `createCache`. */
export interface DebugOptions {
  /** Called (and awaited) at each named point. */
  readonly hooks?: Partial<Record<PausePoint, (info: PauseInfo) => void | Promise<void>>>;
  /** Guards to turn off, to show that a race test fails without them. */
  readonly unsafeDisable?: readonly EngineGuard[];
}
