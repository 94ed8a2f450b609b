/**
 * Deterministic race tests (research `semantics.md` §3 T4): one scripted interleaving per race of §2
 * and per counterexample of the model (`shared/model/README.md`), forced with the engine's pause
 * points, gates on the tiers and the record store, and deferred promises. Each race is run several
 * times with seeded random delays inside its window, and each must fail with its guard switched off
 * (`RACE_GUARDS`, checked by `races-mutations.test.ts`).
 *
 * Two "instances" are two caches sharing the record store, the L2 store and a bus hub, each with its
 * own L1. "Observers" are instances without L1: they read through L2, the shared tier.
 */

import type {
  CacheStore,
  EngineGuard,
  InvalidationBus,
  Lookup,
  MemoryRecords,
  MemoryStoreGuard,
  PauseInfo,
  PausePoint,
  RecordStore,
  WriteThroughCache,
} from '@writethrough/core';
import {
  createCache,
  memoryBus,
  memoryRecords,
  memoryStore,
  RecordStoreError,
  WriteOutcomeUnknownError,
} from '@writethrough/core';
import { describe, expect, it } from 'vitest';

import { chaosCacheStore, chaosRecordStore } from './chaos.js';
import { type Deferred, deferred } from './deferred.js';
import { randomKey } from './random-keys.js';

// ---------------------------------------------------------------------------------------------
// The environment a caller supplies
// ---------------------------------------------------------------------------------------------

/** Guards switched off for a run (empty: the protocol as verified). */
export interface RaceGuards {
  /** Engine guards, passed to every cache as `debug.unsafeDisable`. */
  readonly engineGuardsOff?: readonly EngineGuard[];
  /** Store guards, for the environment to switch off in the stores it builds (L1 and L2). */
  readonly storeGuardsOff?: readonly MemoryStoreGuard[];
}

/** A bus hub: each instance connects its own endpoint. `memoryBus()` is one. */
export interface RaceBusHub {
  connect(origin: string): InvalidationBus;
}

/** What an L2 eviction removes: the key's write mark only (in-flight writers and floor), or everything. */
export type L2Loss = 'mark' | 'all';

/** The tiers a race runs on, built fresh for each iteration. Values are strings. */
export interface RaceEnv {
  /** The database, shared by every instance. */
  readonly records: RecordStore<string>;
  /** The shared tier (the races that need it fail without it). */
  readonly l2?: CacheStore<unknown>;
  /** A new L1 for one instance. */
  readonly l1: () => CacheStore<unknown>;
  /** The bus hub; without it a race uses its own `memoryBus()`. */
  readonly bus?: RaceBusHub;
  /**
   * Makes L2 lose what it holds for `key` as an eviction or an expiry would (R12): `mark` removes the
   * write mark and keeps the lease and the value; `all` removes value, lease and mark. Needed by R2 and
   * by the model's counterexamples.
   */
  readonly evictL2?: (key: string, loss: L2Loss) => void | Promise<void>;
  /** Releases what the environment opened. */
  readonly cleanup?: () => void | Promise<void>;
}

/** Builds the tiers of one iteration, with the given store guards off. */
export type MakeRaceEnv = (guards: Required<RaceGuards>) => RaceEnv | Promise<RaceEnv>;

/** Options of one race run. */
export interface RaceOptions extends RaceGuards {
  /** Iterations, each on fresh tiers with its own random delays. Default 20. */
  readonly iterations?: number;
  /** Seed of the random delays. Default: `RACE_SEED` from the environment, else random (printed on failure). */
  readonly seed?: number;
  /** Bound on every wait for a pause point or a bus message, ms (a safety net, not an ordering). Default 2_000. */
  readonly waitMs?: number;
}

/** One race: runs its interleaving `iterations` times and throws on the first violation. */
export type Race = (makeEnv: MakeRaceEnv, options?: RaceOptions) => Promise<void>;

/** The races, by name. */
export type RaceName =
  | 'R1-writers-out-of-order'
  | 'R2-stale-fill-after-eviction'
  | 'R3-crash-after-commit'
  | 'R5-bus-during-l2-read'
  | 'R5-bus-during-db-read'
  | 'R8-late-commit'
  | 'R8-commit-then-error'
  | 'R10-same-process-writes'
  | 'R11-cached-absence'
  | 'model-first-writer-out'
  | 'model-fix1-revoke-on-commit'
  | 'model-fix2-report-writing'
  | 'model-fix2-report-fill'
  | 'model-failsafe'
  | 'R3-crash-after-commit-warm-l1'
  | 'R8-retry-then-definite-failure'
  | 'R8-remote-l1-refilled-before-late-commit'
  | 'R1-batch-writers-out-of-order'
  | 'R3-batch-crash-after-commit-warm-l1';

/** The in-process tiers: `memoryRecords`, a shared `memoryStore` as L2 on an injected clock, `memoryBus`. */
export function memoryRaceEnv(guards: RaceGuards = {}): RaceEnv {
  let now = Date.now();
  const storeGuardsOff = guards.storeGuardsOff ?? [];
  // One mark only: writing a mark for another key is how `evictL2(key, 'mark')` evicts this key's.
  const l2 = memoryStore({ now: () => now, maxMarks: 1, unsafeDisable: storeGuardsOff });
  return {
    records: memoryRecords<string>(),
    l2,
    l1: () => memoryStore({ unsafeDisable: storeGuardsOff }),
    bus: memoryBus(),
    evictL2(_key, loss) {
      if (loss === 'all') {
        // Expiry: the clock jumps past every TTL (value, lease, mark and floor).
        now += 1e9;
        return;
      }
      l2.beginWriteSync(EVICTOR_KEY, 'evictor', 1_000);
      l2.abortWriteSync(EVICTOR_KEY, 'evictor');
    },
  };
}

const EVICTOR_KEY = '\u0000race-evictor';

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/** A read's result: the value and version returned (version 0 for "not found"). */
interface ReadResult {
  readonly value: string | undefined;
  readonly version: number;
}

/** A pause registered at a point: resolves `reached` when the engine gets there, waits for `release`. */
interface Pause {
  readonly reached: Promise<PauseInfo>;
  release(): void;
}

