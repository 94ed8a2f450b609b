import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { Sieve, type SieveNode } from '../src/sieve.js';

class NumberNode implements SieveNode {
  visited = false;
  newer: this | undefined = undefined;
  older: this | undefined = undefined;
  constructor(
    readonly key: string,
    readonly value: number,
  ) {}
}

/**
 * The key/value view the tests below speak: every set stores a new node (as memoryStore does), so
 * a replacement goes through the node swap.
 */
class ValueSieve {
  readonly sieve: Sieve<NumberNode>;
  constructor(capacity: number, options: { onEvict?: (key: string, value: number) => void } = {}) {
    const onEvict = options.onEvict;
    this.sieve = new Sieve<NumberNode>(capacity, onEvict ? { onEvict: (n) => onEvict(n.key, n.value) } : {});
  }
  get capacity(): number {
    return this.sieve.capacity;
  }
  get size(): number {
    return this.sieve.size;
  }
  get(key: string): number | undefined {
    return this.sieve.get(key)?.value;
  }
  peek(key: string): number | undefined {
    return this.sieve.peek(key)?.value;
  }
  has(key: string): boolean {
    return this.sieve.has(key);
  }
  set(key: string, value: number): void {
    this.sieve.set(new NumberNode(key, value));
  }
  delete(key: string): boolean {
    return this.sieve.delete(key);
  }
  clear(): void {
    this.sieve.clear();
  }
  keys(): IterableIterator<string> {
    return this.sieve.keys();
  }
}

/** A seeded PRNG (mulberry32): uniform integers in [0, n). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

/** SIEVE written the slow, obvious way: an array oldest first and the hand as an index into it. */
class ReferenceSieve {
  readonly queue: { key: string; value: number; visited: boolean }[] = [];
  hand: number | null = null;
  readonly evicted: [string, number][] = [];

  constructor(readonly capacity: number) {}

  get(key: string): number | undefined {
    const item = this.queue.find((e) => e.key === key);
    if (item === undefined) return undefined;
    item.visited = true;
    return item.value;
  }

  set(key: string, value: number): void {
    const item = this.queue.find((e) => e.key === key);
    if (item !== undefined) {
      item.value = value;
      item.visited = true;
      return;
    }
    if (this.queue.length >= this.capacity) {
      let i = this.hand ?? 0;
      while (this.queue[i]!.visited) {
        this.queue[i]!.visited = false;
        i = i + 1 === this.queue.length ? 0 : i + 1;
      }
      const [victim] = this.queue.splice(i, 1);
      this.evicted.push([victim!.key, victim!.value]);
      this.hand = i === this.queue.length ? null : i;
    }
    this.queue.push({ key, value, visited: false });
  }

  delete(key: string): boolean {
    const i = this.queue.findIndex((e) => e.key === key);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    if (this.hand !== null) {
      if (i < this.hand) this.hand--;
      if (this.hand === this.queue.length) this.hand = null;
    }
    return true;
  }
}

