/**
 * The IPC protocol between the orchestrator and an instance process: requests carry an id, and
 * each gets exactly one reply with that id. The instance also sends `ready` once, when its cache
 * answered a first read, and, for the `instance-kill-cut` fault, asks the orchestrator to cut its
 * Redis data proxy (`cut-redis`, answered by one `cut-done` with the same id).
 */
import type { VerifyStats } from '@writethrough/core';
import type { TierEntryDump } from './check/index.js';

/** A request from the orchestrator. */
export type Request =
  /** The instance's clock now (ns since the run's base), for the clock agreement check. */
  | { readonly type: 'clock' }
  /** Start (or resume) the clients. */
  | { readonly type: 'start' }
  /** Stop issuing operations; replies once every client is idle (or `timeoutMs` passed). */
  | { readonly type: 'pause'; readonly timeoutMs: number }
  /**
   * The next write to commit kills this process (SIGKILL) after its commit, before the tiers. With
   * `cut`: the next plain `set` first asks for its Redis data proxy to be cut once its `beginWrite`
   * succeeded (`cut-redis`), waits for `cut-done`, and its own commit kills the process.
   */
  | { readonly type: 'arm-crash'; readonly cut?: boolean }
  /** Reads these keys through the cache (fills the tiers before a probe). */
  | { readonly type: 'read'; readonly keys: readonly string[] }
  /** This instance's L1 entries of these keys (all keys of the run when absent). */
  | { readonly type: 'dump-l1'; readonly keys: readonly string[] }
  /** A write the database refuses (the run's trigger rejects values whose `w` starts with `poison`). */
  | { readonly type: 'poison'; readonly key: string; readonly id: string }
  /** Counters of the cache, the Redis store, the bus and the relay. */
  | { readonly type: 'stats' }
  /** Stops the clients, closes everything and exits 0. */
  | { readonly type: 'stop' };

/** A request as sent: with its id. */
export type RequestMessage = Request & { readonly rid: number };

/** The reply to a request. */
export type Reply =
  | { readonly rid: number; readonly ok: true; readonly result: unknown }
  | { readonly rid: number; readonly ok: false; readonly error: string };

/** Messages an instance sends on its own. */
export type Notice =
  | { readonly type: 'ready' }
  | { readonly type: 'fatal'; readonly error: string }
  /** Cut my Redis data proxy now (a write of `key` has begun on L2); answer with `cut-done`. */
  | { readonly type: 'cut-redis'; readonly cid: number; readonly key: string };

/** The orchestrator's answer to `cut-redis`: the proxy is cut (`ok`), or why not. */
export interface CutDone {
  readonly type: 'cut-done';
  readonly cid: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** What `pause` answers. */
export interface PauseResult {
  /** Clients still in an operation when the wait ended (0 when all went idle). */
  readonly busy: number;
  /** Ids of those operations. */
  readonly busyOps: readonly string[];
}

/** What `poison` answers: the write's outcome and error as recorded in the history. */
export interface PoisonResult {
  readonly outcome: 'ok' | 'fail' | 'info';
  readonly error?: string;
  readonly message?: string;
  readonly invoke: number;
  readonly complete: number;
}

/** What `dump-l1` answers: entries by key (keys with no entry are left out). */
export type L1Dump = Record<string, TierEntryDump>;

/** What `stats` answers. */
export interface InstanceStats {
  readonly ops: number;
  readonly opsInFlight: number;
  readonly verify?: VerifyStats;
  readonly verifyAvailable: boolean;
  readonly redisStore: Record<string, number>;
  readonly bus: Record<string, number>;
  readonly relay: Record<string, number>;
  readonly cache: { l1Hits: number; l2Hits: number; busDisconnects: number };
  readonly tierErrors: number;
}
