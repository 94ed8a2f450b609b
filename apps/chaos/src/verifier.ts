/**
 * The shadow verifier's findings in a run's history (`verify` lines: one per read the engine's
 * verifier found stale), and their agreement with K1.
 *
 * The verifier reads the key's version from the record store before a sampled read and flags the
 * read when it returns an older version (`reason: 'older'`), or, when it returns a newer one, reads
 * the record store again and flags a version it never reached (`reason: 'never-committed'`). A
 * read K1 calls stale returned a version below an `ok`
 * write that completed before it was invoked, so the verifier's own read (later) saw at least that
 * write: every K1 stale read that was sampled must be flagged. A read counts as sampled when the
 * sample rate is 1, or when a record-store read ran in its async context (the verifier's read, or
 * its own load).
 */

/** One `verify` line. */
export interface VerifyLine {
  /** The read's op id (null when the event fired outside a recorded read). */
  readonly id: string | null;
  readonly instance: number;
  readonly key: string;
  readonly returned: number;
  readonly current: number;
  /** `older`: below what was committed before the read; `never-committed`: above what was committed after it. */
  readonly reason: StaleReason;
  /** The tier that served the read (a read that joined a load of its process: that load's). */
  readonly tier: 'l1' | 'l2' | 'records';
}

/** Why the verifier flagged a read. */
export type StaleReason = 'older' | 'never-committed';

/** The verifier lines of a run, and the op ids that had a record-store read in their context. */
export interface VerifierHistory {
  readonly lines: VerifyLine[];
  readonly opsWithLoads: Set<string>;
}

/** Extracts the verifier lines and the loads' op ids from history texts. */
export function parseVerifier(texts: readonly string[]): VerifierHistory {
  const lines: VerifyLine[] = [];
  const opsWithLoads = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line.includes('"ev":"verify"')) {
        try {
          lines.push(JSON.parse(line) as VerifyLine);
        } catch {}
      } else if (line.includes('"ev":"load-start"') && line.includes('"op":')) {
        try {
          const op = (JSON.parse(line) as { op?: string }).op;
          if (op !== undefined) opsWithLoads.add(op);
        } catch {}
      }
    }
  }
  return { lines, opsWithLoads };
}

/** The verdict's verifier row. */
export interface VerifierAgreement {
  /** Whether the core has the verifier (an older core refuses the option). */
  readonly available: boolean;
  readonly sampleRate: number;
  /** Reads sampled, summed over the instance processes that were stopped cleanly. */
  readonly sampled: number;
  readonly errors: number;
  /** Stale reads the verifier flagged, by tier. */
  readonly staleByTier: Record<string, number>;
  /** Stale reads the verifier flagged, by reason. */
  readonly staleByReason: Record<StaleReason, number>;
  /** K1 stale reads that were sampled, and how many of them the verifier flagged. */
  readonly k1StaleSampled: number;
  readonly k1StaleFlagged: number;
  /** K1 stale reads (sampled) the verifier did not flag: disagreements. */
  readonly missed: string[];
  /** Reads the verifier flagged on l2/records (must be none). */
  readonly flaggedShared: VerifyLine[];
  /** Verifier l2/records must be 0, and every sampled K1 stale read flagged. */
  readonly ok: boolean;
}

/** Compares the verifier's findings with K1's stale reads. */
export function verifierAgreement(
  history: VerifierHistory,
  k1StaleReadIds: ReadonlySet<string>,
  options: { available: boolean; sampleRate: number; sampled: number; errors: number },
): VerifierAgreement {
  const staleByTier: Record<string, number> = { l1: 0, l2: 0, records: 0 };
  const staleByReason: Record<StaleReason, number> = { older: 0, 'never-committed': 0 };
  const flagged = new Set<string>();
  const flaggedShared: VerifyLine[] = [];
  for (const line of history.lines) {
    staleByTier[line.tier] = (staleByTier[line.tier] ?? 0) + 1;
    staleByReason[line.reason] = (staleByReason[line.reason] ?? 0) + 1;
    if (line.id !== null) flagged.add(line.id);
    // The engine promises l2 and records; l1 lags by bus delivery (core README).
    if (line.tier === 'l2' || line.tier === 'records') flaggedShared.push(line);
  }
  let sampled = 0;
  let hit = 0;
  const missed: string[] = [];
  if (options.available && options.sampleRate > 0) {
    for (const id of k1StaleReadIds) {
      const wasSampled = options.sampleRate >= 1 || history.opsWithLoads.has(id) || flagged.has(id);
      if (!wasSampled) continue;
      sampled++;
      if (flagged.has(id)) hit++;
      else missed.push(id);
    }
  }
  return {
    available: options.available,
    sampleRate: options.sampleRate,
    sampled: options.sampled,
    errors: options.errors,
    staleByTier,
    staleByReason,
    k1StaleSampled: sampled,
    k1StaleFlagged: hit,
    missed,
    flaggedShared,
    ok: flaggedShared.length === 0 && missed.length === 0,
  };
}
