/**
 * A bounded map with the SIEVE eviction policy (Zhang et al., "SIEVE is Simpler than LRU", NSDI '24):
 * entries sit in a FIFO queue with a "visited" bit each; a hit only sets the bit (the queue is never
 * reordered), and eviction moves a hand from the oldest entry towards the newest, clearing visited
 * bits, and evicts the first entry whose bit is clear. Every operation is O(1) amortized.
 */

import { InvalidArgumentError } from './errors.js';

/** One entry, linked into the queue (`newer` points towards the head, `older` towards the tail). */
class SieveNode<V> {
  key: string;
  value: V;
  visited = false;
  newer: SieveNode<V> | undefined = undefined;
  older: SieveNode<V> | undefined = undefined;

  constructor(key: string, value: V) {
    this.key = key;
    this.value = value;
  }
}

/** Options of a `Sieve`. */
export interface SieveOptions<V> {
  /** Called with each entry the policy evicts to make room (not on `delete`, `clear` or replacement). */
  readonly onEvict?: (key: string, value: V) => void;
}

/** A map of at most `capacity` entries that evicts with SIEVE. */
export class Sieve<V> {
  /** The most entries the map holds. */
  readonly capacity: number;
  readonly #map = new Map<string, SieveNode<V>>();
  readonly #onEvict: ((key: string, value: V) => void) | undefined;
  /** The newest entry. */
  #head: SieveNode<V> | undefined = undefined;
  /** The oldest entry. */
  #tail: SieveNode<V> | undefined = undefined;
  /** The next eviction candidate; `undefined` means "start at the tail". */
  #hand: SieveNode<V> | undefined = undefined;

  /** Creates an empty map; `capacity` is an integer >= 1. */
  constructor(capacity: number, options: SieveOptions<V> = {}) {
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

  /** The value of `key`, marking it visited; `undefined` when absent. */
  get(key: string): V | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    // Written only when it changes: a hit on a hot entry then leaves its cache line clean.
    if (!node.visited) node.visited = true;
    return node.value;
  }

  /** The value of `key` without marking it visited. */
  peek(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** True when `key` is present (does not mark it visited). */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /**
   * Sets `key`. An existing entry keeps its place in the queue and counts as visited; a new entry
   * enters at the head, after evicting one entry when the map is full.
   */
  set(key: string, value: V): void {
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      existing.value = value;
      existing.visited = true;
      return;
    }
    let node: SieveNode<V>;
    if (this.#map.size >= this.capacity) {
      const victim = this.#evict();
      const evictedKey = victim.key;
      const evictedValue = victim.value;
      // The victim's node is reused for the new entry: a full map allocates nothing per insert.
      victim.key = key;
      victim.value = value;
      victim.visited = false;
      node = victim;
      this.#onEvict?.(evictedKey, evictedValue);
    } else {
      node = new SieveNode(key, value);
    }
    this.#map.set(key, node);
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

  /** Unlinks the entry SIEVE chooses and removes it from the map; the map must not be empty. */
  #evict(): SieveNode<V> {
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

  #pushHead(node: SieveNode<V>): void {
    node.older = this.#head;
    node.newer = undefined;
    if (this.#head === undefined) this.#tail = node;
    else this.#head.newer = node;
    this.#head = node;
  }

  #unlink(node: SieveNode<V>): void {
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
