/**
 * The harness of the fault tests: engine instances sharing one record store and one test-owned
 * Redis (as L2, and as the bus when asked), a workload of writers and readers over a few keys, and
 * the checks every fault test makes:
 *
 * - no call takes longer than the bound the timeouts promise (a hang fails the test);
 * - every write is acknowledged (Redis is never the reason a write fails);
 * - once the fault is over and every instance's repair queue is empty, no read returns a version
 *   older than a write acknowledged before the read began.
 *
 * Reads during the fault are counted, not judged: until the repair queue of the writer has run, another instance
 * may still find the value the writer could not remove (DESIGN §3, "Cache unreachable during a
 * write"; the Postgres outbox closes that window).
 */
import { createCache, memoryRecords, memoryStore, type WriteThroughCache } from '@writethrough/core';
import { type RedisServer, sleep, waitFor } from '@writethrough/testing';
import { expect } from 'vitest';
import { redisBus, redisStore } from '../src/index.js';

/** The store's own bound on every Redis call, ms. */
export const TIMEOUT_MS = 250;
/**
 * No cache call may take longer than this: a write makes two tier steps and a read at most two
 * (get, then fill), each bounded by TIMEOUT_MS, plus the in-memory record store and scheduling on a
 * busy 2-core machine.
 */
export const CALL_BOUND_MS = 4 * TIMEOUT_MS + 1_500;

export interface Value {
  readonly n: number;
  readonly by: string;
  /** Filler, to make values take memory (the maxmemory test). */
  readonly pad?: string;
}

export interface Instance {
  readonly name: string;
  readonly cache: WriteThroughCache<Value>;
  /** Restarts or failovers its redisStore detected. */
  restarts(): number;
  /** Calls its redisStore gave up on at `TIMEOUT_MS`. */
  timeouts(): number;
  close(): Promise<void>;
}

export interface Cluster {
  readonly instances: Instance[];
  /** The redisStore namespace the instances share. */
  readonly namespace: string;
  readonly records: ReturnType<typeof memoryRecords<Value>>;
  close(): Promise<void>;
}

/** `count` engine instances on `server`: L2 always, L1 + bus when `l1` is true. */
export async function instances(
  server: RedisServer,
  count: number,
  {
    l1 = false,
    namespace = `wt-fault-${process.pid}-${Date.now()}:`,
    detectRestarts = true,
    timeoutMs = TIMEOUT_MS,
    records = memoryRecords<Value>(),
  }: {
    l1?: boolean;
    namespace?: string;
    detectRestarts?: boolean;
    timeoutMs?: number;
    /** The database: a new one by default; pass one to bring instances up again on the same data. */
    records?: ReturnType<typeof memoryRecords<Value>>;
  } = {},
): Promise<Cluster> {
  const list: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const name = `i${i}`;
    const l2 = redisStore({ url: server.url, namespace, timeoutMs, detectRestarts });
    const bus = l1 ? redisBus({ url: server.url, namespace, timeoutMs }) : undefined;
    const cache = createCache<Value>({
      name: 'faults',
      records,
      l1: l1 ? memoryStore({ maxEntries: 1_000 }) : false,
      l2,
      ...(bus === undefined ? {} : { bus }),
      breakerFailures: 3,
      breakerOpenMs: 200,
      repairIntervalMs: 50,
      instanceId: name,
      leaseWait: { attempts: 2, delayMs: 5 },
    });
    list.push({
      name,
      cache,
      restarts: () => l2.stats.restarts,
      timeouts: () => l2.stats.timeouts,
      close: async () => {
        await cache.close();
        await l2.close();
        await bus?.close?.();
      },
    });
  }
  return {
    instances: list,
    namespace,
    records,
    close: async () => {
      for (const each of list) await each.close();
    },
  };
}

/** What a workload saw. */
export interface Observed {
  writes: number;
  /** Writes acknowledged, by phase. */
  writesIn: Record<string, number>;
  reads: number;
  /** Reads judged strictly that returned a version older than a write acknowledged before they began. */
  staleReads: { key: string; got: number; acked: number; phase: string }[];
  /** The same, among the reads made while the fault lasted (counted, not judged). */
  staleDuringFault: { key: string; got: number; acked: number; phase: string }[];
  /** Calls slower than CALL_BOUND_MS. */
  slowCalls: { op: string; ms: number; phase: string }[];
  /** Writes that rejected. */
  failedWrites: { key: string; error: unknown }[];
  /** Reads that rejected. */
  failedReads: { key: string; error: unknown }[];
}

/** The workload: writers and readers on every instance over `keys`, until `stop()`. */
export class Workload {
  /** Every acknowledged write, per key: its version, the instance that made it, and when. */
  readonly acks = new Map<string, { version: number; by: string; at: number }[]>();
  readonly observed: Observed = {
    writes: 0,
    writesIn: {},
    reads: 0,
    staleReads: [],
    staleDuringFault: [],
    slowCalls: [],
    failedWrites: [],
    failedReads: [],
  };
  /** Which phase the next calls belong to (for the report). */
  phase = 'before';
  #running = false;
  #loops: Promise<void>[] = [];
  #n = 0;

