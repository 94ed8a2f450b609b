/**
 * Per-key FIFO locks for the writes of one process (race R10: two `await`s on one key interleave
 * as threads do). `acquire` enqueues on every key synchronously, so two multi-key acquisitions are
 * ordered the same way on every key they share and cannot deadlock.
 */
export class KeyLock {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Holds `key` at once when it is free and returns the function that releases it; returns
   * undefined when it is held (then use `acquire`). Saves a promise on the uncontended path.
   */
  tryAcquire(key: string): (() => void) | undefined {
    if (this.#tails.has(key)) return undefined;
    let release!: () => void;
    const promise = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tails.set(key, promise);
    return () => {
      if (this.#tails.get(key) === promise) this.#tails.delete(key);
      release();
    };
  }

  /** Waits until every key in `keys` is free, holds them, and returns the function that releases them. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const previous: Promise<void>[] = [];
    const mine: { key: string; promise: Promise<void>; release: () => void }[] = [];
    for (const key of keys) {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = this.#tails.get(key);
      if (tail) previous.push(tail);
      this.#tails.set(key, promise);
      mine.push({ key, promise, release });
    }
    if (previous.length === 1) await previous[0];
    else if (previous.length > 1) await Promise.all(previous);
    return () => {
      for (const { key, promise, release } of mine) {
        if (this.#tails.get(key) === promise) this.#tails.delete(key);
        release();
      }
    };
  }

  /** Keys currently held or waited for (for tests and stats). */
  get size(): number {
    return this.#tails.size;
  }
}