interface NodeOptions {
  /** Give the instance an L1 (and a bus endpoint). Default true. */
  readonly l1?: boolean;
  readonly records?: RecordStore<string>;
  readonly l2?: CacheStore<unknown>;
  readonly retry?: false | { attempts: number; baseDelayMs: number; random: () => number };
}

const POINTS: readonly PausePoint[] = [
  'beforeBegin',
  'afterBegin',
  'afterCommit',
  'beforeAck',
  'afterRecordRead',
  'beforeL1Apply',
];

/** Thrown when the harness itself could not reach a step: never counts as a caught violation. */
export class RaceHarnessError extends Error {
  override readonly name = 'RaceHarnessError';
}

/** One instance: a cache with pause points on every named point and a log of applied bus messages. */
class RaceNode {
  readonly name: string;
  readonly cache: WriteThroughCache<string>;
  readonly endpoint: InvalidationBus | undefined;
  readonly #published: number[] = [];
  readonly #ctx: RaceContext;
  readonly #pauses = new Map<PausePoint, { reached: Deferred<PauseInfo>; go: Deferred<void> }[]>();
  readonly #applied: number[] = [];
  readonly #appliedWaiters: { match: (v: number) => boolean; done: Deferred<void> }[] = [];

  constructor(ctx: RaceContext, name: string, options: NodeOptions) {
    this.#ctx = ctx;
    this.name = name;
    const hooks: Partial<Record<PausePoint, (info: PauseInfo) => Promise<void>>> = {};
    for (const point of POINTS) hooks[point] = (info) => this.#hook(info);
    const withL1 = options.l1 ?? true;
    const l2 = options.l2 ?? ctx.env.l2;
    if (withL1) {
      const endpoint = ctx.hub.connect(`${name}-${ctx.iteration}`);
      this.endpoint = interpose(endpoint, {
        publish: (message) => {
          if (message.key === ctx.key) this.#published.push(message.version);
          return endpoint.publish(message);
        },
      });
    }
    this.cache = createCache<string>({
      name: 'races',
      instanceId: `${name}-${ctx.iteration}`,
      records: options.records ?? ctx.env.records,
      l1: withL1 ? ctx.env.l1() : false,
      ...(l2 === undefined ? {} : { l2 }),
      ...(this.endpoint === undefined ? {} : { bus: this.endpoint }),
      ttlJitter: 0,
      // Leases never run out during a race: only the protocol (or an eviction) takes them away.
      leaseTtlMs: 3_600_000,
      retry: options.retry ?? false,
      debug: { hooks, unsafeDisable: ctx.guards.engineGuardsOff },
    });
  }

  /** Holds the next arrival at `point` (for the race's key) until `release()`. */
  pause(point: PausePoint): Pause {
    const entry = { reached: deferred<PauseInfo>(), go: deferred() };
    const list = this.#pauses.get(point) ?? [];
    list.push(entry);
    this.#pauses.set(point, list);
    const ctx = this.#ctx;
    const what = `${this.name} reaching ${point}`;
    return {
      // Bounded from when the race waits for it, not from when it was registered.
      get reached() {
        return ctx.within(entry.reached.promise, what);
      },
      release: () => entry.go.resolve(),
    };
  }

  /** Resolves once a bus message whose version matches has been applied to this instance's L1. */
  async applied(match: (version: number) => boolean, what: string): Promise<void> {
    if (!this.#applied.some(match)) {
      const done = deferred();
      this.#appliedWaiters.push({ match, done });
      await this.#ctx.within(done.promise, `${this.name} receiving the bus message of ${what}`);
    }
    // The message is applied on the microtask after the hook returns: one macrotask turn covers it.
    await turn();
  }

  /** Whether this instance published a bus message about the race's key whose version matches. */
  published(match: (version: number) => boolean): boolean {
    return this.#published.some(match);
  }

