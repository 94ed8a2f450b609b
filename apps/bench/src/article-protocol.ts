/**
 * What the `article` benchmark and its worker processes share: the patterns, a worker's
 * configuration (passed as JSON in `WT_ARTICLE_WORKER`) and the IPC messages.
 */

/** The patterns of the article's table. */
export const PATTERNS = ['write-through', 'write-back', 'cache-aside', 'read-through', 'no-cache'] as const;
export type PatternName = (typeof PATTERNS)[number];

/** What a worker is told to do. */
export interface WorkerConfig {
  readonly pattern: PatternName;
  readonly instance: number;
  readonly clients: number;
  /** How long the clients run after `go`, ms. */
  readonly durationMs: number;
  /** Operations per client at most (the run ends at whichever bound comes first). */
  readonly maxOpsPerClient: number;
  /** Share of reads, in [0, 1]. */
  readonly readShare: number;
  readonly keys: number;
  readonly zipfS: number;
  readonly seed: number;
  /** Keys are `${keyPrefix}${rank}`. */
  readonly keyPrefix: string;
  readonly databaseUrl: string;
  readonly schema: string;
  readonly table: string;
  readonly redisPrefix: string;
  /** Time to live of cache-aside and read-through entries, ms. */
  readonly ttlMs: number;
  readonly writeBack: { readonly flushMs: number; readonly maxBatch: number };
  readonly historyPath: string;
  /** `process.hrtime.bigint()` of the parent, as a decimal string. */
  readonly base: string;
  /** Write each history line synchronously and report acknowledged writes (the kill phase). */
  readonly syncHistory: boolean;
}

/** Messages a worker sends. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'acked'; readonly writes: number }
  | { readonly type: 'done'; readonly ops: number; readonly elapsedMs: number; readonly note: string };

/** What the parent sends. */
export type ParentMessage = { readonly type: 'go' };
