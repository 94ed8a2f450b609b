/**
 * Seeded randomness for benchmarks and the chaos checker: a small generator and a Zipf sampler.
 * Ranks are 0-based and ordered by popularity: rank 0 is the hottest key.
 */

/** A small seeded generator (xoshiro128**, state seeded through splitmix32); not for cryptography. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#d = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67_108_864 + lo) / 9_007_199_254_740_992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Samples ranks in [0, n) with P(rank = r) proportional to 1 / (r + 1)^s, by binary search over a
 * precomputed cumulative distribution (one Float64Array of n entries, built once).
 */
export class ZipfSampler {
  readonly n: number;
  readonly s: number;
  readonly #cdf: Float64Array;

  constructor(n: number, s: number) {
    this.n = n;
    this.s = s;
    const cdf = new Float64Array(n);
    let sum = 0;
    for (let r = 0; r < n; r++) {
      sum += 1 / (r + 1) ** s;
      cdf[r] = sum;
    }
    for (let r = 0; r < n; r++) cdf[r] = cdf[r]! / sum;
    cdf[n - 1] = 1;
    this.#cdf = cdf;
  }

  /** The probability mass of the `k` hottest ranks (the hit ratio of a static top-k cache). */
  massOfTop(k: number): number {
    if (k <= 0) return 0;
    return this.#cdf[Math.min(k, this.n) - 1]!;
  }

  /** The smallest rank whose cumulative probability exceeds `u` (u uniform in [0, 1)). */
  rankOf(u: number): number {
    const cdf = this.#cdf;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** `count` ranks drawn from a generator seeded with `seed`. */
  trace(count: number, seed: number): Int32Array {
    const rng = new Rng(seed);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.rankOf(rng.nextDouble());
    return out;
  }
}
