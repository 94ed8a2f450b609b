/**
 * What the checkers share: the history partitioned by key, and the sorted-sweep helpers that keep
 * every check O(n log n) per key.
 */
import type { Op, ReadOp, WriteOp } from '../history.js';

/** One key's operations, each list in invoke order (the history's order). */
export interface KeyOps {
  readonly reads: ReadOp[];
  readonly writes: WriteOp[];
}

/** Partitions operations by key (P-compositionality: each key is a register of its own). */
export function byKey(ops: readonly Op[]): Map<string, KeyOps> {
  const keys = new Map<string, KeyOps>();
  for (const op of ops) {
    let entry = keys.get(op.key);
    if (entry === undefined) {
      entry = { reads: [], writes: [] };
      keys.set(op.key, entry);
    }
    if (op.type === 'read') entry.reads.push(op);
    else entry.writes.push(op);
  }
  return keys;
}

/** Whether a write stores a value (`{ w: id }`) rather than a tombstone. */
export function writesValue(write: WriteOp): boolean {
  return write.kind !== 'delete';
}

/** The value a read returned: a writer id, or `null` for an absent key. */
export function readValue(read: ReadOp): string | null {
  return read.value ?? null;
}

/** A sortable point: time `t` (ns), a version `v`, and what carried it. */
export interface Point<T> {
  readonly t: number;
  readonly v: number;
  readonly ref: T;
}

/**
 * The running maximum of versions over points sorted by time: `below(x)` is the highest version
 * of the points with `t < x`, and `firstAbove(v, x)` the earliest point with `t < x` and a version
 * above `v` (the running maximum is monotone, so both are binary searches).
 */
export class PrefixMax<T> {
  readonly #times: Float64Array;
  readonly #max: Float64Array;
  readonly #argmax: T[];
  readonly #points: Point<T>[];

  constructor(points: readonly Point<T>[]) {
    this.#points = [...points].sort((a, b) => a.t - b.t);
    const n = this.#points.length;
    this.#times = new Float64Array(n);
    this.#max = new Float64Array(n);
    this.#argmax = new Array<T>(n);
    let best = Number.NEGATIVE_INFINITY;
    let arg: T | undefined;
    for (let i = 0; i < n; i++) {
      const p = this.#points[i]!;
      this.#times[i] = p.t;
      if (p.v > best) {
        best = p.v;
        arg = p.ref;
      }
      this.#max[i] = best;
      this.#argmax[i] = arg as T;
    }
  }

  /** The highest version among points with `t < x`, and its carrier (undefined when there are none). */
  below(x: number): { readonly v: number; readonly ref: T } | undefined {
    const n = countBelow(this.#times, x);
    if (n === 0) return undefined;
    return { v: this.#max[n - 1]!, ref: this.#argmax[n - 1]! };
  }

  /** The earliest point with `t < x` whose version is above `v` (undefined when there is none). */
  firstAbove(v: number, x: number): Point<T> | undefined {
    const n = countBelow(this.#times, x);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#max[mid]! > v) hi = mid;
      else lo = mid + 1;
    }
    return lo < n ? this.#points[lo] : undefined;
  }
}

/** How many of the ascending `times` are below `x`. */
function countBelow(times: Float64Array, x: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The non-failed deletes of one key, for judging a read of absence: could a delete with a version
 * above `floor` have taken effect before a read that completed at `before`? An `info` delete (or
 * one without a version) may have taken effect at any time after its invoke, at a version above
 * anything, so it gets the benefit of the doubt.
 */
export class Deletes {
  readonly #known: PrefixMax<WriteOp>;
  readonly #firstUnknown: number;

  constructor(writes: readonly WriteOp[]) {
    const known: Point<WriteOp>[] = [];
    let firstUnknown = Number.POSITIVE_INFINITY;
    for (const w of writes) {
      if (w.kind !== 'delete' || w.outcome === 'fail') continue;
      if (w.outcome === 'ok' && w.version !== undefined) known.push({ t: w.invoke, v: w.version, ref: w });
      else firstUnknown = Math.min(firstUnknown, w.invoke);
    }
    this.#known = new PrefixMax(known);
    this.#firstUnknown = firstUnknown;
  }

  /** Whether a delete invoked before `before` could have a version above `floor`. */
  couldDeleteAbove(floor: number, before: number): boolean {
    if (this.#firstUnknown < before) return true;
    const best = this.#known.below(before);
    return best !== undefined && best.v > floor;
  }

  /** The highest version an absent read completed at `before` may reflect (`Infinity`: an unknown delete). */
  absenceVersion(before: number): number {
    if (this.#firstUnknown < before) return Number.POSITIVE_INFINITY;
    return this.#known.below(before)?.v ?? 0;
  }
}
