/** One caller's write waiting in a batch. */
export interface BatchRow<V> {
  readonly key: string;
  /** The checked, encoded value (the engine's prepared form). */
  readonly p: { readonly value: V; readonly text: string; readonly frozen: V };
  resolve(result: { version: number }): void;
  reject(error: unknown): void;
}

interface Pending<V> {
  p: BatchRow<V>['p'];
  waiters: { resolve(result: { version: number }): void; reject(error: unknown): void }[];
}

/**
 * Collects unconditional writes and hands them to `send` as batches. Writes to a key already in the
 * waiting batch coalesce: the last value wins and every caller gets the version it was committed at.
 *
 * When a batch goes: with fewer than `maxInFlight` batches in flight, at the end of the current
 * event-loop turn (the writes of one turn travel together, and none waits for a timer); with
 * `maxInFlight` in flight, as soon as one of them finishes, or after `maxWaitMs`, whichever comes
 * first; and at once when it holds `maxSize` keys. So a lone write is not delayed, and under load
 * the writes that arrive while the database is busy gather into the next batch.
 */
export class Batcher<V> {
  readonly #maxSize: number;
  readonly #maxWaitMs: number;
  readonly #maxInFlight: number;
  readonly #send: (rows: BatchRow<V>[]) => Promise<void>;
  #pending = new Map<string, Pending<V>>();
  #timer: NodeJS.Timeout | undefined;
  #turn: NodeJS.Immediate | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    maxSize: number,
    maxWaitMs: number,
    maxInFlight: number,
    send: (rows: BatchRow<V>[]) => Promise<void>,
  ) {
    this.#maxSize = maxSize;
    this.#maxWaitMs = maxWaitMs;
    this.#maxInFlight = maxInFlight;
    this.#send = send;
  }

  /** Queues a write; resolves with its commit version. */
  add(key: string, p: BatchRow<V>['p']): Promise<{ version: number }> {
    return new Promise((resolve, reject) => {
      const existing = this.#pending.get(key);
      if (existing !== undefined) {
        existing.p = p;
        existing.waiters.push({ resolve, reject });
      } else {
        this.#pending.set(key, { p, waiters: [{ resolve, reject }] });
      }
      if (this.#pending.size >= this.#maxSize) this.#flushNow();
      else if (this.#inFlight.size < this.#maxInFlight) {
        this.#turn ??= setImmediate(() => {
          this.#turn = undefined;
          this.#flushNow();
        });
      } else if (this.#timer === undefined) {
        this.#timer = setTimeout(() => this.#flushNow(), this.#maxWaitMs);
      }
    });
  }

  /** Sends what is pending now and waits for every batch in flight. */
  async flush(): Promise<void> {
    this.#flushNow();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #flushNow(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#turn !== undefined) {
      clearImmediate(this.#turn);
      this.#turn = undefined;
    }
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const rows: BatchRow<V>[] = [];
    for (const [key, { p, waiters }] of batch) {
      rows.push({
        key,
        p,
        resolve: (result) => {
          for (const w of waiters) w.resolve(result);
        },
        reject: (error) => {
          for (const w of waiters) w.reject(error);
        },
      });
    }
    const sent = this.#send(rows).catch((error) => {
      for (const row of rows) row.reject(error);
    });
    this.#inFlight.add(sent);
    sent.then(() => {
      this.#inFlight.delete(sent);
      // The writes that gathered while the limit was reached go now.
      if (this.#pending.size > 0 && this.#turn === undefined) this.#flushNow();
    });
  }
}
