/**
 * A run's verdict: what was checked, what each checker found, which faults were injected and how
 * each was confirmed, and whether the run is clean (the exit code). `formatVerdict` prints it.
 */
import type { K1Result, K2Result, K3Result, K4Result, K5Result, K6Result, Violation } from './check/index.js';
import type { FaultEvent, History } from './history.js';
import type { VerifierAgreement } from './verifier.js';

/** A clock agreement check of one instance process. */
export interface ClockCheck {
  readonly instance: number;
  readonly incarnation: number;
  /** Parent send, child reading, parent receive (ns since base). */
  readonly sent: number;
  readonly child: number;
  readonly received: number;
  readonly ok: boolean;
}

/** Operation counts of a history. */
export interface OpCounts {
  readonly reads: { ok: number; fail: number; l1: number; other: number };
  readonly writes: { ok: number; fail: number; info: number; cut: number };
  readonly writesByKind: Record<string, number>;
  readonly errors: Record<string, number>;
}

export interface Verdict {
  readonly schedule: string;
  readonly seed: number;
  readonly runDir: string;
  /** False when the run directory was deleted (a clean run in the default directory). */
  readonly historyKept: boolean;
  readonly durationMs: number;
  readonly ok: boolean;
  /** Why the run is not clean (empty when ok). */
  readonly reasons: string[];
  readonly clocks: ClockCheck[];
  readonly ops: OpCounts;
  readonly k1: K1Result;
  readonly k2: K2Result;
  readonly k3: K3Result;
  readonly k4: K4Result;
  readonly k5: K5Result;
  readonly k6: K6Result;
  readonly verifier: VerifierAgreement;
  readonly faults: FaultEvent[];
  /** Operations still running when the clients were paused (each a hang past the harness bound). */
  readonly hung: string[];
  /** Engine guards switched off (a mutant run), if any. */
  readonly unsafeDisable: readonly string[];
  /** The instances' `onCacheError` policy. */
  readonly onCacheError: string;
}

/** Counts reads and writes by outcome. */
export function countOps(history: History): OpCounts {
  const reads = { ok: 0, fail: 0, l1: 0, other: 0 };
  const writes = { ok: 0, fail: 0, info: 0, cut: 0 };
  const writesByKind: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const op of history.ops) {
    if (op.error !== undefined) errors[op.error] = (errors[op.error] ?? 0) + 1;
    if (op.type === 'read') {
      if (op.outcome === 'ok') reads.ok++;
      else reads.fail++;
      if (op.outcome === 'ok') reads[op.tier === 'l1' ? 'l1' : 'other']++;
    } else {
      writes[op.outcome]++;
      if (op.complete === Number.POSITIVE_INFINITY) writes.cut++;
      writesByKind[op.kind] = (writesByKind[op.kind] ?? 0) + 1;
    }
  }
  return { reads, writes, writesByKind, errors };
}

/** The reasons a run is not clean. */
export function judge(v: Omit<Verdict, 'ok' | 'reasons' | 'historyKept'>): string[] {
  const reasons: string[] = [];
  const bad = (n: number, what: string) => {
    if (n > 0) reasons.push(`${n} ${what}`);
  };
  bad(v.clocks.filter((c) => !c.ok).length, 'instance clocks disagreeing with the orchestrator');
  if (v.ops.reads.ok === 0 || v.ops.writes.ok === 0) reasons.push('no operations were checked');
  bad(v.k1.violations.length, 'K1 violations');
  bad(v.k2.violations.length, 'K2 violations');
  bad(v.k3.violations.length, 'K3 violations');
  bad(v.k3.lost, 'lost acknowledged writes');
  bad(v.k4.violations.length, 'K4 violations');
  bad(v.k6.violations.length, 'K6 violations');
  bad(v.faults.filter((f) => !f.confirmed).length, 'faults not confirmed');
  bad(v.hung.length, 'operations hung past the pause bound');
  bad(v.verifier.flaggedShared.length, 'verifier stale reads on l2/records');
  bad(v.verifier.missed.length, 'K1 stale reads (sampled) the verifier did not flag');
  return reasons;
}

const ms = (ns: number): string => (ns / 1e6).toFixed(ns >= 1e9 ? 0 : 2);

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd())
    .join('\n');
}

function counts(by: Record<string, number>): string {
  return Object.entries(by)
    .map(([what, n]) => `${what} ${n}`)
    .join(' / ');
}

function violationsBy(all: readonly Violation[]): [string, number][] {
  const by = new Map<string, number>();
  for (const v of all) by.set(`${v.check} ${v.kind}`, (by.get(`${v.check} ${v.kind}`) ?? 0) + 1);
  return [...by].sort();
}

