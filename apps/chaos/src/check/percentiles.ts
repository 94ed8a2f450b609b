import type { Percentiles } from './types.js';

/** Nearest-rank percentiles of `samples` (ns); sorts `samples` in place. */
export function percentiles(samples: number[]): Percentiles {
  const count = samples.length;
  if (count === 0) return { count, p50: 0, p99: 0, p999: 0, max: 0 };
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(count, Math.max(1, Math.ceil(q * count))) - 1]!;
  return { count, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: samples[count - 1]! };
}
