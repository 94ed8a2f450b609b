/**
 * The harness can fail: a short calm run with two engine guards switched off in every instance
 * (`debug.unsafeDisable`) must make K1 report stale reads, and the shadow verifier (every read
 * sampled) must flag each of them. `write-marks` alone is not enough without crashes: commitWrite
 * still raises the floor and revokes leases, so no stale value outlives an acknowledgement; with
 * `absence-version` also off, a cached absence outlives the inserts after it (stale-absent).
 */
import { describe, expect, it } from 'vitest';
import { runSchedule } from '../src/run.ts';
import { formatVerdict } from '../src/verdict.ts';

describe('a mutant engine (write marks and absence versions off)', () => {
  it('is caught by K1, and the verifier agrees', async () => {
    const verdict = await runSchedule({
      schedule: 'calm',
      seconds: 20,
      seed: 7,
      unsafeDisable: ['absence-version', 'write-marks'],
      verifySampleRate: 1,
    });
    console.log(formatVerdict(verdict));
    const stale = verdict.k1.violations.filter((v) => v.kind === 'stale-read' || v.kind === 'stale-absent');
    expect(stale.length).toBeGreaterThan(0);
    expect(verdict.k1.staleReadIds.size).toBeGreaterThan(0);
    expect(verdict.verifier.available).toBe(true);
    expect(verdict.verifier.k1StaleSampled).toBeGreaterThan(0);
    expect(verdict.verifier.missed).toEqual([]);
    expect(verdict.verifier.k1StaleFlagged).toBe(verdict.verifier.k1StaleSampled);
    expect(verdict.ok).toBe(false);
  }, 120_000);
});