  /** Reads the race's key and records the result. */
  async read(): Promise<ReadResult> {
    const entry = await this.cache.getEntry(this.#ctx.key);
    return entry === undefined
      ? { value: undefined, version: 0 }
      : { value: entry.value, version: entry.version };
  }

  async #hook(info: PauseInfo): Promise<void> {
    if (info.key !== this.#ctx.key) return;
    if (info.point === 'beforeL1Apply') {
      const version = info.version ?? 0;
      this.#applied.push(version);
      for (const waiter of this.#appliedWaiters) if (waiter.match(version)) waiter.done.resolve();
    }
    const entry = this.#pauses.get(info.point)?.shift();
    if (entry === undefined) return;
    entry.reached.resolve(info);
    await entry.go.promise;
  }
}

/** What a race script works with during one iteration. */
class RaceContext {
  readonly env: RaceEnv;
  readonly guards: Required<RaceGuards>;
  readonly iteration: number;
  readonly key: string;
  readonly hub: RaceBusHub;
  readonly #random: () => number;
  readonly #waitMs: number;
  readonly #nodes: RaceNode[] = [];
  /** Version → value of every commit the race knows of (acknowledged or not). */
  readonly #committed = new Map<number, string>();
  /** Highest version acknowledged to a writer so far. */
  acked = 0;

  constructor(
    env: RaceEnv,
    guards: Required<RaceGuards>,
    iteration: number,
    random: () => number,
    waitMs: number,
  ) {
    this.env = env;
    this.guards = guards;
    this.iteration = iteration;
    this.key = randomKey('race');
    this.hub = env.bus ?? memoryBus();
    this.#random = random;
    this.#waitMs = waitMs;
  }

  get l2(): CacheStore<unknown> {
    if (this.env.l2 === undefined)
      throw new RaceHarnessError('this race needs an L2 store in the environment');
    return this.env.l2;
  }

  /** A new instance with L1 and a bus endpoint (or, with `l1: false`, an observer reading through L2). */
  node(name: string, options: NodeOptions = {}): RaceNode {
    const node = new RaceNode(this, name, options);
    this.#nodes.push(node);
    return node;
  }

  /** Writes through `node` and records the acknowledged version. */
  async write(node: RaceNode, value: string): Promise<number> {
    const { version } = await node.cache.set(this.key, value);
    this.committed(version, value);
    this.ack(version);
    return version;
  }

  /** Starts a write in the background (its rejection is kept for the race to inspect). */
  startWrite(node: RaceNode, value: string): Promise<{ version: number }> {
    const p = node.cache.set(this.key, value);
    p.then(
      ({ version }) => this.committed(version, value),
      () => undefined,
    );
    return p;
  }

  /**
   * Starts a write of the race's key in one `setMany` with a second key (the batched write path:
   * on a tier with batched steps, one `beginWriteMany` and one `commitWriteMany`); resolves with the
   * race key's version.
   */
  startBatchWrite(node: RaceNode, value: string): Promise<number> {
    const p = node.cache
      .setMany([
        { key: this.key, value },
        { key: `${this.key}:mate`, value: `${value}-mate` },
      ])
      .then((versions) => versions.get(this.key)!.version);
    p.then(
      (version) => this.committed(version, value),
      () => undefined,
    );
    return p;
  }

  /** Records a commit (so that reads can be checked for phantoms). */
  committed(version: number, value: string): void {
    this.#committed.set(version, value);
  }

  /** Records an acknowledgement. */
  ack(version: number): void {
    if (version > this.acked) this.acked = version;
  }

  /** Seeds the database directly (no tier sees it) and records the commit. */
  async seed(value: string): Promise<number> {
    const { version } = await this.env.records.set(this.key, value);
    this.committed(version, value);
    this.ack(version);
    return version;
  }

  /**
   * Reads through `node` and checks the result: at least `atLeast`, at least every version acknowledged
   * before the read started, and no phantom.
   */
  async expectRead(node: RaceNode, atLeast: number, why: string): Promise<ReadResult> {
    const ackedAtStart = this.acked;
    const read = await node.read();
    this.check(read, Math.max(atLeast, ackedAtStart), `${node.name} ${why}`);
    return read;
  }

  /** Checks a read: version >= `atLeast`, and the value is the one committed at that version. */
  check(read: ReadResult, atLeast: number, why: string): void {
    expect(
      read.version,
      `${why}: returned version ${read.version} (${JSON.stringify(read.value)}), older than version ${atLeast}`,
    ).toBeGreaterThanOrEqual(atLeast);
    if (read.version > 0 && this.#committed.has(read.version)) {
      expect(read.value, `${why}: version ${read.version} carries another value`).toBe(
        this.#committed.get(read.version),
      );
    }
  }

  /** The database's current row. */
  async db(): Promise<ReadResult> {
    const row = await this.env.records.get(this.key);
    return row.found ? { value: row.value, version: row.version } : { value: undefined, version: 0 };
  }

  async evict(loss: L2Loss): Promise<void> {
    if (this.env.evictL2 === undefined) {
      throw new RaceHarnessError('this race needs evictL2 in the environment (an L2 eviction, R12)');
    }
    await this.env.evictL2(this.key, loss);
  }

  /** A random small delay inside the race's window: nothing, a few microtasks, a turn, or 0–2 ms. */
  async jitter(): Promise<void> {
    const r = this.#random();
    if (r < 0.25) return;
    if (r < 0.5) {
      const n = 1 + Math.floor(this.#random() * 5);
      for (let i = 0; i < n; i++) await Promise.resolve();
      return;
    }
    if (r < 0.75) return turn();
    await new Promise((resolve) => setTimeout(resolve, Math.floor(this.#random() * 3)));
  }

  /** A seeded coin. */
  coin(): boolean {
    return this.#random() < 0.5;
  }

  /** `promise`, or a `RaceHarnessError` after the bounded wait. */
  within<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new RaceHarnessError(`race harness: ${what} did not happen within ${this.#waitMs} ms`)),
        this.#waitMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    for (const node of this.#nodes) {
      await node.cache.close();
      await node.endpoint?.close?.();
    }
    await this.env.cleanup?.();
  }
}

/** Runs `script` `iterations` times on fresh tiers; rethrows the first failure with its iteration and seed. */
function race(name: string, script: (ctx: RaceContext) => Promise<void>): Race {
  return async (makeEnv, options = {}) => {
    const guards: Required<RaceGuards> = {
      engineGuardsOff: options.engineGuardsOff ?? [],
      storeGuardsOff: options.storeGuardsOff ?? [],
    };
    const iterations = options.iterations ?? 20;
    const seed = options.seed ?? defaultSeed();
    const random = seededRandom(seed);
    for (let i = 0; i < iterations; i++) {
      const env = await makeEnv(guards);
      const ctx = new RaceContext(env, guards, i, random, options.waitMs ?? 2_000);
      try {
        await script(ctx);
      } catch (error) {
        if (error instanceof Error) {
          error.message = `${name}, iteration ${i + 1} of ${iterations} (seed ${seed}): ${error.message}`;
        }
        throw error;
      } finally {
        await ctx.close();
      }
    }
  };
}

function defaultSeed(): number {
  const fromEnv = Number(process.env.RACE_SEED);
  return Number.isSafeInteger(fromEnv) ? fromEnv : Math.floor(Math.random() * 0x7fff_ffff);
}

/** xorshift32: a small seeded generator in [0, 1). */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 0x2545_f491;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `target` with some methods replaced (the others bound to `target`, so private fields keep working). */
function interpose<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(overrides, prop)) return (overrides as Record<PropertyKey, unknown>)[prop];
      const value = Reflect.get(t, prop, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** An L2 whose next `get` runs at once but answers only when `release()` is called (a slow reply). */
function holdNextGet(store: CacheStore<unknown>): {
  store: CacheStore<unknown>;
  answered: Promise<Lookup<unknown>>;
  release: () => void;
} {
  let last: Lookup<unknown> | undefined;
  const tap = interpose(store, {
    async get(key, options) {
      last = await store.get(key, options);
      return last;
    },
  });
  const { store: wrapped, chaos } = chaosCacheStore(tap);
  const held = chaos.pauseAt('get', { after: true });
  return { store: wrapped, answered: held.reached.then(() => last!), release: () => held.open() };
}

/** A settled promise's outcome, without throwing. */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

// ---------------------------------------------------------------------------------------------
// The races
// ---------------------------------------------------------------------------------------------

/**
 * R1: W1 commits v1 and stalls before its cache update; W2 commits v2 and finishes; W1 finishes.
 * Every tier must then give v2 (first writer out must not install).
 */
const r1 = race('R1-writers-out-of-order', async (ctx) => {
  const a = ctx.node('A');
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  if (ctx.coin()) {
    await ctx.write(a, 'v0');
    await b.read();
  }
  const w1Paused = a.pause('afterCommit');
  const w1 = ctx.startWrite(a, 'w1');
  const v1 = (await w1Paused.reached).version!;
  await ctx.jitter();
  const v2 = await ctx.write(b, 'w2');
  expect(v2).toBeGreaterThan(v1);
  const busFirst = ctx.coin();
  if (busFirst) await a.applied((v) => v === v2, 'W2');
  await ctx.jitter();
  w1Paused.release();
  ctx.ack((await w1).version);
  if (!busFirst) await a.applied((v) => v === v2, 'W2');
  await ctx.expectRead(observer, v2, 'read through L2 after both writes');
  await ctx.expectRead(a, v2, 'read on W1’s instance after both writes');
  await ctx.expectRead(b, v2, 'read on W2’s instance after both writes');
});

/**
 * R2 with R12: a reader holds the fill lease and loads v1; a writer commits v2; L2 then loses the
 * mark (floor) and the value, as eviction would; the reader's fill must be refused by the lease.
 */
const r2 = race('R2-stale-fill-after-eviction', async (ctx) => {
  const reader = ctx.node('R');
  const writer = ctx.node('W');
  const observer = ctx.node('O', { l1: false });
  const v1 = await ctx.seed('v1');
  const loaded = reader.pause('afterRecordRead');
  const read = reader.read();
  expect((await loaded.reached).version).toBe(v1);
  await ctx.jitter();
  const v2 = await ctx.write(writer, 'v2');
  const busFirst = ctx.coin();
  if (busFirst) await reader.applied((v) => v === v2, 'the write');
  await ctx.jitter();
  await ctx.evict('all');
  await ctx.jitter();
  loaded.release();
  ctx.check(await read, v1, 'the stalled read');
  if (!busFirst) await reader.applied((v) => v === v2, 'the write');
  await ctx.expectRead(observer, v2, 'read through L2 after the stale fill');
  await ctx.expectRead(reader, v2, 'read on the filling instance');
  await ctx.expectRead(writer, v2, 'read on the writer');
});

/**
 * R3: the writer commits v2 and crashes before any cache update (it stays paused at `afterCommit`
 * for good). A read started after the commit must not return v1 from L2 (the write mark says a
 * writer is in flight, so reads go to the database). An L1 on another instance that already held v1
 * is not covered: with the writer dead no bus message comes, and only `l1TtlMs` bounds it.
 */
const r3 = race('R3-crash-after-commit', async (ctx) => {
  const writer = ctx.node('W');
  const reader = ctx.node('R');
  const observer = ctx.node('O', { l1: false });
  const v1 = await ctx.seed('v1');
  await ctx.expectRead(observer, v1, 'warm-up read');
  const crash = writer.pause('afterCommit');
  void ctx.startWrite(writer, 'v2').catch(() => undefined);
  const v2 = (await crash.reached).version!;
  await ctx.jitter();
  await ctx.expectRead(observer, v2, 'read through L2 after the commit');
  await ctx.jitter();
  await ctx.expectRead(reader, v2, 'read on another instance after the commit');
  await ctx.expectRead(reader, v2, 'second read on that instance');
  await ctx.expectRead(observer, v2, 'second read through L2');
});

/**
 * R5 (the two-connection race): instance B's read gets v1 from L2 but the answer is slow; A writes v2
 * and its bus message is applied on B; then B's answer arrives and B fills L1. B's next read must
 * not return v1 (the bus message raised B's L1 floor and revoked its lease).
 */
const r5L2 = race('R5-bus-during-l2-read', async (ctx) => {
  const a = ctx.node('A');
  const observer = ctx.node('O', { l1: false });
  const v1 = await ctx.seed('v1');
  await ctx.expectRead(observer, v1, 'warm-up read');
  const slow = holdNextGet(ctx.l2);
  const b = ctx.node('B', { l2: slow.store });
  const read = b.read();
  const look = await ctx.within(slow.answered, 'B’s L2 get');
  expect(look.kind).toBe('hit');
  await ctx.jitter();
  const v2 = await ctx.write(a, 'v2');
  await b.applied((v) => v === v2, 'A’s write');
  await ctx.jitter();
  slow.release();
  ctx.check(await read, v1, 'the slow read');
  await ctx.expectRead(b, v2, 'B’s read after it applied the bus message');
});

/** R5, the fill from the database: B loaded v1 from the database when A's message for v2 is applied. */
const r5Db = race('R5-bus-during-db-read', async (ctx) => {
  const a = ctx.node('A');
  const b = ctx.node('B');
  const v1 = await ctx.seed('v1');
  const loaded = b.pause('afterRecordRead');
  const read = b.read();
  expect((await loaded.reached).version).toBe(v1);
  await ctx.jitter();
  const v2 = await ctx.write(a, 'v2');
  await b.applied((v) => v === v2, 'A’s write');
  await ctx.jitter();
  loaded.release();
  ctx.check(await read, v1, 'the stalled read');
  await ctx.expectRead(b, v2, 'B’s read after it applied the bus message');
});

/**
 * The record store of one instance whose next `set` fails at once with an unknown outcome while the
 * statement commits later, when `land()` is called (R8: the reply to COMMIT was lost, the commit was not).
 */
function lateCommit(records: RecordStore<string>): {
  records: RecordStore<string>;
  land: () => Promise<{ version: number }>;
} {
  let pending: { key: string; value: string } | undefined;
  let armed = true;
  const wrapped = interpose(records, {
    async set(key, value, options) {
      if (!armed) return records.set(key, value, options);
      armed = false;
      pending = { key, value };
      throw new RecordStoreError('the connection was reset while COMMIT was in flight (injected)', {
        key,
        retryable: false,
        outcome: 'unknown',
      });
    },
  });
  return {
    records: wrapped,
    land: async () => {
      if (pending === undefined) throw new RaceHarnessError('race harness: no ambiguous write to land');
      return records.set(pending.key, pending.value);
    },
  };
}

/**
 * R8: the database call throws an unknown-outcome error and the commit lands later. The caller must
 * get `WriteOutcomeUnknownError`; a reader in between may see v1 (nothing committed yet) but must not
 * leave it in L2; once the commit has landed, every read must return it.
 */
const r8Late = race('R8-late-commit', async (ctx) => {
  const v1 = await ctx.seed('v1');
  const late = lateCommit(ctx.env.records);
  const a = ctx.node('A', { records: late.records });
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  await ctx.expectRead(b, v1, 'warm-up read on B');
  await ctx.expectRead(a, v1, 'warm-up read on A');
  const outcome = await settle(a.cache.set(ctx.key, 'v2'));
  if (a.published((v) => v === 0)) await b.applied((v) => v === 0, 'the unknown outcome');
  await ctx.jitter();
  await ctx.expectRead(observer, v1, 'read through L2 before the commit lands');
  await ctx.jitter();
  const { version: v2 } = await late.land();
  ctx.committed(v2, 'v2');
  await ctx.jitter();
  await ctx.expectRead(observer, v2, 'read through L2 after the late commit');
  await ctx.expectRead(a, v2, 'read on the writer after the late commit');
  await ctx.expectRead(b, v2, 'read on B after the late commit');
  expect(outcome.ok ? outcome.value : outcome.error).toBeInstanceOf(WriteOutcomeUnknownError);
});

/**
 * The record store with its next `set` committing and then throwing a retryable unknown outcome:
 * `failAfterCommitNext` when the store has it (`memoryRecords`), else a wrapper doing the same.
 */
function commitThenError(records: RecordStore<string>): RecordStore<string> {
  const injectable = records as RecordStore<string> &
    Partial<Pick<MemoryRecords<string>, 'failAfterCommitNext'>>;
  if (typeof injectable.failAfterCommitNext === 'function') {
    injectable.failAfterCommitNext(1, ['set']);
    return records;
  }
  const { store, chaos } = chaosRecordStore(records);
  chaos.on('set').failAfterEffectNext(1);
  return store;
}

/**
 * R8, commit then error: the write commits and the reply is lost. The caller must get
 * `WriteOutcomeUnknownError` and no tier anywhere may keep v1 (B's L1 included: the unknown outcome is
 * announced on the bus).
 */
const r8After = race('R8-commit-then-error', async (ctx) => {
  const v1 = await ctx.seed('v1');
  const a = ctx.node('A', { records: commitThenError(ctx.env.records) });
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  await ctx.expectRead(b, v1, 'warm-up read on B');
  await ctx.expectRead(observer, v1, 'warm-up read through L2');
  const outcome = await settle(a.cache.set(ctx.key, 'v2'));
  const v2 = (await ctx.db()).version;
  expect(v2, 'the ambiguous write committed').toBeGreaterThan(v1);
  ctx.committed(v2, 'v2');
  if (a.published((v) => v === 0)) await b.applied((v) => v === 0, 'the unknown outcome');
  await ctx.jitter();
  await ctx.expectRead(b, v2, 'read on B after the ambiguous write');
  await ctx.expectRead(observer, v2, 'read through L2 after the ambiguous write');
  await ctx.expectRead(a, v2, 'read on the writer after the ambiguous write');
  expect(outcome.ok ? outcome.value : outcome.error).toBeInstanceOf(WriteOutcomeUnknownError);
});

/**
 * R10: `set(k, 'a')` then `set(k, 'b')` in one process without awaiting, the first database call
 * being slower. The database and every tier must end with 'b', at a higher version than 'a'.
 */
const r10 = race('R10-same-process-writes', async (ctx) => {
  const { store: records, chaos } = chaosRecordStore(ctx.env.records);
  const slowFirst = chaos.pauseAt('set');
  const a = ctx.node('A', { records });
  const observer = ctx.node('O', { l1: false });
  const wa = ctx.startWrite(a, 'a');
  const wb = ctx.startWrite(a, 'b');
  await ctx.within(slowFirst.reached, 'the first write reaching the database');
  // Let 'b' overtake if nothing stops it; with the key lock it never reaches the database first.
  for (let i = 0; i < 10 && chaos.count('set') < 2; i++) await turn();
  await ctx.jitter();
  slowFirst.open();
  const [ra, rb] = await Promise.all([wa, wb]);
  ctx.ack(Math.max(ra.version, rb.version));
  expect(rb.version, 'the second call must commit after the first').toBeGreaterThan(ra.version);
  const db = await ctx.db();
  expect(db.value, 'the database must hold the last call’s value').toBe('b');
  await ctx.expectRead(a, rb.version, 'read on the writing instance');
  await ctx.expectRead(observer, rb.version, 'read through L2');
});

/**
 * R11: B caches "not found" for k; A inserts k; B applies the bus message and must then read the
 * value (the cached absence carries the version it was read at, so the insert's version drops it).
 */
const r11 = race('R11-cached-absence', async (ctx) => {
  const a = ctx.node('A');
  const b = ctx.node('B');
  expect((await b.read()).value).toBeUndefined();
  expect((await b.read()).value, 'the absence is cached').toBeUndefined();
  await ctx.jitter();
  const v1 = await ctx.write(a, 'inserted');
  await b.applied((v) => v === v1, 'the insert');
  await ctx.jitter();
  await ctx.expectRead(b, v1, 'read on B after the insert');
});

/**
 * The model's "first writer out installs": W1 and W2 are in flight, W2 has committed v2, a reader
 * reads v2 from the database, then W1's commitWrite(v1) runs. A later read must not return v1.
 * Guarded twice: the in-flight set and the floor (raised by the reader's report).
 */
const firstWriterOut = race('model-first-writer-out', async (ctx) => {
  const a = ctx.node('A');
  const b = ctx.node('B');
  const o1 = ctx.node('O1', { l1: false });
  const o2 = ctx.node('O2', { l1: false });
  const p1 = a.pause('afterCommit');
  const w1 = ctx.startWrite(a, 'w1');
  const v1 = (await p1.reached).version!;
  await ctx.jitter();
  const p2 = b.pause('afterCommit');
  const w2 = ctx.startWrite(b, 'w2');
  const v2 = (await p2.reached).version!;
  expect(v2).toBeGreaterThan(v1);
  await ctx.jitter();
  const r1 = await ctx.expectRead(o1, v2, 'read while both writers are in flight');
  p1.release();
  ctx.ack((await w1).version);
  await ctx.jitter();
  await ctx.expectRead(o2, r1.version, 'read after W1 finished (monotonic after the earlier read)');
  p2.release();
  ctx.ack((await w2).version);
  await a.applied((v) => v === v2, 'W2');
  await ctx.expectRead(o1, v2, 'read after both writes');
  await ctx.expectRead(a, v2, 'read on W1’s instance after both writes');
});

/**
 * Fix 1 (the model's `fix1-off` trail): W1 begins; L2 loses the mark; a reader takes the lease and
 * loads v0; W1 commits v1 (commitWrite finds no token and installs nothing); L2 loses the floor; the
 * reader fills v0. commitWrite revoking the lease is what refuses that fill.
 */
const fix1 = race('model-fix1-revoke-on-commit', async (ctx) => {
  const w = ctx.node('W');
  const reader = ctx.node('R', { l1: false });
  const observer = ctx.node('O', { l1: false });
  const v0 = await ctx.seed('v0');
  const begun = w.pause('afterBegin');
  const write = ctx.startWrite(w, 'v1');
  await begun.reached;
  await ctx.evict('mark');
  const loaded = reader.pause('afterRecordRead');
  const read = reader.read();
  expect((await loaded.reached).version).toBe(v0);
  await ctx.jitter();
  begun.release();
  const v1 = (await write).version;
  ctx.ack(v1);
  await ctx.evict('mark');
  await ctx.jitter();
  loaded.release();
  ctx.check(await read, v0, 'the stalled read');
  await ctx.expectRead(observer, v1, 'read after the write was acknowledged');
});

/**
 * The two-writer setup of the model's fix-2 trails: W1 (instance A) has begun, the reader's L2 answer
 * is held, L2 loses the mark, W0 (instance B) commits v1 and stalls, W1 commits v2 and stalls.
 */
async function fix2Setup(ctx: RaceContext, firstAnswer: Lookup<unknown>['kind']) {
  const a = ctx.node('A');
  const b = ctx.node('B');
  const slow = holdNextGet(ctx.l2);
  const o1 = ctx.node('O1', { l1: false, l2: slow.store });
  const o2 = ctx.node('O2', { l1: false });
  let read: Promise<ReadResult> | undefined;
  let look: Lookup<unknown> | undefined;
  // On the LEASE path the reader's get must have been answered before W1 begins (an L2 across a
  // network answers later than W1 could begin otherwise).
  if (firstAnswer === 'lease') {
    read = o1.read();
    look = await ctx.within(slow.answered, 'the reader’s L2 get');
  }
  const w1Begun = a.pause('afterBegin');
  const w1Committed = a.pause('afterCommit');
  const w1 = ctx.startWrite(a, 'w1');
  await w1Begun.reached;
  if (firstAnswer === 'writing') {
    read = o1.read();
    look = await ctx.within(slow.answered, 'the reader’s L2 get');
  }
  expect(look?.kind).toBe(firstAnswer);
  await ctx.evict('all');
  await ctx.jitter();
  const w0Committed = b.pause('afterCommit');
  const w0 = ctx.startWrite(b, 'w0');
  const v1 = (await w0Committed.reached).version!;
  w1Begun.release();
  const v2 = (await w1Committed.reached).version!;
  expect(v2).toBeGreaterThan(v1);
  await ctx.jitter();
  slow.release();
  const r1 = await read!;
  ctx.check(r1, v2, 'the reader that saw the database after both commits');
  await ctx.jitter();
  w0Committed.release();
  ctx.ack((await w0).version);
  await ctx.expectRead(o2, r1.version, 'read after W0 finished (monotonic after the earlier read)');
  w1Committed.release();
  ctx.ack((await w1).version);
  await ctx.expectRead(o2, v2, 'read after both writes');
}

/** Fix 2 on the WRITING path (the model's `fix2-writing-off` trail): the engine's report. */
const fix2Writing = race('model-fix2-report-writing', (ctx) => fix2Setup(ctx, 'writing'));

/** Fix 2 in `fill` (the model's `fix2-fill-off` trail): a fill whose lease is gone reports its version. */
const fix2Fill = race('model-fix2-report-fill', (ctx) => fix2Setup(ctx, 'lease'));

/**
 * The fail-safe of commitWrite (the model's `broken-no-failsafe` trail): W1 commits v1 and stalls; W2
 * commits v2 and finishes; L2 loses the mark; W1's commitWrite finds no token and must install nothing.
 */
const failsafe = race('model-failsafe', async (ctx) => {
  const a = ctx.node('A');
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  const p1 = a.pause('afterCommit');
  const w1 = ctx.startWrite(a, 'w1');
  await p1.reached;
  await ctx.jitter();
  const v2 = await ctx.write(b, 'w2');
  await ctx.evict('all');
  await ctx.jitter();
  p1.release();
  ctx.ack((await w1).version);
  await ctx.expectRead(observer, v2, 'read after both writes');
});

/**
 * R3 on a warm instance: B has v1 in its L1; the writer commits v2 and dies before `commitWrite`. B
 * must not keep serving v1: the write announced itself on the bus when it began, so B dropped its
 * copy, and L2's mark sends B to the database (guard: engine `publish-begin`).
 */
const r3WarmL1 = race('R3-crash-after-commit-warm-l1', async (ctx) => {
  const writer = ctx.node('W');
  const reader = ctx.node('R');
  const v1 = await ctx.seed('v1');
  await ctx.expectRead(reader, v1, 'warm-up read on the other instance');
  await ctx.expectRead(reader, v1, 'an L1 hit on the other instance');
  const crash = writer.pause('afterCommit');
  void ctx.startWrite(writer, 'v2').catch(() => undefined);
  const v2 = (await crash.reached).version!;
  if (writer.published((v) => v === 0)) await reader.applied((v) => v === 0, 'the write’s beginning');
  await ctx.jitter();
  await ctx.expectRead(reader, v2, 'read on the warm instance after the commit');
  await ctx.expectRead(reader, v2, 'second read on the warm instance');
});

/**
 * R8 through retries: the first try commits and loses its reply (unknown, retryable), the retry fails
 * before committing (a definite failure). The call's outcome is still unknown, but the call must be
 * reported as unknown (not as the last try's definite failure), with the key invalidated everywhere
 * (guard: engine `unknown-across-retries`).
 */
const retryThenFailure = race('R8-retry-then-definite-failure', async (ctx) => {
  const v1 = await ctx.seed('v1');
  const { store: flaky, chaos } = chaosRecordStore(ctx.env.records);
  const lost = new RecordStoreError('committed, then the connection was lost (injected)', {
    retryable: true,
    outcome: 'unknown',
  });
  const refused = new RecordStoreError('the retry was refused before COMMIT (injected)', {
    retryable: false,
  });
  chaos.on('set').failAfterEffectNext(1, lost);
  chaos.on('set').failNth(2, refused);
  const a = ctx.node('A', { records: flaky, retry: { attempts: 3, baseDelayMs: 1, random: () => 0.5 } });
  const b = ctx.node('B');
  await ctx.expectRead(b, v1, 'warm-up read on B');
  const outcome = await settle(a.cache.set(ctx.key, 'v2'));
  const v2 = (await ctx.db()).version;
  expect(v2, 'the first try committed').toBeGreaterThan(v1);
  ctx.committed(v2, 'v2');
  if (a.published(() => true)) await b.applied(() => true, 'the write');
  await ctx.expectRead(b, v2, 'read on B after the write that did commit');
  expect(
    outcome.ok ? outcome.value : outcome.error,
    'the caller must learn the outcome is unknown',
  ).toBeInstanceOf(WriteOutcomeUnknownError);
});

/**
 * R8 with another instance's L1: between the unknown-outcome error and the late commit, instance B
 * reads (L2 says a write is in flight, B reads v1 from the database) and would fill its own L1 with
 * v1; the late commit is announced to nobody, so B would serve v1 until `l1TtlMs`. A value read while
 * a lower tier had a write in flight is never filled above it (guard: engine `settled-fill`).
 */
const remoteL1Refill = race('R8-remote-l1-refilled-before-late-commit', async (ctx) => {
  const v1 = await ctx.seed('v1');
  const late = lateCommit(ctx.env.records);
  const a = ctx.node('A', { records: late.records });
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  await settle(a.cache.set(ctx.key, 'v2'));
  if (a.published((v) => v === 0)) await b.applied((v) => v === 0, 'the unknown outcome');
  await ctx.expectRead(b, v1, 'read on B before the commit lands');
  const { version: v2 } = await late.land();
  ctx.committed(v2, 'v2');
  await ctx.expectRead(observer, v2, 'read through L2 after the late commit');
  await ctx.expectRead(b, v2, 'read on B after the late commit');
});

/**
 * R1 through a batch: A writes the key in a two-row `setMany` (batched steps on L2, through a chaos
 * wrapper that holds A's `commitWriteMany` after the database commit); B writes v2 and finishes; A's
 * batched commit then lands. Every tier must give v2: the batched commit of the first writer out
 * installs nothing below the floor (store guard `floor`).
 */
const r1Batch = race('R1-batch-writers-out-of-order', async (ctx) => {
  const { store: l2, chaos } = chaosCacheStore(ctx.l2);
  const a = ctx.node('A', { l2 });
  const b = ctx.node('B');
  const observer = ctx.node('O', { l1: false });
  if (ctx.coin()) {
    await ctx.write(b, 'v0');
    await a.read();
  }
  const held = chaos.pauseAt('commitWriteMany');
  const w1 = ctx.startBatchWrite(a, 'w1');
  await ctx.within(held.reached, 'A’s batch reaching commitWriteMany');
  const v1 = (await ctx.db()).version;
  ctx.committed(v1, 'w1');
  await ctx.jitter();
  const v2 = await ctx.write(b, 'w2');
  expect(v2).toBeGreaterThan(v1);
  const busFirst = ctx.coin();
  if (busFirst) await a.applied((v) => v === v2, 'W2');
  await ctx.jitter();
  held.open();
  ctx.ack(await w1);
  expect(chaos.count('commitWrite'), 'A’s batch used the batched step').toBe(0);
  if (!busFirst) await a.applied((v) => v === v2, 'W2');
  await ctx.expectRead(observer, v2, 'read through L2 after both writes');
  await ctx.expectRead(a, v2, 'read on the batch writer’s instance after both writes');
  await ctx.expectRead(b, v2, 'read on W2’s instance after both writes');
});

/**
 * R3 through a batch, on a warm instance: R has v1 in its L1; W writes v2 in a two-row `setMany`
 * (batched steps on L2) and dies after the database commit, before its tier steps (held for good).
 * Reads anywhere must return v2: `beginWriteMany` marked the key in L2 and the batch announced itself
 * on the bus when it began (engine guards `write-marks`, `publish-begin`).
 */
const r3Batch = race('R3-batch-crash-after-commit-warm-l1', async (ctx) => {
  const { store: l2, chaos } = chaosCacheStore(ctx.l2);
  const writer = ctx.node('W', { l2 });
  const reader = ctx.node('R');
  const observer = ctx.node('O', { l1: false });
  const v1 = await ctx.seed('v1');
  await ctx.expectRead(reader, v1, 'warm-up read on the other instance');
  await ctx.expectRead(reader, v1, 'an L1 hit on the other instance');
  await ctx.expectRead(observer, v1, 'warm-up read through L2');
  // The first tier step after the commit: commitWriteMany, or invalidateMany for keys not begun.
  const crash = [chaos.pauseAt('commitWriteMany'), chaos.pauseAt('invalidateMany')];
  void ctx.startBatchWrite(writer, 'v2').catch(() => undefined);
  await ctx.within(Promise.race(crash.map((g) => g.reached)), 'the batch reaching its tier steps');
  const v2 = (await ctx.db()).version;
  ctx.committed(v2, 'v2');
  if (writer.published((v) => v === 0)) await reader.applied((v) => v === 0, 'the batch’s beginning');
  await ctx.jitter();
  await ctx.expectRead(observer, v2, 'read through L2 after the commit');
  await ctx.expectRead(reader, v2, 'read on the warm instance after the commit');
  await ctx.expectRead(reader, v2, 'second read on the warm instance');
});

/** Every race, by name. */
export const races: Record<RaceName, Race> = {
  'R1-writers-out-of-order': r1,
  'R2-stale-fill-after-eviction': r2,
  'R3-crash-after-commit': r3,
  'R5-bus-during-l2-read': r5L2,
  'R5-bus-during-db-read': r5Db,
  'R8-late-commit': r8Late,
  'R8-commit-then-error': r8After,
  'R10-same-process-writes': r10,
  'R11-cached-absence': r11,
  'model-first-writer-out': firstWriterOut,
  'model-fix1-revoke-on-commit': fix1,
  'model-fix2-report-writing': fix2Writing,
  'model-fix2-report-fill': fix2Fill,
  'model-failsafe': failsafe,
  'R3-crash-after-commit-warm-l1': r3WarmL1,
  'R8-retry-then-definite-failure': retryThenFailure,
  'R8-remote-l1-refilled-before-late-commit': remoteL1Refill,
  'R1-batch-writers-out-of-order': r1Batch,
  'R3-batch-crash-after-commit-warm-l1': r3Batch,
};

/** The guard sets each race must fail without (each set alone), and what the race needs from the environment. */
export const RACE_GUARDS: Record<
  RaceName,
  { readonly killedBy: readonly RaceGuards[]; readonly needsEvict?: true }
> = {
  'R1-writers-out-of-order': { killedBy: [{ storeGuardsOff: ['floor'] }] },
  'R2-stale-fill-after-eviction': { killedBy: [{ storeGuardsOff: ['leases'] }], needsEvict: true },
  'R3-crash-after-commit': { killedBy: [{ engineGuardsOff: ['write-marks'] }] },
  'R5-bus-during-l2-read': { killedBy: [{ engineGuardsOff: ['bus-floor'] }] },
  'R5-bus-during-db-read': { killedBy: [{ engineGuardsOff: ['bus-floor'] }] },
  'R8-late-commit': { killedBy: [{ engineGuardsOff: ['unknown-outcome'] }] },
  'R8-commit-then-error': { killedBy: [{ engineGuardsOff: ['unknown-outcome'] }] },
  'R10-same-process-writes': { killedBy: [{ engineGuardsOff: ['key-lock'] }] },
  // The write's begin message drops the cached absence too (defence in depth): only with both off
  // does the commit message (invalidate(v)) meet an absence that claims to be newer than any write.
  'R11-cached-absence': { killedBy: [{ engineGuardsOff: ['absence-version', 'publish-begin'] }] },
  'model-first-writer-out': {
    killedBy: [
      { storeGuardsOff: ['inflight-set', 'floor'] },
      { storeGuardsOff: ['inflight-set'], engineGuardsOff: ['report'] },
    ],
  },
  'model-fix1-revoke-on-commit': { killedBy: [{ storeGuardsOff: ['revoke-on-commit'] }], needsEvict: true },
  'model-fix2-report-writing': { killedBy: [{ engineGuardsOff: ['report'] }], needsEvict: true },
  'model-fix2-report-fill': { killedBy: [{ storeGuardsOff: ['report-on-lost-lease'] }], needsEvict: true },
  'model-failsafe': { killedBy: [{ storeGuardsOff: ['failsafe'] }], needsEvict: true },
  'R3-crash-after-commit-warm-l1': { killedBy: [{ engineGuardsOff: ['publish-begin'] }] },
  'R8-retry-then-definite-failure': { killedBy: [{ engineGuardsOff: ['unknown-across-retries'] }] },
  'R8-remote-l1-refilled-before-late-commit': { killedBy: [{ engineGuardsOff: ['settled-fill'] }] },
  'R1-batch-writers-out-of-order': { killedBy: [{ storeGuardsOff: ['floor'] }] },
  'R3-batch-crash-after-commit-warm-l1': {
    killedBy: [{ engineGuardsOff: ['write-marks'] }, { engineGuardsOff: ['publish-begin'] }],
  },
};

/** Options of `describeEngineRaces`. */
export interface DescribeRacesOptions {
  /** The races to register (default: all; those needing `evictL2` only when `evictable`). */
  readonly races?: readonly RaceName[];
  /** The environment offers `evictL2`. Default true. */
  readonly evictable?: boolean;
  /** Iterations per race. Default 20. */
  readonly iterations?: number;
  /** Seed (default: `RACE_SEED` or random). */
  readonly seed?: number;
}

/** Registers one vitest test per race, every guard on, on the tiers `makeEnv` builds. */
export function describeEngineRaces(
  name: string,
  makeEnv: MakeRaceEnv,
  options: DescribeRacesOptions = {},
): void {
  const evictable = options.evictable ?? true;
  const names =
    options.races ??
    (Object.keys(races) as RaceName[]).filter((n) => evictable || !RACE_GUARDS[n].needsEvict);
  describe(`${name}: deterministic races`, () => {
    for (const raceName of names) {
      it(raceName, async () => {
        const run: RaceOptions = { iterations: options.iterations ?? 20 };
        await races[raceName](makeEnv, options.seed === undefined ? run : { ...run, seed: options.seed });
      });
    }
  });
}
