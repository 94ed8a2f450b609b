/**
 * The checkers K1-K6 of research/semantics.md §3.2: pure functions over a recorded history (and
 * tier dumps), each partitioned by key (P-compositionality). Each module's doc comment states the
 * exact semantics it checks.
 */
export { checkConvergence } from './convergence.js';
export { checkDurability } from './durability.js';
export { checkFailedWrites } from './failed-writes.js';
export { checkLinearizability } from './linearizability.js';
export { checkLoads } from './loads.js';
export { checkStaleness } from './staleness.js';
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
