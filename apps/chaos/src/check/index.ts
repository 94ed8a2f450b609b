/**
 * The checkers K1-K6 of research/semantics.md §3.2: pure functions over a recorded history (and
 * tier dumps), each partitioned by key (P-compositionality).
 */
import type { History } from '../history.js';
import type {
  FailedWriteProbe,
  FinalRecord,
  K1Result,
  K2Result,
  K3Result,
  K4Result,
  K5Result,
  K6Result,
  TierSnapshot,
} from './types.js';

export type {
  Check,
  FailedWriteProbe,
  FinalRecord,
  K1Result,
  K2Result,
  K3Result,
  K4Result,
  K5Result,
  K6Result,
  Percentiles,
  TierEntryDump,
  TierSnapshot,
  Violation,
} from './types.js';

/** K1: per-key register linearizability (work in progress: reports nothing yet). */
export function checkLinearizability(history: History): K1Result {
  const reads = history.ops.filter((op) => op.type === 'read').length;
  return { reads, writes: history.ops.length - reads, violations: [], staleReadIds: new Set() };
}

/** K2: L1 staleness (work in progress). */
export function checkStaleness(history: History): K2Result {
  const l1Reads = history.ops.filter((op) => op.type === 'read' && op.tier === 'l1').length;
  return { l1Reads, lag: { count: 0, p50: 0, p99: 0, p999: 0, max: 0 }, staleL1Reads: 0, violations: [] };
}

/** K3: durability (work in progress). */
export function checkDurability(history: History, _final: ReadonlyMap<string, FinalRecord>): K3Result {
  const okWrites = history.ops.filter((op) => op.type === 'write' && op.outcome === 'ok').length;
  return { okWrites, lost: 0, violations: [] };
}

/** K4: convergence (work in progress). */
export function checkConvergence(snapshot: TierSnapshot): K4Result {
  return { keys: snapshot.postgres.size, entries: 0, violations: [] };
}

/** K5: loads per key (work in progress). */
export function checkLoads(history: History): K5Result {
  return { loads: history.loads.length, keysLoaded: 0, maxLoadsPerKey: 0, overlapping: 0, perKeyTop: [] };
}

/** K6: failed writes leave the tiers unchanged (work in progress). */
export function checkFailedWrites(probes: readonly FailedWriteProbe[]): K6Result {
  return { probes: probes.length, violations: [] };
}
