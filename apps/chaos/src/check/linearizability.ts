/**
 * K1: per-key register linearizability with unique values (research/semantics.md §3.2, P2, P3, P6).
 *
 * Each key is checked alone. Every `set`/`cas`/`many` writes the value `{ w: <its op id> }` and a
 * `delete` writes a tombstone, so a read names the write it saw, and the record store's version
 * totally orders the committed writes of the key: that makes the check a few sorted sweeps
 * (O(n log n) per key) instead of a search. An `info` write may take effect at any time after its
 * invoke, or never (Knossos semantics); a `fail` write never does.
 *
 * Every `ok` read is checked for what it names: a write of the key that exists (`phantom`), did
 * not fail (`read-of-failed-write`), was invoked before the read completed (`read-from-future`),
 * and whose version is the read's (`version-mismatch` for an `ok` write; `info-version-mismatch`
 * when two reads of one `info` write disagree). Reads with tier `other` are also checked for
 * order; `l1` reads are left to K2 (another instance's L1 lags by its bus delivery):
 * - `stale-read`: an `ok` write (set or delete) that completed before the read was invoked has a
 *   version above the read's.
 * - `non-monotonic-read`: a read that completed before this one was invoked (any instance) read a
 *   higher version.
 * - `stale-absent`: the read found the key absent (its version is unknown), yet an `ok` set
 *   completed before its invoke, and no non-failed delete invoked before it completed can be above
 *   that set. `info` deletes have unknown versions and get the benefit of the doubt. An absence
 *   after an earlier read of a value, with no such delete, is a `non-monotonic-read`. With no
 *   `ok` write before it, an absence is the key's initial state.
 * - `write-order`: `ok` writes whose real-time order contradicts their version order (w1 completed
 *   before w2 was invoked but v1 >= v2). Two deletes may share a version: deleting an absent key
 *   commits nothing and answers the absence's version. `duplicate-version`: any other two `ok`
 *   writes of the key with one version.
 * A read gets at most one order violation: `stale-read`/`stale-absent` before `non-monotonic-read`.
 */
import type { History, ReadOp, WriteOp } from '../history.js';
import { byKey, Deletes, type KeyOps, type Point, PrefixMax, readValue, writesValue } from './by-key.js';
import type { K1Result, Violation } from './types.js';

/** K1 over a whole history; `reads` counts the `ok` reads checked, `writes` every write. */
export function checkLinearizability(history: History): K1Result {
  const allWrites = new Map<string, WriteOp>();
  for (const op of history.ops) if (op.type === 'write') allWrites.set(op.id, op);
  const violations: Violation[] = [];
  const staleReadIds = new Set<string>();
  let reads = 0;
  for (const [key, ops] of byKey(history.ops)) {
    reads += checkKey(key, ops, allWrites, violations, staleReadIds);
  }
  return { reads, writes: allWrites.size, violations, staleReadIds };
}