  constructor(
    readonly cluster: Cluster,
    readonly keys: readonly string[],
    {
      pad = '',
      busLagMs = 0,
    }: {
      /** Filler added to every value written. */
      pad?: string;
      /**
       * With L1 and a bus, another instance's write reaches this instance's L1 after the bus
       * delivers it: a read is judged against its own instance's writes and the others' writes
       * acknowledged at least this long before it began. 0 (no L1): against every write.
       */
      busLagMs?: number;
    } = {},
  ) {
    this.pad = pad;
    this.busLagMs = busLagMs;
  }

  readonly pad: string;
  readonly busLagMs: number;

  /** The version a read of `key` on `instance` beginning now must return at least. */
  required(instance: Instance, key: string): number {
    const now = performance.now();
    let version = 0;
    for (const ack of this.acks.get(key) ?? []) {
      if (ack.version > version && (ack.by === instance.name || ack.at <= now - this.busLagMs)) {
        version = ack.version;
      }
    }
    return version;
  }

  async #timed<T>(op: string, call: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const phase = this.phase;
    try {
      return await call();
    } finally {
      const ms = performance.now() - began;
      if (ms > CALL_BOUND_MS) this.observed.slowCalls.push({ op, ms: Math.round(ms), phase });
    }
  }

  /** One write of `key` on `instance`; returns the acknowledged version. */
  async write(instance: Instance, key: string): Promise<number | undefined> {
    const value: Value =
      this.pad === ''
        ? { n: ++this.#n, by: instance.name }
        : { n: ++this.#n, by: instance.name, pad: this.pad };
    try {
      const { version } = await this.#timed('set', () => instance.cache.set(key, value));
      this.observed.writes++;
      this.observed.writesIn[this.phase] = (this.observed.writesIn[this.phase] ?? 0) + 1;
      const log = this.acks.get(key) ?? [];
      log.push({ version, by: instance.name, at: performance.now() });
      // Only the newest ack per instance and the newest overall can ever decide a read.
      if (log.length > 64) log.splice(0, log.length - 32);
      this.acks.set(key, log);
      return version;
    } catch (error) {
      this.observed.failedWrites.push({ key, error });
      return undefined;
    }
  }

  /** One read of `key` on `instance`, checked against the writes acknowledged before it began. */
  async read(instance: Instance, key: string, strict: boolean): Promise<void> {
    const acked = this.required(instance, key);
    const phase = this.phase;
    try {
      const entry = await this.#timed('get', () => instance.cache.getEntry(key));
      this.observed.reads++;
      const got = entry?.version ?? 0;
      if (got < acked)
        (strict ? this.observed.staleReads : this.observed.staleDuringFault).push({ key, got, acked, phase });
    } catch (error) {
      this.observed.failedReads.push({ key, error });
    }
  }

  /** Writes every key once and reads it on every instance (fills L2). */
  async warm(): Promise<void> {
    for (const key of this.keys) await this.write(this.cluster.instances[0]!, key);
    for (const instance of this.cluster.instances) {
      for (const key of this.keys) await this.read(instance, key, true);
    }
  }

  /** Starts `writers` write loops and `readers` read loops per instance; reads are judged only when `strict()`. */
  start({
    writers = 1,
    readers = 2,
    strict,
  }: {
    writers?: number;
    readers?: number;
    strict: () => boolean;
  }): void {
    this.#running = true;
    const pick = () => this.keys[Math.floor(Math.random() * this.keys.length)]!;
    for (const instance of this.cluster.instances) {
      for (let w = 0; w < writers; w++) {
        this.#loops.push(
          (async () => {
            while (this.#running) {
              await this.write(instance, pick());
              await sleep(Math.random() * 4);
            }
          })(),
        );
      }
      for (let r = 0; r < readers; r++) {
        this.#loops.push(
          (async () => {
            while (this.#running) {
              await this.read(instance, pick(), strict());
              await sleep(Math.random() * 2);
            }
          })(),
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  /**
   * After the fault: waits until no instance has a repair pending, then, key by key, writes on one
   * instance and reads on every instance, and runs the mixed workload with every read judged.
   */
  async verifyRecovered(ms = 600): Promise<void> {
    this.phase = 'recovering';
    await waitFor(() => this.cluster.instances.every((i) => i.cache.stats().pendingRepairs === 0), {
      timeoutMs: 15_000,
      what: 'the repair queues to empty',
    });
    this.phase = 'after';
    for (const key of this.keys) {
      for (const instance of this.cluster.instances) await this.read(instance, key, true);
      await this.write(this.cluster.instances[this.keys.indexOf(key) % this.cluster.instances.length]!, key);
      for (const instance of this.cluster.instances) await this.read(instance, key, true);
    }
    this.start({ strict: () => true });
    await sleep(ms);
    await this.stop();
  }

  /** The checks every fault test makes. */
  expectHealthy(): void {
    const o = this.observed;
    expect(o.slowCalls, `calls slower than ${CALL_BOUND_MS} ms (a hang)`).toEqual([]);
    expect(
      o.failedWrites.map((f) => String(f.error)),
      'writes that failed',
    ).toEqual([]);
    expect(
      o.failedReads.map((f) => String(f.error)),
      'reads that failed',
    ).toEqual([]);
    expect(
      o.staleReads.filter((s) => s.phase === 'after'),
      'reads after recovery older than an acknowledged write',
    ).toEqual([]);
    expect(o.writes, 'writes acknowledged').toBeGreaterThan(0);
    expect(o.reads, 'reads answered').toBeGreaterThan(0);
  }
}
