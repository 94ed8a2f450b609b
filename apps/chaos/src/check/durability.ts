/**
 * K3: durability of acknowledged writes against the final Postgres rows (research/semantics.md
 * §3.2, P7). Per key, with `final` the key's row after the run (a key missing from the map never
 * existed: `{ value: null, version: 0 }`):
 * - `lost-write`: an `ok` write (set or delete) committed a version above the final one; or the
 *   `ok` write with the highest version has exactly the final version, yet the final row is not
 *   what it wrote (another value, or a value where it deleted). When the final version is above
 *   every `ok` write, an `info` write produced it, which the next rule checks.
 * - `phantom-final`: no write of the history could have produced the final row: its `w` names no
 *   value write of the key; or it is a tombstone (version above 0) and the key has no non-failed
 *   delete.
 * - `final-from-failed-write`: the final `w` names a write whose outcome is `fail`.
 * - `final-version-mismatch`: the final `w` names an `ok` write that committed another version.
 * `lost` counts the `ok` writes whose effect is missing (each once).
 */
import type { History, WriteOp } from '../history.js';
import { byKey, writesValue } from './by-key.js';
import type { FinalRecord, K3Result, Violation } from './types.js';

const NEVER: FinalRecord = { value: null, version: 0 };

/** K3 over a whole history and the final rows of its keys. */
export function checkDurability(history: History, final: ReadonlyMap<string, FinalRecord>): K3Result {
  const keys = byKey(history.ops);
  for (const key of final.keys()) if (!keys.has(key)) keys.set(key, { reads: [], writes: [] });
  const violations: Violation[] = [];
  let okWrites = 0;
  let lost = 0;
  for (const [key, { writes }] of keys) {
    const row = final.get(key) ?? NEVER;
    const flag = (kind: string, opId: string | undefined, detail: string): void => {
      violations.push({ check: 'K3', kind, key, ...(opId === undefined ? {} : { opId }), detail });
    };
    const shown =
      row.value === null ? `absent at version ${row.version}` : `w=${row.value} at version ${row.version}`;

    let highest: WriteOp | undefined;
    for (const w of writes) {
      if (w.outcome !== 'ok' || w.version === undefined) continue;
      okWrites++;
      if (highest === undefined || w.version > highest.version!) highest = w;
      if (w.version > row.version) {
        lost++;
        flag('lost-write', w.id, `${w.id} committed version ${w.version}, but the final row is ${shown}`);
      }
    }
    if (highest !== undefined && highest.version === row.version) {
      const wrote = writesValue(highest) ? highest.id : null;
      if (wrote !== row.value) {
        lost++;
        flag(
          'lost-write',
          highest.id,
          `${highest.id} (${highest.kind}) committed the highest version ${row.version}, but the final row is ${shown}`,
        );
      }
    }

    if (row.value !== null) {
      const w = writes.find((x) => x.id === row.value && writesValue(x));
      if (w === undefined)
        flag('phantom-final', undefined, `the final row is ${shown}, which no write of the key wrote`);
      else if (w.outcome === 'fail') {
        flag('final-from-failed-write', w.id, `the final row is ${shown}, written by a write that failed`);
      } else if (w.outcome === 'ok' && w.version !== row.version) {
        flag(
          'final-version-mismatch',
          w.id,
          `the final row is ${shown}, but ${w.id} committed version ${w.version}`,
        );
      }
    } else if (row.version > 0 && !writes.some((w) => w.kind === 'delete' && w.outcome !== 'fail')) {
      flag(
        'phantom-final',
        undefined,
        `the final row is ${shown}, but no delete of the key could have produced it`,
      );
    }
  }
  return { okWrites, lost, violations };
}
