/**
 * K2: the staleness of L1 reads, and the order facts L1 must keep (research/semantics.md §3.2, P4).
 *
 * For each `ok` read with tier `l1`, lag = invoke(read) − complete(the first `ok` write, by
 * completion, whose version is above the read's and that completed before the read was invoked),
 * 0 when there is none. A read of absence stands for the highest version of an `ok` delete invoked
 * before it completed (0 when none); with an `info` delete invoked before it completed its lag is 0
 * (that delete may have committed above everything). The lag is data, reported as percentiles, and
 * never asserted: CI asserts only order facts, per key and per instance incarnation (a restarted
 * process starts with an empty L1):
 * - `l1-read-your-writes`: an L1 read invoked after an `ok` write of the same incarnation completed
 *   has a version at least that write's (an absence needs a delete that could be above it).
 * - `l1-non-monotonic`: an L1 read invoked after an earlier read (any tier) of the same incarnation
 *   completed has a version at least that read's (an absence needs a delete that could be above it).
 * A read gets at most one of the two, read-your-writes first.
 */
import type { History, ReadOp, WriteOp } from '../history.js';
import { byKey, Deletes, type KeyOps, type Point, PrefixMax, readValue, writesValue } from './by-key.js';
import { percentiles } from './percentiles.js';
import type { K2Result, Violation } from './types.js';

/** K2 over a whole history. */
export function checkStaleness(history: History): K2Result {
  const violations: Violation[] = [];
  const lags: number[] = [];
  let l1Reads = 0;
  for (const [key, ops] of byKey(history.ops)) l1Reads += checkKey(key, ops, lags, violations);
  let staleL1Reads = 0;
  for (const lag of lags) if (lag > 0) staleL1Reads++;
  return { l1Reads, lag: percentiles(lags), staleL1Reads, violations };
}

function incarnationOf(op: ReadOp | WriteOp): string {
  return `${op.instance}.${op.incarnation}`;
}

function checkKey(key: string, { reads, writes }: KeyOps, lags: number[], violations: Violation[]): number {
  const okWrites = writes.filter((w) => w.outcome === 'ok' && w.version !== undefined);
  const okVersion = new Map<string, number>();
  for (const w of okWrites) if (writesValue(w)) okVersion.set(w.id, w.version!);
  const deletes = new Deletes(writes);
  const versionOf = (r: ReadOp): number | undefined => {
    const value = readValue(r);
    return value === null ? undefined : (r.version ?? okVersion.get(value));
  };

  const acked = new PrefixMax<WriteOp>(okWrites.map((w) => ({ t: w.complete, v: w.version!, ref: w })));
  const ownWrites = new Map<string, Point<WriteOp>[]>();
  for (const w of okWrites) push(ownWrites, incarnationOf(w), { t: w.complete, v: w.version!, ref: w });
  const ownReads = new Map<string, Point<ReadOp>[]>();
  const l1 = new Map<string, ReadOp[]>();
  for (const r of reads) {
    if (r.outcome !== 'ok') continue;
    const v = versionOf(r);
    if (v !== undefined) push(ownReads, incarnationOf(r), { t: r.complete, v, ref: r });
    if (r.tier === 'l1') push(l1, incarnationOf(r), r);
  }

  let count = 0;
  for (const [incarnation, l1Reads] of l1) {
    const wrote = new PrefixMax(ownWrites.get(incarnation) ?? []);
    const read = new PrefixMax(ownReads.get(incarnation) ?? []);
    for (const r of l1Reads) {
      count++;
      const absent = readValue(r) === null;
      const v = absent ? deletes.absenceVersion(r.complete) : versionOf(r);
      if (v !== undefined) {
        const newer = acked.firstAbove(v, r.invoke);
        lags.push(newer === undefined ? 0 : r.invoke - newer.t);
      }
      // Whether the read is at least `floor`, which a value (true) or a delete (false) set.
      const atLeast = (floor: number, value: boolean): boolean =>
        absent ? !value || deletes.couldDeleteAbove(floor, r.complete) : v === undefined || v >= floor;
      const own = wrote.below(r.invoke);
      if (own !== undefined && !atLeast(own.v, writesValue(own.ref))) {
        violations.push({
          check: 'K2',
          kind: 'l1-read-your-writes',
          key,
          opId: r.id,
          detail: `L1 read ${r.id} returned ${describe(r, v)}, after ${own.ref.id} of the same instance committed version ${own.v} and completed at ${own.ref.complete} ns`,
        });
        continue;
      }
      const earlier = read.below(r.invoke);
      if (earlier !== undefined && !atLeast(earlier.v, true)) {
        violations.push({
          check: 'K2',
          kind: 'l1-non-monotonic',
          key,
          opId: r.id,
          detail: `L1 read ${r.id} returned ${describe(r, v)}, after read ${earlier.ref.id} of the same instance saw version ${earlier.v} and completed at ${earlier.ref.complete} ns`,
        });
      }
    }
  }
  return count;
}

function describe(r: ReadOp, v: number | undefined): string {
  const value = readValue(r);
  return value === null ? 'absent' : `w=${value} at version ${v ?? '?'}`;
}

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}