/** The verdict as the text table `pnpm chaos` prints. */
export function formatVerdict(v: Verdict, detail = 5): string {
  const out: string[] = [];
  out.push(
    `writethrough chaos — schedule ${v.schedule}, seed ${v.seed}, ${(v.durationMs / 1000).toFixed(1)} s, onCacheError '${v.onCacheError}'${v.unsafeDisable.length > 0 ? `, MUTANT (guards off: ${v.unsafeDisable.join(', ')})` : ''}`,
  );
  out.push(`history: ${v.runDir}${v.historyKept ? '' : ' (deleted: a clean run; --out or --keep keeps it)'}`);
  out.push('');
  out.push('operations checked');
  out.push(
    table([
      [
        'reads',
        `ok ${v.ops.reads.ok}`,
        `fail ${v.ops.reads.fail}`,
        `(ok from L1 ${v.ops.reads.l1}, other ${v.ops.reads.other})`,
      ],
      [
        'writes',
        `ok ${v.ops.writes.ok}`,
        `fail ${v.ops.writes.fail}`,
        `info ${v.ops.writes.info} (cut by a kill ${v.ops.writes.cut})`,
      ],
      [
        'writes by kind',
        Object.entries(v.ops.writesByKind)
          .map(([k, n]) => `${k} ${n}`)
          .join(', '),
      ],
    ]),
  );
  const errors = Object.entries(v.ops.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length > 0) out.push(`  errors: ${errors.map(([e, n]) => `${e} ${n}`).join(', ')}`);
  out.push('');
  out.push('checks');
  const k2 = v.k2.lag;
  out.push(
    table([
      [
        'K1 linearizability',
        `${v.k1.reads} reads, ${v.k1.writes} writes`,
        `${v.k1.violations.length} violations`,
      ],
      [
        'K2 L1 staleness',
        `${v.k2.l1Reads} L1 reads, ${v.k2.staleL1Reads} lagging`,
        `${v.k2.violations.length} violations`,
        `lag p50 ${ms(k2.p50)} ms, p99 ${ms(k2.p99)} ms, p99.9 ${ms(k2.p999)} ms, max ${ms(k2.max)} ms`,
      ],
      [
        'K3 durability',
        `${v.k3.okWrites} ok writes`,
        `${v.k3.violations.length} violations`,
        `${v.k3.lost} lost acknowledged writes`,
      ],
      [
        'K4 convergence',
        `${v.k4.keys} rows, ${v.k4.entries} cache entries`,
        `${v.k4.violations.length} violations`,
      ],
      [
        'K5 loads',
        `${v.k5.loads} loads of ${v.k5.keysLoaded} keys`,
        `max ${v.k5.maxLoadsPerKey} per key, ${v.k5.overlapping} overlapping`,
        `top: ${v.k5.perKeyTop.map((t) => `${t.key} ${t.loads}`).join(', ')}`,
      ],
      [
        'K6 failed writes',
        `${v.k6.probes} probes`,
        `${v.k6.violations.length} violations`,
        `${v.k6.removedEntries} removed entries`,
      ],
    ]),
  );
  const vf = v.verifier;
  out.push(
    `  verifier: ${
      vf.available
        ? `sample rate ${vf.sampleRate}, ${vf.sampled} reads sampled (${vf.errors} errors), stale flagged ${counts(vf.staleByTier)} (older ${vf.staleByReason.older}, never committed ${vf.staleByReason['never-committed']}); K1 stale reads sampled ${vf.k1StaleSampled}, flagged ${vf.k1StaleFlagged} — ${vf.missed.length === 0 ? 'agrees with K1' : `DISAGREES with K1 (${vf.missed.length} missed)`}${vf.flaggedShared.length === 0 ? '' : `; ${vf.flaggedShared.length} on l2/records, which must be 0`}`
        : 'not available in this core (createCache refused the verify option)'
    }`,
  );
  const all = [
    ...v.k1.violations,
    ...v.k2.violations,
    ...v.k3.violations,
    ...v.k4.violations,
    ...v.k6.violations,
  ];
  if (all.length > 0) {
    out.push('');
    out.push('violations by check and kind');
    out.push(table(violationsBy(all).map(([k, n]) => [k, String(n)])));
    out.push(`first ${Math.min(detail, all.length)}:`);
    for (const each of all.slice(0, detail)) {
      out.push(
        `  ${each.check} ${each.kind} key ${each.key}${each.opId ? ` op ${each.opId}` : ''}: ${each.detail}`,
      );
    }
  }
  if (vf.missed.length > 0)
    out.push(`  verifier missed K1 stale reads: ${vf.missed.slice(0, detail).join(', ')}`);
  if (vf.flaggedShared.length > 0) {
    out.push(
      `  verifier stale on l2/records: ${vf.flaggedShared
        .slice(0, detail)
        .map(
          (l) =>
            `${l.id} ${l.key} returned v${l.returned} ${l.reason === 'older' ? '<' : '>'} v${l.current} (${l.tier}, ${l.reason})`,
        )
        .join('; ')}`,
    );
  }
  if (v.hung.length > 0) out.push(`  hung operations: ${v.hung.slice(0, detail).join(', ')}`);
  out.push('');
  out.push(`faults injected: ${v.faults.length}, confirmed: ${v.faults.filter((f) => f.confirmed).length}`);
  if (v.faults.length > 0) {
    out.push(
      table([
        ['at s', 'fault', 'target', 'held s', 'confirmed', 'evidence'],
        ...v.faults.map((f) => [
          (f.start / 1e9).toFixed(1),
          f.name,
          f.target,
          ((f.end - f.start) / 1e9).toFixed(1),
          f.confirmed ? 'yes' : 'NO',
          f.evidence,
        ]),
      ]),
    );
  }
  const clocks = v.clocks.filter((c) => !c.ok);
  const processes = new Set(v.clocks.map((c) => `${c.instance}.${c.incarnation}`)).size;
  out.push(
    `clocks: ${v.clocks.length} readings of ${processes} instance processes, ${clocks.length === 0 ? 'all within the parent send/receive window' : `${clocks.length} outside it`}`,
  );
  out.push('');
  out.push(
    v.ok ? `VERDICT: CLEAN (seed ${v.seed})` : `VERDICT: FAILED (seed ${v.seed}): ${v.reasons.join('; ')}`,
  );
  return out.join('\n');
}
