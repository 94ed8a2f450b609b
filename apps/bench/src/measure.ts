/**
 * Timing helpers on top of mitata's `measure`: a contender is a function that performs a chunk of
 * `ops` operations (awaited one after the other when it is async); mitata calls it repeatedly and
 * the per-operation figures are its per-call statistics divided by `ops`, which amortizes the
 * harness's own per-call cost (one extra await, one loop step) to well under a nanosecond.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { measure } from 'mitata';

/** The garbage collector when the process runs with `--expose-gc` (the `start` script does). */
const gc: (() => void) | undefined =
  typeof globalThis.gc === 'function' ? () => globalThis.gc?.() : undefined;

/** Runs a full collection (twice: the second collects what the first's finalizers released). */
export function collect(): void {
  gc?.();
  gc?.();
}

export interface OpStats {
  /** Mean time per operation, ns. */
  readonly mean: number;
  /** Median over samples of the time per operation, ns. */
  readonly p50: number;
  /** 99th percentile over samples of the time per operation, ns (a sample is one chunk, or a batch of chunks). */
  readonly p99: number;
  /** Operations timed. */
  readonly ops: number;
}

export interface MeasureOptions {
  /** CPU time to spend sampling, ms. Default 600. */
  readonly budgetMs?: number;
}

/** Times `chunk` (which performs `ops` operations per call) and returns per-operation figures. */
export async function perOp(
  chunk: () => unknown,
  ops: number,
  { budgetMs = 600 }: MeasureOptions = {},
): Promise<OpStats> {
  const stats = await measure(chunk, {
    min_cpu_time: budgetMs * 1e6,
    // mitata runs this collector once before sampling; inner collections would distort ns figures.
    gc: gc ?? false,
    inner_gc: false,
    // A chunk already amortizes the per-call cost: no batching of chunks, one chunk per sample.
    batch_threshold: 0,
  });
  return {
    mean: stats.avg / ops,
    p50: stats.p50 / ops,
    p99: stats.p99 / ops,
    ops: stats.ticks * ops,
  };
}

/** The machine, for the header of the results. */
export interface MachineInfo {
  readonly node: string;
  readonly v8: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly gc: boolean;
  /** The 1-minute load average when the run started (other processes compete for the cores). */
  readonly load: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`,
    gc: gc !== undefined,
    load: loadavg()[0] ?? 0,
  };
}

/** Wall-clock milliseconds since `start` (from `performance.now()`). */
export function since(start: number): number {
  return performance.now() - start;
}

/** Resolves after `ms` on real timers. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
