/**
 * The harness can fail: a short calm run with two engine guards switched off in every instance
 * (`debug.unsafeDisable`) must make K1 report stale reads, and the shadow verifier (every read
 * sampled) must flag each of them. `write-marks` alone is not enough without crashes: commitWrite
 * still raises the floor and revokes leases, so no stale value outlives an acknowledgement; with
 * `absence-version` also off, a cached absence outlives the inserts after it (stale-absent). The
 * verifier flags those absences as `never-committed` on l2: the mutant forges their version (an
 * absence "current forever"), which the record store never reached.
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
    // Every read is sampled, so every K1 stale read must be flagged by the verifier.
    expect(verdict.verifier.k1StaleSampled).toBe(verdict.k1.staleReadIds.size);
    expect(verdict.verifier.missed).toEqual([]);
    expect(verdict.verifier.k1StaleFlagged).toBe(verdict.verifier.k1StaleSampled);
    // And the verifier judges them on its own: stale reads served by l2, versions never committed.
    expect(verdict.verifier.flaggedShared.length).toBeGreaterThan(0);
    expect(verdict.verifier.staleByReason['never-committed']).toBeGreaterThan(0);
    expect(verdict.reasons.some((r) => r.includes('verifier stale reads on l2/records'))).toBe(true);
    expect(verdict.ok).toBe(false);
  }, 120_000);
});