function checkKey(
  key: string,
  { reads, writes }: KeyOps,
  allWrites: ReadonlyMap<string, WriteOp>,
  violations: Violation[],
  staleReadIds: Set<string>,
): number {
  const flag = (kind: string, opId: string, detail: string): void => {
    violations.push({ check: 'K1', kind, key, opId, detail });
  };
  const valueWrites = new Map<string, WriteOp>();
  for (const w of writes) if (writesValue(w)) valueWrites.set(w.id, w);
  const okWrites = writes.filter((w) => w.outcome === 'ok' && w.version !== undefined);
  checkWriteOrder(okWrites, flag);

  // Pass 1: what each read names, and the version it stands for.
  const infoSeen = new Map<string, ReadOp>();
  const versionOf = new Map<ReadOp, number>();
  let checked = 0;
  for (const r of reads) {
    if (r.outcome !== 'ok') continue;
    checked++;
    const value = readValue(r);
    if (value === null) continue;
    const w = valueWrites.get(value);
    if (w === undefined) {
      const elsewhere = allWrites.get(value);
      const why =
        elsewhere === undefined
          ? 'no write in the history wrote it'
          : elsewhere.key !== key
            ? `it was written to key ${elsewhere.key}`
            : 'it is the id of a delete';
      flag('phantom', r.id, `read ${r.id} returned w=${value}, but ${why}`);
      continue;
    }
    if (w.outcome === 'fail') {
      flag(
        'read-of-failed-write',
        r.id,
        `read ${r.id} returned w=${value}, a write that failed (${w.error ?? 'no error'})`,
      );
      continue;
    }
    if (w.invoke > r.complete) {
      flag(
        'read-from-future',
        r.id,
        `read ${r.id} completed at ${r.complete} ns, before its write ${w.id} was invoked at ${w.invoke} ns`,
      );
      continue;
    }
    if (w.outcome === 'ok') {
      if (r.version !== undefined && r.version !== w.version) {
        flag(
          'version-mismatch',
          r.id,
          `read ${r.id} returned w=${value} at version ${r.version}, but that write committed version ${w.version}`,
        );
        continue;
      }
      const v = r.version ?? w.version;
      if (v !== undefined) versionOf.set(r, v);
      continue;
    }
    if (r.version === undefined) continue;
    const first = infoSeen.get(w.id);
    if (first === undefined) infoSeen.set(w.id, r);
    else if (first.version !== r.version) {
      flag(
        'info-version-mismatch',
        r.id,
        `read ${r.id} saw the info write ${w.id} at version ${r.version}, read ${first.id} at version ${first.version}`,
      );
      continue;
    }
    versionOf.set(r, r.version);
  }

  // Pass 2: order, for reads that did not come from an L1.
  const acked = new PrefixMax<WriteOp>(okWrites.map((w) => ({ t: w.complete, v: w.version!, ref: w })));
  const otherReads: Point<ReadOp>[] = [];
  for (const [r, v] of versionOf) if (r.tier === 'other') otherReads.push({ t: r.complete, v, ref: r });
  const seen = new PrefixMax(otherReads);
  const deletes = new Deletes(writes);
  for (const r of reads) {
    if (r.outcome !== 'ok' || r.tier !== 'other') continue;
    const before = acked.below(r.invoke);
    const earlier = seen.below(r.invoke);
    if (readValue(r) === null) {
      const set = before !== undefined && writesValue(before.ref) ? before : undefined;
      if (set !== undefined && !deletes.couldDeleteAbove(set.v, r.complete)) {
        staleReadIds.add(r.id);
        flag(
          'stale-absent',
          r.id,
          `read ${r.id} found the key absent, but ${set.ref.id} (version ${set.v}) completed at ${set.ref.complete} ns, before it was invoked at ${r.invoke} ns, and no delete could be later`,
        );
        continue;
      }
      const deleted = before !== undefined && !writesValue(before.ref) ? before.v : 0;
      if (earlier !== undefined && earlier.v > deleted && !deletes.couldDeleteAbove(earlier.v, r.complete)) {
        flag(
          'non-monotonic-read',
          r.id,
          `read ${r.id} found the key absent after read ${earlier.ref.id} (completed at ${earlier.ref.complete} ns) saw version ${earlier.v}, and no delete could be later`,
        );
      }
      continue;
    }
    const v = versionOf.get(r);
    if (v === undefined) continue;
    if (before !== undefined && before.v > v) {
      staleReadIds.add(r.id);
      flag(
        'stale-read',
        r.id,
        `read ${r.id} (invoked at ${r.invoke} ns) returned version ${v}, but ${before.ref.id} committed version ${before.v} and completed at ${before.ref.complete} ns`,
      );
      continue;
    }
    if (earlier !== undefined && earlier.v > v) {
      flag(
        'non-monotonic-read',
        r.id,
        `read ${r.id} (invoked at ${r.invoke} ns) returned version ${v}, but read ${earlier.ref.id} completed at ${earlier.ref.complete} ns with version ${earlier.v}`,
      );
    }
  }
  return checked;
}

/** `write-order` and `duplicate-version` over one key's `ok` writes with versions. */
function checkWriteOrder(
  okWrites: readonly WriteOp[],
  flag: (kind: string, opId: string, detail: string) => void,
): void {
  const done = new PrefixMax(okWrites.map((w) => ({ t: w.complete, v: w.version!, ref: w })));
  for (const w2 of okWrites) {
    const w1 = done.below(w2.invoke);
    if (w1 === undefined) continue;
    const v2 = w2.version!;
    if (w1.v > v2 || (w1.v === v2 && (writesValue(w1.ref) || writesValue(w2)))) {
      flag(
        'write-order',
        w2.id,
        `${w2.id} (invoked at ${w2.invoke} ns) committed version ${v2}, but ${w1.ref.id} completed before it at ${w1.ref.complete} ns with version ${w1.v}`,
      );
    }
  }
  const byVersion = new Map<number, WriteOp>();
  for (const w of okWrites) {
    const other = byVersion.get(w.version!);
    if (other === undefined) byVersion.set(w.version!, w);
    else if (writesValue(other) || writesValue(w)) {
      // Ordered pairs are already a write-order violation.
      if (other.complete < w.invoke || w.complete < other.invoke) continue;
      flag('duplicate-version', w.id, `${w.id} and ${other.id} both committed version ${w.version}`);
    }
  }
}