describe('Sieve', () => {
  it('gets, peeks, sets, replaces and deletes', () => {
    const sieve = new ValueSieve(3);
    expect(sieve.get('a')).toBeUndefined();
    sieve.set('a', 1);
    sieve.set('b', 2);
    expect(sieve.size).toBe(2);
    expect(sieve.get('a')).toBe(1);
    expect(sieve.peek('b')).toBe(2);
    expect(sieve.has('b')).toBe(true);
    sieve.set('a', 10);
    expect(sieve.get('a')).toBe(10);
    expect(sieve.size).toBe(2);
    expect(sieve.delete('a')).toBe(true);
    expect(sieve.delete('a')).toBe(false);
    expect(sieve.get('a')).toBeUndefined();
    expect([...sieve.keys()]).toEqual(['b']);
    sieve.clear();
    expect(sieve.size).toBe(0);
    expect([...sieve.keys()]).toEqual([]);
    sieve.set('c', 3);
    expect([...sieve.keys()]).toEqual(['c']);
  });

  it('stays within its capacity without an onEvict listener', () => {
    const sieve = new ValueSieve(3);
    for (let i = 0; i < 10; i++) sieve.set(`k${i}`, i);
    expect(sieve.size).toBe(3);
    expect([...sieve.keys()]).toEqual(['k7', 'k8', 'k9']);
  });

  it('refuses a capacity below 1 or not an integer', () => {
    expect(() => new Sieve(0)).toThrow(InvalidArgumentError);
    expect(() => new Sieve(1.5)).toThrow(InvalidArgumentError);
    expect(() => new Sieve(Number.NaN)).toThrow(InvalidArgumentError);
    expect(new ValueSieve(1).capacity).toBe(1);
  });

  it('with capacity 1, each new key evicts the previous one', () => {
    const evicted: string[] = [];
    const sieve = new ValueSieve(1, { onEvict: (key) => evicted.push(key) });
    sieve.set('a', 1);
    sieve.get('a');
    sieve.set('b', 2);
    sieve.set('c', 3);
    expect(evicted).toEqual(['a', 'b']);
    expect([...sieve.keys()]).toEqual(['c']);
  });

  it("evicts in the order of the paper's walk-through: a visited entry survives one pass of the hand", () => {
    const evicted: [string, number][] = [];
    const sieve = new ValueSieve(4, { onEvict: (key, value) => evicted.push([key, value]) });
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) sieve.set(key, i);
    sieve.get('a');
    sieve.get('c');
    // The hand starts at the tail: a is visited (cleared, kept), b is not (evicted).
    sieve.set('e', 4);
    expect(evicted).toEqual([['b', 1]]);
    // The hand continues from where it stopped: c is visited (cleared, kept), d is evicted.
    sieve.set('f', 5);
    expect(evicted.map(([key]) => key)).toEqual(['b', 'd']);
    expect([...sieve.keys()]).toEqual(['a', 'c', 'e', 'f']);
    // e and f are visited, so the hand passes them, wraps to the tail and evicts a: its visited bit
    // was cleared by the first pass and it was not hit since.
    sieve.get('e');
    sieve.get('f');
    sieve.set('g', 6);
    expect(evicted.map(([key]) => key)).toEqual(['b', 'd', 'a']);
    sieve.set('h', 7);
    expect(evicted.map(([key]) => key)).toEqual(['b', 'd', 'a', 'c']);
    expect([...sieve.keys()]).toEqual(['e', 'f', 'g', 'h']);
  });

  it('peek does not mark an entry visited; get does', () => {
    const evicted: string[] = [];
    const sieve = new ValueSieve(2, { onEvict: (key) => evicted.push(key) });
    sieve.set('a', 1);
    sieve.set('b', 2);
    sieve.peek('a');
    sieve.set('c', 3);
    expect(evicted).toEqual(['a']);
    sieve.get('b');
    sieve.set('d', 4);
    expect(evicted).toEqual(['a', 'c']);
  });

  it('a delete under the hand moves the hand to the next newer entry', () => {
    const evicted: string[] = [];
    const sieve = new ValueSieve(3, { onEvict: (key) => evicted.push(key) });
    sieve.set('a', 1);
    sieve.set('b', 2);
    sieve.set('c', 3);
    sieve.get('a');
    sieve.set('d', 4); // a cleared, b evicted, the hand on c
    sieve.delete('c'); // the hand moves to d
    sieve.set('e', 5); // not full: no eviction
    sieve.set('f', 6); // d is not visited: evicted
    expect(evicted).toEqual(['b', 'd']);
    expect([...sieve.keys()]).toEqual(['a', 'e', 'f']);
  });

  it('matches a reference model over 10k seeded random operations and never exceeds its capacity', () => {
    for (const [seed, capacity, keySpace] of [
      [1, 1, 4],
      [2, 8, 20],
      [3, 64, 100],
      [4, 16, 16],
    ] as const) {
      const random = prng(seed);
      const evicted: [string, number][] = [];
      const sieve = new ValueSieve(capacity, { onEvict: (key, value) => evicted.push([key, value]) });
      const reference = new ReferenceSieve(capacity);
      // Plain comparisons in the loop (expect() per step is slow); a mismatch fails with its context.
      const check = (op: number, what: string, actual: unknown, expected: unknown): void => {
        if (actual !== expected)
          expect({ seed, op, what, actual }).toEqual({ seed, op, what, actual: expected });
      };
      for (let op = 0; op < 10_000; op++) {
        const key = `k${Math.floor(random(keySpace))}`;
        const choice = random(100);
        if (choice < 45) {
          check(op, 'get', sieve.get(key), reference.get(key));
        } else if (choice < 85) {
          sieve.set(key, op);
          reference.set(key, op);
        } else if (choice < 93) {
          check(op, 'peek', sieve.peek(key), reference.queue.find((e) => e.key === key)?.value);
        } else if (choice < 99.9) {
          check(op, 'delete', sieve.delete(key), reference.delete(key));
        } else {
          sieve.clear();
          reference.queue.length = 0;
          reference.hand = null;
        }
        if (sieve.size > capacity) expect(sieve.size).toBeLessThanOrEqual(capacity);
        check(op, 'size', sieve.size, reference.queue.length);
        check(op, 'evictions', evicted.length, reference.evicted.length);
        check(op, 'last evicted', evicted.at(-1)?.join(), reference.evicted.at(-1)?.join());
      }
      expect(evicted).toEqual(reference.evicted);
      expect([...sieve.keys()]).toEqual(reference.queue.map((e) => e.key));
    }
  });
});
