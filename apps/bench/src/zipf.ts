/**
 * The shared Zipf trace. A trace is generated once per process and shared by every benchmark
 * (same seed, same trace, same numbers run after run). The generator and the sampler live in
 * @writethrough/testing, which the chaos checker shares.
 */
import { ZipfSampler } from '@writethrough/testing/tools';

/** The workload every benchmark shares. */
export const WORKLOAD = {
  /** Distinct keys. */
  keys: 1_000_000,
  /** Zipf exponent. */
  s: 0.99,
  /** Requests in the trace. */
  requests: 2_000_000,
  /** Seed of the trace. */
  seed: 20_240_601,
} as const;

/** The key of a rank, as every cache sees it. */
export function keyOf(rank: number): string {
  return `user:${rank}`;
}

export interface Workload {
  readonly sampler: ZipfSampler;
  /** The ranks of the trace, in request order. */
  readonly trace: Int32Array;
  /** The key string of each rank (built lazily, shared so no benchmark pays for string building). */
  key(rank: number): string;
}

let shared: Workload | undefined;

/** The shared Zipf(0.99) trace of 2M requests over 1M keys (generated on first use). */
export function workload(): Workload {
  if (shared !== undefined) return shared;
  const sampler = new ZipfSampler(WORKLOAD.keys, WORKLOAD.s);
  const trace = sampler.trace(WORKLOAD.requests, WORKLOAD.seed);
  const keys: (string | undefined)[] = new Array(WORKLOAD.keys);
  shared = {
    sampler,
    trace,
    key(rank) {
      let key = keys[rank];
      if (key === undefined) {
        key = keyOf(rank);
        keys[rank] = key;
      }
      return key;
    },
  };
  return shared;
}
