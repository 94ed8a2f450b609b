import { describe, expect, it } from 'vitest';
import { parseVerifier, verifierAgreement } from '../src/verifier.ts';

const line = (fields: Record<string, unknown>): string =>
  JSON.stringify({ ev: 'verify', instance: 0, incarnation: 0, key: 'k', at: 1, ...fields });

describe('verifierAgreement', () => {
  const texts = [
    [
      line({ id: 'r1', returned: 1, current: 2, reason: 'older', tier: 'l1' }),
      line({ id: 'r2', returned: 5, current: 4, reason: 'never-committed', tier: 'l2' }),
      JSON.stringify({ ev: 'load-start', id: 'L1', key: 'k', start: 0, op: 'r3' }),
    ].join('\n'),
  ];
  const options = { available: true, sampleRate: 0.25, sampled: 10, errors: 0 };

  it('counts findings by tier and by reason, and judges those on l2/records', () => {
    const result = verifierAgreement(parseVerifier(texts), new Set(), options);
    expect(result.staleByTier).toEqual({ l1: 1, l2: 1, records: 0 });
    expect(result.staleByReason).toEqual({ older: 1, 'never-committed': 1 });
    expect(result.flaggedShared.map((l) => `${l.id} ${l.reason}`)).toEqual(['r2 never-committed']);
    expect(result.ok).toBe(false);
  });

  it('finds the sampled K1 stale reads it did not flag', () => {
    const result = verifierAgreement(parseVerifier(texts), new Set(['r1', 'r3', 'r4']), options);
    // r1 flagged; r3 had a record-store read in its context but no finding; r4 was not sampled.
    expect(result.k1StaleSampled).toBe(2);
    expect(result.k1StaleFlagged).toBe(1);
    expect(result.missed).toEqual(['r3']);
  });
});
