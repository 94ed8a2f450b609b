/**
 * A bounded map with the SIEVE eviction policy (Zhang et al., "SIEVE is Simpler than LRU", NSDI '24):
 * entries sit in a FIFO queue with a "visited" bit each; a hit only sets the bit (the queue is never
 * reordered), and eviction moves a hand from the oldest entry towards the newest, clearing visited
 * bits, and evicts the first entry whose bit is clear. Every operation is O(1) amortized.
 */

import { InvalidArgumentError } from './errors.js';

/**
 * One entry of the queue (`newer` points towards the head, `older` towards the tail). Callers store
 * their own records as nodes, so a lookup lands on the caller's record in one step, and order the
 * fields as their hot path reads them.
 */
export interface SieveNode {
  readonly key: string;
  visited: boolean;
  newer: this | undefined;
  older: this | undefined;
}

/** Options of a `Sieve`. */
export interface SieveOptions<N extends SieveNode> {
  /** Called with each node the policy evicts to make room (not on `delete`, `clear` or replacement). */
  readonly onEvict?: (node: N) => void;
}

/** A map of at most `capacity` nodes, by key, that evicts with SIEVE. */
export class Sieve<N extends SieveNode> {
  /** The most entries the map holds. */
  readonly capacity: number;
  readonly #map = new Map<string, N>();
  readonly #onEvict: ((node: N) => void) | undefined;
  /** The newest entry. */
  #head: N | undefined = undefined;
  /** The oldest entry. */
  #tail: N | undefined = undefined;
  /** The next eviction candidate; `undefined` means "start at the tail". */
  #hand: N | undefined = undefined;

  /** Creates an empty map; `capacity` is an integer >= 1. */
  constructor(capacity: number, options: SieveOptions<N> = {}) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError(`SIEVE capacity must be an integer >= 1, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.#onEvict = options.onEvict;
  }

  /** The number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The node of `key`, marking it visited; `undefined` when absent. */
  get(key: string): N | undefined {
    const node = this.#map.get(key);
    // Written only when it changes: a hit on a hot entry then leaves its cache line clean.
    if (node !== undefined && !node.visited) node.visited = true;
    return node;
  }

  /** The node of `key` without marking it visited. */
  peek(key: string): N | undefined {
    return this.#map.get(key);
  }

  /** True when `key` is present (does not mark it visited). */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /**
   * Stores `node` under `node.key`. A node replacing another of the same key takes its place in
   * the queue and counts as visited; a new key enters at the head, after evicting one entry when
   * the map is full. A node must not be stored twice.
   */
  set(node: N): void {
    const existing = this.#map.get(node.key);
    node.visited = existing !== undefined;
    if (existing !== undefined) {
      this.#map.set(node.key, node);
      this.#replace(existing, node);
      return;
    }
    if (this.#map.size >= this.capacity) {
      const victim = this.#evict();
      this.#onEvict?.(victim);
    }
    this.#map.set(node.key, node);
    this.#pushHead(node);
  }

  /** Removes `key`; returns true when it was present. */
  delete(key: string): boolean {
    const node = this.#map.get(key);
    if (node === undefined) return false;
    this.#map.delete(key);
    this.#unlink(node);
    return true;
  }

  /** Removes every entry (without calling `onEvict`). */
  clear(): void {
    this.#map.clear();
    this.#head = undefined;
    this.#tail = undefined;
    this.#hand = undefined;
  }

  /** The keys, oldest first (queue order; hits do not change it). */
  *keys(): IterableIterator<string> {
    for (let node = this.#tail; node !== undefined; node = node.newer) yield node.key;
  }

  /** Unlinks the node SIEVE chooses and removes it from the map; the map must not be empty. */
  #evict(): N {
    let node = this.#hand ?? this.#tail!;
    while (node.visited) {
      node.visited = false;
      node = node.newer ?? this.#tail!;
    }
    this.#hand = node;
    this.#map.delete(node.key);
    this.#unlink(node);
    return node;
  }

  #pushHead(node: N): void {
    node.older = this.#head;
    node.newer = undefined;
    if (this.#head === undefined) this.#tail = node;
    else this.#head.newer = node;
    this.#head = node;
  }

  /** Puts `node` where `old` is in the queue (and under the hand, if the hand was on `old`). */
  #replace(old: N, node: N): void {
    node.newer = old.newer;
    node.older = old.older;
    if (old.newer === undefined) this.#head = node;
    else old.newer.older = node;
    if (old.older === undefined) this.#tail = node;
    else old.older.newer = node;
    if (this.#hand === old) this.#hand = node;
    old.newer = undefined;
    old.older = undefined;
  }

  #unlink(node: N): void {
    // The hand moves on to the next newer entry, as it would after evicting this one.
    if (this.#hand === node) this.#hand = node.newer;
    if (node.newer === undefined) this.#head = node.older;
    else node.newer.older = node.older;
    if (node.older === undefined) this.#tail = node.newer;
    else node.older.newer = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }
}
