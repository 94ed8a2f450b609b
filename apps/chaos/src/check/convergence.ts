/**
 * K4: convergence (research/semantics.md §3.2, P13). After heal and quiesce, every cache entry
 * (Redis, and each instance's L1) either is missing from its dump or equals the Postgres row of
 * its key (a key missing from the Postgres map never existed: absent at version 0):
 * - a value entry must carry the row's `w` and version;
 * - an absent entry (tombstone or cached "not found") needs an absent row, at a version no higher
 *   than the entry's: an older absence is left over from before a write, a newer one can only be
 *   the absence version a reader was told.
 * Every other entry is `not-converged`.
 */
import type { FinalRecord, K4Result, TierEntryDump, TierSnapshot, Violation } from './types.js';

const NEVER: FinalRecord = { value: null, version: 0 };

/** K4 over one snapshot of every tier. */
export function checkConvergence(snapshot: TierSnapshot): K4Result {
  const violations: Violation[] = [];
  let entries = 0;
  const compare = (tier: string, dump: ReadonlyMap<string, TierEntryDump>): void => {
    for (const [key, entry] of dump) {
      entries++;
      const row = snapshot.postgres.get(key) ?? NEVER;
      if (converged(entry, row)) continue;
      violations.push({
        check: 'K4',
        kind: 'not-converged',
        key,
        detail: `${tier} holds ${showEntry(entry)}, Postgres ${showRow(row)}`,
      });
    }
  };
  compare('redis', snapshot.redis);
  for (const [instance, dump] of [...snapshot.l1].sort((a, b) => a[0] - b[0]))
    compare(`L1 of instance ${instance}`, dump);
  return { keys: snapshot.postgres.size, entries, violations };
}

/** Whether a cache entry agrees with the Postgres row. */
export function converged(entry: TierEntryDump, row: FinalRecord): boolean {
  if (entry.kind === 'value') return entry.w === row.value && entry.version === row.version;
  return row.value === null && entry.version >= row.version;
}

/** A dump entry for a message. */
export function showEntry(entry: TierEntryDump): string {
  return entry.kind === 'value'
    ? `w=${entry.w} at version ${entry.version}`
    : `absent at version ${entry.version}`;
}

function showRow(row: FinalRecord): string {
  return row.value === null ? `absent at version ${row.version}` : `w=${row.value} at version ${row.version}`;
}
