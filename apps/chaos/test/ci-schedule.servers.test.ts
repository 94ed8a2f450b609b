/**
 * The CI schedule end to end (Postgres and redis-server needed): three instance processes under
 * every fault kind, then K1-K6 and the shadow verifier over the history. A clean run has no
 * violation, no lost acknowledged write, every fault confirmed, and the verifier agreeing with K1.
 */
import { describe, expect, it } from 'vitest';
import { runSchedule } from '../src/run.ts';
import { formatVerdict } from '../src/verdict.ts';

const SEED = Number(process.env.WT_CHAOS_SEED ?? 42);

describe('the ci schedule', () => {
  it(`runs clean (seed ${SEED})`, async () => {
    const verdict = await runSchedule({ schedule: 'ci', seed: SEED });
    // The table says what failed and where the history was kept.
    console.log(formatVerdict(verdict));
    const violations = [
      ...verdict.k1.violations,
      ...verdict.k2.violations,
      ...verdict.k3.violations,
      ...verdict.k4.violations,
      ...verdict.k6.violations,
    ];
    expect(violations.slice(0, 5)).toEqual([]);
    expect(verdict.k3.lost).toBe(0);
    expect(verdict.faults.length).toBeGreaterThanOrEqual(21);
    expect(verdict.faults.filter((f) => !f.confirmed)).toEqual([]);
    expect(verdict.verifier.available).toBe(true);
    expect(verdict.verifier.flaggedShared).toEqual([]);
    expect(verdict.verifier.missed).toEqual([]);
    expect(verdict.hung).toEqual([]);
    expect(verdict.clocks.every((c) => c.ok)).toBe(true);
    expect(verdict.ok).toBe(true);
  }, 300_000);
});
