/**
 * The history a chaos run records, and how it is read back.
 *
 * Every instance process appends NDJSON lines to its own file with a synchronous write, so a line
 * written before a SIGKILL is on disk after it. An operation is two lines: `invoke` before the
 * call starts and `complete` after it settles. An operation with no `complete` line was cut off
 * (its process was killed): a write then has the outcome `info` (it may have taken effect at any
 * time after its invoke), a read is dropped.
 *
 * Times are nanoseconds of `process.hrtime.bigint()` minus the run's base, which the orchestrator
 * passes to every process (`WT_CHAOS_BASE`): CLOCK_MONOTONIC, one clock for every process of the host.
 */
import { readFileSync } from 'node:fs';

/** Jepsen's three outcomes: committed and acknowledged, definitely not committed, unknown. */
export type Outcome = 'ok' | 'fail' | 'info';

/** What a read call was (an `L1` hit is answered synchronously by the instance's memory tier). */
export type ReadTier = 'l1' | 'other';

/** A write operation kind: `cas` is a `set` with `ifVersion`; `many` is one key of a `setMany`. */
export type WriteKind = 'set' | 'delete' | 'cas' | 'many';

/** The value every write stores: `w` is the write's unique id (the operation id). */
export interface ChaosValue {
  readonly w: string;
}

/** Fields every operation has. */
interface OpBase {
  /** Unique in the run: `i<instance>.<incarnation>.c<client>.<seq>` (a `many` write adds `.<index>`). */
  readonly id: string;
  /** 0, 1, 2: the instance process. */
  readonly instance: number;
  /** How many times that instance was started before this one (0 for the first process). */
  readonly incarnation: number;
  /** The client within the instance. */
  readonly client: number;
  readonly key: string;
  /** Nanoseconds since the run's base. */
  readonly invoke: number;
  /** Nanoseconds since the run's base; `Infinity` when the process died first. */
  readonly complete: number;
  readonly outcome: Outcome;
  /** The error's name when the call rejected (`VersionConflictError`, `UnknownOutcomeError`, ...). */
  readonly error?: string;
}

/** A read: `value` is the writer id it returned (`null` for an absent key). */
export interface ReadOp extends OpBase {
  readonly type: 'read';
  readonly tier: ReadTier;
  /** The `w` of the value read, or `null` when the key was absent (only when the outcome is `ok`). */
  readonly value?: string | null;
  /** The version read (absent keys: undefined, the engine does not return it). */
  readonly version?: number;
}

/** A write: `set`, `cas` and `many` write the value `{ w: id }`; `delete` writes a tombstone. */
export interface WriteOp extends OpBase {
  readonly type: 'write';
  readonly kind: WriteKind;
  /** For `many`: the id shared by the keys of one `setMany` (one transaction). */
  readonly txn?: string;
  /** For `cas`: the version the write was conditional on. */
  readonly ifVersion?: number;
  /** The committed version (outcome `ok`). */
  readonly version?: number;
}

export type Op = ReadOp | WriteOp;

/** A load of the record store by an instance (one `records.get`/`getMany` call, per key): for K5. */
export interface LoadEvent {
  readonly instance: number;
  readonly incarnation: number;
  readonly key: string;
  readonly start: number;
  /** `Infinity` when the process died first. */
  readonly end: number;
}

/** A fault the orchestrator injected: for the verdict table and for K2/K6 windows. */
export interface FaultEvent {
  readonly name: string;
  /** The target (`instance 1`, `redis`, `postgres proxy of instance 2`, ...). */
  readonly target: string;
  readonly start: number;
  /** When the fault was healed. */
  readonly end: number;
  /** Whether the fault was seen to take effect, and how (`SIGKILL delivered, exit by signal`, ...). */
  readonly confirmed: boolean;
  readonly evidence: string;
}

/** The lines of a history file. */
export type HistoryLine =
  | ({ readonly ev: 'invoke' } & Omit<ReadOp, 'complete' | 'outcome' | 'value' | 'version' | 'error'>)
  | ({ readonly ev: 'invoke' } & Omit<WriteOp, 'complete' | 'outcome' | 'version' | 'error'>)
  | {
      readonly ev: 'complete';
      readonly id: string;
      readonly complete: number;
      readonly outcome: Outcome;
      readonly value?: string | null;
      readonly version?: number;
      readonly tier?: ReadTier;
      readonly error?: string;
    }
  | {
      readonly ev: 'load-start';
      readonly id: string;
      readonly instance: number;
      readonly incarnation: number;
      readonly key: string;
      readonly start: number;
    }
  | { readonly ev: 'load-end'; readonly id: string; readonly end: number }
  | ({ readonly ev: 'fault' } & FaultEvent);

/** A whole run's history, merged from every file. */
export interface History {
  readonly ops: Op[];
  readonly loads: LoadEvent[];
  readonly faults: FaultEvent[];
}

/** Merges NDJSON history text (any number of files' contents) into operations, loads and faults. */
export function parseHistory(texts: readonly string[]): History {
  const invokes = new Map<string, Record<string, unknown>>();
  const completes = new Map<string, Record<string, unknown>>();
  const loadStarts = new Map<string, Record<string, unknown>>();
  const loadEnds = new Map<string, number>();
  const faults: FaultEvent[] = [];
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a torn last line of a killed process
      }
      const id = parsed.id as string;
      switch (parsed.ev) {
        case 'invoke':
          invokes.set(id, parsed);
          break;
        case 'complete':
          completes.set(id, parsed);
          break;
        case 'load-start':
          loadStarts.set(id, parsed);
          break;
        case 'load-end':
          loadEnds.set(id, parsed.end as number);
          break;
        case 'fault': {
          const { ev: _ev, ...fault } = parsed;
          faults.push(fault as unknown as FaultEvent);
          break;
        }
      }
    }
  }
  const ops: Op[] = [];
  for (const [id, invoke] of invokes) {
    const { ev: _ev, ...base } = invoke;
    const done = completes.get(id);
    if (done === undefined) {
      if (base.type === 'read') continue;
      ops.push({ ...base, complete: Number.POSITIVE_INFINITY, outcome: 'info' } as unknown as Op);
      continue;
    }
    const { ev: _done, id: _id, ...result } = done;
    ops.push({ ...base, ...result } as unknown as Op);
  }
  ops.sort((a, b) => a.invoke - b.invoke);
  const loads: LoadEvent[] = [];
  for (const [id, start] of loadStarts) {
    loads.push({
      instance: start.instance as number,
      incarnation: start.incarnation as number,
      key: start.key as string,
      start: start.start as number,
      end: loadEnds.get(id) ?? Number.POSITIVE_INFINITY,
    });
  }
  faults.sort((a, b) => a.start - b.start);
  return { ops, loads, faults };
}

/** Reads and merges history files. */
export function readHistory(paths: readonly string[]): History {
  return parseHistory(paths.map((p) => readFileSync(p, 'utf8')));
}

/** Nanoseconds since the run's base (`WT_CHAOS_BASE`, a `process.hrtime.bigint()` of the orchestrator). */
export function clock(base: bigint): () => number {
  return () => Number(process.hrtime.bigint() - base);
}
