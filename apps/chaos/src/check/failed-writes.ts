/**
 * K6: a definitely failed write adds nothing to any cache tier and changes no entry in it
 * (research/semantics.md §3.2, P1 as the engine states it: the failed value never appears
 * anywhere; the key's old cached entry may be dropped, since `beginWrite` removed it before the
 * database refused the write — core README, "the key's cached value stays removed").
 * For each probe whose write has the outcome `fail`, the dumps of Redis and of each instance's L1
 * taken before and after it are compared, for the written key and every other key in them: an
 * entry present only after (`tier-entry-added-by-failed-write`) or present in both with another
 * `w`, version or kind (`tier-entry-changed-by-failed-write`) is a violation. An entry present
 * only before was removed: allowed (no phantom, no stale value), counted in `removedEntries`.
 * Probes of writes with another outcome are skipped (an `info` write invalidates the key, P1b).
 */
import { showEntry } from './convergence.js';
import type { FailedWriteProbe, K6Result, TierEntryDump, TierSnapshot, Violation } from './types.js';

/** K6 over the probes the orchestrator took. */
export function checkFailedWrites(probes: readonly FailedWriteProbe[]): K6Result {
  const violations: Violation[] = [];
  let count = 0;
  let removedEntries = 0;
  for (const { write, before, after } of probes) {
    if (write.outcome !== 'fail') continue;
    count++;
    for (const [tier, a, b] of pairs(before, after)) {
      for (const key of new Set([...a.keys(), ...b.keys()])) {
        const x = a.get(key);
        const y = b.get(key);
        if (same(x, y)) continue;
        if (y === undefined) {
          removedEntries++;
          continue;
        }
        violations.push({
          check: 'K6',
          kind: x === undefined ? 'tier-entry-added-by-failed-write' : 'tier-entry-changed-by-failed-write',
          key,
          opId: write.id,
          detail: `${tier} held ${show(x)} before the failed ${write.kind} ${write.id} of key ${write.key}, ${show(y)} after`,
        });
      }
    }
  }
  return { probes: count, removedEntries, violations };
}

type Dump = ReadonlyMap<string, TierEntryDump>;
const EMPTY: Dump = new Map();

function pairs(
  before: Omit<TierSnapshot, 'postgres'>,
  after: Omit<TierSnapshot, 'postgres'>,
): [string, Dump, Dump][] {
  const result: [string, Dump, Dump][] = [['redis', before.redis, after.redis]];
  const instances = [...new Set([...before.l1.keys(), ...after.l1.keys()])].sort((a, b) => a - b);
  for (const i of instances)
    result.push([`L1 of instance ${i}`, before.l1.get(i) ?? EMPTY, after.l1.get(i) ?? EMPTY]);
  return result;
}

function same(x: TierEntryDump | undefined, y: TierEntryDump | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  if (x.kind === 'value') return y.kind === 'value' && x.w === y.w && x.version === y.version;
  return y.kind === 'absent' && x.version === y.version;
}

function show(entry: TierEntryDump | undefined): string {
  return entry === undefined ? 'nothing' : showEntry(entry);
}
