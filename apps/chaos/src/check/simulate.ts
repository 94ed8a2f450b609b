/**
 * A seeded simulation of a correct system: a linearizable register per key, observed through the
 * history format. It lets the checkers be tested (and the orchestrator self-test them) on
 * histories known to be valid, at any size.
 *
 * Each operation gets a linearization point; its invoke is a random time before it and its
 * complete a random time after, so real-time order never contradicts the linearization order.
 * Writes commit at the next version of a global counter (as the memory record store does); a
 * delete of an absent key commits nothing and answers the absence's version. Some writes `fail`
 * (no effect), some are `info` (cut off or timed out: applied or not, at random, with no version
 * in the history).
 */
import type { History, Op, ReadTier, WriteKind } from '../history.js';
import type { FinalRecord } from './types.js';

/** What `simulate` needs of a seeded generator (the `Rng` of `@writethrough/testing/tools`). */
export interface Random {
  nextDouble(): number;
}

/** The shape of a simulated run. */
export interface SimulateOptions {
  readonly ops: number;
  readonly keys: number;
  /** Instances (0, 1, ...); each restarts at random, so ops carry incarnations. */
  readonly instances?: number;
  /** Clients per instance. */
  readonly clients?: number;
  /** The share of reads among operations. */
  readonly readShare?: number;
  /** The share of writes that fail. */
  readonly failShare?: number;
  /** The share of writes with an unknown outcome. */
  readonly infoShare?: number;
  /** The share of reads answered by L1 (they are linearizable here too). */
  readonly l1Share?: number;
  /** Nanoseconds between consecutive linearization points. */
  readonly stepNs?: number;
  /** The most an operation extends on each side of its linearization point (ns). */
  readonly spreadNs?: number;
}

/** A simulated run: its history, and the final rows (keys never written are missing). */
export interface Simulated {
  readonly history: History;
  readonly final: Map<string, FinalRecord>;
}

/** Simulates `options.ops` operations with `random`; the same seed gives the same history. */
export function simulate(random: Random, options: SimulateOptions): Simulated {
  const instances = options.instances ?? 3;
  const clients = options.clients ?? 4;
  const readShare = options.readShare ?? 0.6;
  const failShare = options.failShare ?? 0.03;
  const infoShare = options.infoShare ?? 0.02;
  const l1Share = options.l1Share ?? 0.3;
  const step = options.stepNs ?? 1_000;
  const spread = options.spreadNs ?? 5_000;
  const int = (n: number): number => Math.floor(random.nextDouble() * n);

  const rows = new Map<string, FinalRecord>();
  const incarnations = new Array<number>(instances).fill(0);
  const seqs = new Map<string, number>();
  const ops: Op[] = [];
  let counter = 0;
  for (let i = 0; i < options.ops; i++) {
    const instance = int(instances);
    if (random.nextDouble() < 0.0005) incarnations[instance]!++;
    const incarnation = incarnations[instance]!;
    const client = int(clients);
    const who = `i${instance}.${incarnation}.c${client}`;
    const seq = (seqs.get(who) ?? 0) + 1;
    seqs.set(who, seq);
    const key = `k${int(options.keys)}`;
    const at = (i + 1) * step;
    const invoke = at - int(spread);
    const complete = at + 1 + int(spread);
    const base = { id: `${who}.${seq}`, instance, incarnation, client, key, invoke };
    const row = rows.get(key);
    if (random.nextDouble() < readShare) {
      const tier: ReadTier = random.nextDouble() < l1Share ? 'l1' : 'other';
      const found = row !== undefined && row.value !== null;
      ops.push({
        ...base,
        type: 'read',
        tier,
        complete,
        outcome: 'ok',
        value: found ? row.value : null,
        ...(found ? { version: row.version } : {}),
      });
      continue;
    }
    const roll = random.nextDouble();
    const kind: WriteKind = roll < 0.2 ? 'delete' : roll < 0.3 ? 'cas' : roll < 0.4 ? 'many' : 'set';
    const id = kind === 'many' ? `${base.id}.0` : base.id;
    const fate = random.nextDouble();
    const outcome = fate < failShare ? 'fail' : fate < failShare + infoShare ? 'info' : 'ok';
    const apply = outcome === 'ok' || (outcome === 'info' && random.nextDouble() < 0.5);
    let version = row?.version ?? 0;
    if (apply) {
      if (kind !== 'delete') {
        version = ++counter;
        rows.set(key, { value: id, version });
      } else if (row !== undefined && row.value !== null) {
        version = ++counter;
        rows.set(key, { value: null, version });
      }
    }
    ops.push({
      ...base,
      id,
      type: 'write',
      kind,
      ...(kind === 'many' ? { txn: base.id } : {}),
      ...(kind === 'cas' ? { ifVersion: row?.version ?? 0 } : {}),
      complete: outcome === 'info' && random.nextDouble() < 0.5 ? Number.POSITIVE_INFINITY : complete,
      outcome,
      ...(outcome === 'ok' ? { version } : {}),
      ...(outcome === 'fail' ? { error: 'RecordStoreError' } : {}),
    });
  }
  ops.sort((a, b) => a.invoke - b.invoke);
  return { history: { ops, loads: [], faults: [] }, final: rows };
}
