/**
 * The `CacheStore` conformance suite: every protocol step and rule of `shared/model/README.md`
 * ("the protocol as verified") and of the `CacheStore` contract, as plain async checks
 * (`cacheStoreChecks`) that `describeCacheStore` registers as vitest tests. Each check asserts exact
 * results, so a store that breaks the rule it names makes it reject.
 */

import type { CacheStore, Lookup, TierEntry } from '@writethrough/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from './deferred.js';
import { hostileKeys, randomKey } from './random-keys.js';

/** A controllable clock the suite advances instead of sleeping; the factory's stores must read it. */
export interface SuiteClock {
  /** Moves the stores' clock forward by `ms`. */
  advance(ms: number): Promise<void>;
}

/** What the checks need besides the store; every field is optional. */
export interface CacheStoreCheckEnv {
  /**
   * The payload the tier holds for sample `i` (distinct per `i`). Default: live values, or JSON strings for
   * serialized tiers.
   */
  readonly payload?: ((i: number) => unknown) | undefined;
  /** The stores' clock; without it the TTL checks use real time with short TTLs. */
  readonly now?: SuiteClock | undefined;
  /** How far, ms, the store's expiry may be off (rounding, clock reads). Default 5. */
  readonly ttlGranularityMs?: number | undefined;
  /** A second store from the same factory, for the isolation check. */
  readonly other?: CacheStore<unknown> | undefined;
}

/**
 * One conformance check: resolves when `store` follows the rule, rejects with the failed assertion otherwise.
 */
export type CacheStoreCheck = (store: CacheStore<unknown>, env?: CacheStoreCheckEnv) => Promise<void>;

/** Options of `describeCacheStore`. */
export interface DescribeCacheStoreOptions {
  /**
   * The payload the tier holds for sample `i`, e.g. a string for serialized tiers. Default: see
   * `CacheStoreCheckEnv.payload`.
   */
  readonly payload?: (i: number) => unknown;
  /** The stores' clock, when the factory injects one: TTL checks advance it instead of sleeping. */
  readonly now?: SuiteClock | undefined;
  /** How far, ms, the store's expiry may be off. Default 5. */
  readonly ttlGranularityMs?: number;
  /** Two stores from the factory share nothing (default true); false skips the isolation check. */
  readonly isolated?: boolean;
  /** Called after each test with each store the test opened, before `close()`. */
  readonly cleanup?: (store: CacheStore<unknown>) => Promise<void>;
}

/** The lease TTL of every check that is not about lease expiry: long enough never to expire mid-check. */
const LEASE: { readonly leaseTtlMs: number } = { leaseTtlMs: 30_000 };
/** The entry TTL of every check that is not about expiry. */
const TTL = 60_000;
/** The mark TTL of every check that is not about mark expiry. */
const MARK = 60_000;
const DEFAULT_GRANULARITY_MS = 5;

type Entry = TierEntry<unknown>;

/** Sample payloads of several shapes; distinct for each `i`. */
function livePayload(i: number): unknown {
  switch (i % 4) {
    case 0:
      return { id: i, name: `sample ${i} ✓ ünïcödé 🔑`, tags: ['a', 'b'], nested: { ok: true, none: null } };
    case 1:
      return `payload-${i}`;
    case 2:
      return i * 1000 + 0.25;
    default:
      return [i, `item-${i}`, { deep: { er: [i, false] } }];
  }
}

/** The helpers every check uses, bound to one store. */
class Probe {
  readonly store: CacheStore<unknown>;
  readonly payload: (i: number) => unknown;
  readonly defaultPayload: boolean;
  readonly granularity: number;
  readonly now: SuiteClock | undefined;

  constructor(store: CacheStore<unknown>, env: CacheStoreCheckEnv = {}) {
    this.store = store;
    this.defaultPayload = env.payload === undefined;
    this.payload =
      env.payload ?? (store.capabilities.serialized ? (i) => JSON.stringify(livePayload(i)) : livePayload);
    this.granularity = env.ttlGranularityMs ?? DEFAULT_GRANULARITY_MS;
    this.now = env.now;
  }

  key(): string {
    return randomKey('wt-cache');
  }

  value(i: number, version: number): Entry {
    return { kind: 'value', payload: this.payload(i), version };
  }

  absent(version: number): Entry {
    return { kind: 'absent', version };
  }

  async get(key: string, leaseTtlMs = LEASE.leaseTtlMs): Promise<Lookup<unknown>> {
    return plain(await this.store.get(key, { leaseTtlMs }));
  }

  /** `get` must grant a lease; returns its token. */
  async lease(key: string, step: string, leaseTtlMs = LEASE.leaseTtlMs): Promise<string> {
    const lookup = await this.get(key, leaseTtlMs);
    expectLease(lookup, `${step}: get(${show(key)}) must grant a lease`);
    return (lookup as { token: string }).token;
  }

  async expectHit(key: string, entry: Entry, step: string): Promise<void> {
    expect(await this.get(key), `${step}: get(${show(key)}) must hit ${show(entry)}`).toEqual({
      kind: 'hit',
      entry,
    });
  }

  async expectKind(key: string, kind: 'writing' | 'wait', step: string): Promise<void> {
    expect(await this.get(key), `${step}: get(${show(key)}) must answer ${kind}`).toEqual({ kind });
  }

  async fill(
    key: string,
    token: string,
    entry: Entry,
    expected: boolean,
    step: string,
    ttlMs = TTL,
  ): Promise<void> {
    const installed = await this.store.fill(key, token, entry, ttlMs);
    expect(installed, `${step}: fill(${show(key)}, v${entry.version}) must answer ${expected}`).toBe(
      expected,
    );
  }

  async commit(
    key: string,
    token: string,
    entry: Entry,
    expected: boolean,
    step: string,
    ttlMs = TTL,
  ): Promise<void> {
    const installed = await this.store.commitWrite(key, token, entry, ttlMs);
    expect(
      installed,
      `${step}: commitWrite(${show(key)}, ${token}, v${entry.version}) must answer ${expected}`,
    ).toBe(expected);
  }

  /** Leases and fills `entry`, which must install. */
  async install(key: string, entry: Entry, step: string, ttlMs = TTL): Promise<void> {
    const token = await this.lease(key, step);
    await this.fill(key, token, entry, true, step, ttlMs);
  }

  /**
   * Runs an expiry check: `setUp(ttlMs)` creates something that lives `ttlMs`; `whileLive` must hold
   * before it expires, `afterExpiry` once it has. With a clock the suite advances it; in real time the
   * `whileLive` assertions count only when they ran early enough to be sure, so slow machines cannot
   * make the check flaky, while a store that never expires always fails it.
   */
  async expiry(
    setUp: (ttlMs: number) => Promise<void>,
    whileLive: () => Promise<void>,
    afterExpiry: () => Promise<void>,
  ): Promise<void> {
    const g = this.granularity;
    if (this.now !== undefined) {
      const ttl = 1_000 + 2 * g;
      await setUp(ttl);
      await this.now.advance(ttl - g - 1);
      await whileLive();
      await this.now.advance(2 * g + 2);
      await afterExpiry();
      return;
    }
    const ttl = Math.max(60, 2 * g);
    const started = performance.now();
    await setUp(ttl);
    const setUpDone = performance.now();
    try {
      await whileLive();
    } catch (error) {
      if (performance.now() - started < ttl - g) throw error;
      // Too slow to tell: the entry may rightly have expired already. The expiry half still runs.
    }
    const deadline = setUpDone + ttl + g + 1;
    while (performance.now() < deadline) await sleep(deadline - performance.now() + 1);
    await afterExpiry();
  }
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * A lookup as the checks compare it: a hit's optional `resolved` (the settled promise an in-process
 * tier may add) must be a promise; what else the answered object carries is the store's business.
 */
function plainSync(lookup: Lookup<unknown>): Lookup<unknown> {
  if (lookup.kind !== 'hit') return lookup;
  if (lookup.resolved !== undefined) {
    expect(lookup.resolved, 'a hit’s resolved must be a promise').toBeInstanceOf(Promise);
  }
  return { kind: 'hit', entry: lookup.entry };
}

/** `plainSync`, also checking that a hit's `resolved` settles to the payload (undefined for an absence). */
async function plain(lookup: Lookup<unknown>): Promise<Lookup<unknown>> {
  if (lookup.kind === 'hit' && lookup.resolved !== undefined) {
    const entry = lookup.entry;
    expect(await lookup.resolved, 'a hit’s resolved must settle to its payload').toEqual(
      entry.kind === 'value' ? entry.payload : undefined,
    );
  }
  return plainSync(lookup);
}

function expectLease(lookup: Lookup<unknown>, message: string): void {
  expect(lookup, message).toEqual({ kind: 'lease', token: expect.any(String) });
  expect((lookup as { token: string }).token.length, `${message} (non-empty token)`).toBeGreaterThan(0);
}

/** The batched steps of a store, when it offers all three (the batched checks skip a store without them). */
interface Batched {
  beginWriteMany(items: readonly { key: string; token: string }[], markTtlMs: number): Promise<void>;
  commitWriteMany(
    items: readonly { key: string; token: string; entry: Entry; ttlMs: number }[],
  ): Promise<boolean[]>;
  invalidateMany(items: readonly { key: string; version?: number }[]): Promise<void>;
}

function batchedSteps(store: CacheStore<unknown>): Batched | undefined {
  const { beginWriteMany, commitWriteMany, invalidateMany } = store;
  if (beginWriteMany === undefined && commitWriteMany === undefined && invalidateMany === undefined) {
    return undefined;
  }
  expect(
    [typeof beginWriteMany, typeof commitWriteMany, typeof invalidateMany],
    'a store offering batched steps offers all three',
  ).toEqual(['function', 'function', 'function']);
  return {
    beginWriteMany: (items, markTtlMs) => beginWriteMany!.call(store, items, markTtlMs),
    commitWriteMany: (items) => commitWriteMany!.call(store, items),
    invalidateMany: (items) => invalidateMany!.call(store, items),
  };
}

/** A lookup with a lease's token left out, so that two keys' answers compare. */
function shape(lookup: Lookup<unknown>): unknown {
  return lookup.kind === 'lease' ? { kind: 'lease' } : lookup;
}

/**
 * What a key looks like from outside, comparable between two keys: `get` (a lease's token left
 * out); when it leases, whether a fill of `probe` installs (so the floor shows), and `get` again.
 */
async function observe(p: Probe, key: string, probe: Entry): Promise<unknown> {
  const lookup = await p.get(key);
  if (lookup.kind !== 'lease') return { get: shape(lookup) };
  const filled = await p.store.fill(key, lookup.token, probe, TTL);
  return { get: 'lease', filled, next: shape(await p.get(key)) };
}

/**
 * One starting state of a key for the batched checks: `setUp` brings a fresh key there; `after`
 * (optional) runs steps after the step under test and answers what they returned.
 */
interface Situation {
  readonly label: string;
  readonly setUp: (p: Probe, key: string) => Promise<void>;
  readonly after?: (p: Probe, key: string) => Promise<unknown>;
}

/**
 * Runs a batched step against its per-key step over `situations`: each situation is set up on two
 * fresh keys, the per-key step runs on the first key of every situation (one call each), the batched
 * step on the second keys (one call for all), and then both keys of a situation must answer the same
 * and look the same from outside (`after`, then `observe`).
 */
async function compareBatched<R>(
  p: Probe,
  situations: readonly Situation[],
  perKey: (key: string, i: number) => Promise<R>,
  batched: (keys: string[]) => Promise<R[]>,
  probe: Entry,
): Promise<void> {
  const single = situations.map(() => p.key());
  const many = situations.map(() => p.key());
  for (const [i, s] of situations.entries()) {
    await s.setUp(p, single[i]!);
    await s.setUp(p, many[i]!);
  }
  const expected: R[] = [];
  for (const [i, key] of single.entries()) expected.push(await perKey(key, i));
  const got = await batched(many);
  expect(got.length, 'the batched step answers one result per item').toBe(situations.length);
  for (const [i, s] of situations.entries()) {
    expect(got[i], `${s.label}: the batched step must answer as the per-key step`).toEqual(expected[i]);
    const after = async (key: string) => ({
      after: s.after === undefined ? undefined : await s.after(p, key),
      seen: await observe(p, key, probe),
    });
    const want = await after(single[i]!);
    expect(await after(many[i]!), `${s.label}: the key must end as with the per-key step`).toEqual(want);
  }
}

/** A check's place in the suite: its group, its test title, and whether it needs a second store. */
interface CheckSpec {
  readonly group: string;
  readonly title: string;
  readonly needsOther?: boolean;
  readonly run: CacheStoreCheck;
}

const specs = {
  // ------------------------------------------------------------------------------------------ get
  missGrantsLease: {
    group: 'get',
    title: 'a miss on a fresh key grants a fill lease (LEASE) with a non-empty token',
    run: async (store, env) => {
      const p = new Probe(store, env);
      await p.lease(p.key(), 'fresh key');
    },
  },
  leaseIsExclusive: {
    group: 'get',
    title: 'while the lease is held, every other get (and getMany) answers WAIT',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.lease(key, 'first get');
      await p.expectKind(key, 'wait', 'second get');
      await p.expectKind(key, 'wait', 'third get');
      expect(await store.getMany([key], LEASE), 'getMany while the lease is held').toEqual([
        { kind: 'wait' },
      ]);
    },
  },
  concurrentGetsGrantOneLease: {
    group: 'get',
    title: '20 concurrent gets on a fresh key grant exactly one lease, the others WAIT',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const lookups = await Promise.all(Array.from({ length: 20 }, () => p.get(key)));
      const kinds = lookups.map((lookup) => lookup.kind).sort();
      expect(kinds, 'kinds of 20 concurrent gets').toEqual([
        'lease',
        ...Array.from({ length: 19 }, () => 'wait'),
      ]);
    },
  },
  leasesArePerKey: {
    group: 'get',
    title: 'leases are per key: holding one does not make another key wait',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      const ta = await p.lease(a, 'key a');
      const tb = await p.lease(b, 'key b (a is leased)');
      await p.fill(b, tb, p.value(1, 1), true, 'fill b');
      await p.fill(a, ta, p.value(2, 1), true, 'fill a');
      await p.expectHit(a, p.value(2, 1), 'a');
      await p.expectHit(b, p.value(1, 1), 'b');
    },
  },
  newLeaseHasNewToken: {
    group: 'get',
    title: 'a lease granted after a revoke has a new token',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const first = await p.lease(key, 'first lease');
      await store.invalidate(key);
      const second = await p.lease(key, 'after invalidate revoked the lease');
      expect(second, 'the second token').not.toBe(first);
    },
  },
  capabilitiesAreDeclared: {
    group: 'get',
    title: 'capabilities are declared booleans, and getSync exists when sync is declared',
    run: async (store) => {
      const { shared, serialized, sync } = store.capabilities;
      expect([typeof shared, typeof serialized, typeof sync], 'capability types').toEqual([
        'boolean',
        'boolean',
        'boolean',
      ]);
      if (sync) expect(typeof store.getSync, 'getSync with capabilities.sync').toBe('function');
    },
  },
  getSyncAgreesWithGet: {
    group: 'get',
    title: 'getSync (when sync) answers LEASE, WAIT, HIT and WRITING like get',
    run: async (store, env) => {
      if (!store.capabilities.sync || store.getSync === undefined) return;
      const p = new Probe(store, env);
      const getSync = (key: string, options: { leaseTtlMs: number }) =>
        plainSync(store.getSync!(key, options));
      const [a, b] = [p.key(), p.key()];
      const lookup = getSync(a, LEASE);
      expectLease(lookup, 'getSync on a fresh key');
      expect(getSync(a, LEASE), 'getSync while leased').toEqual({ kind: 'wait' });
      await p.fill(
        a,
        (lookup as { token: string }).token,
        p.value(1, 3),
        true,
        'fill with the getSync lease',
      );
      expect(getSync(a, LEASE), 'getSync after the fill').toEqual({ kind: 'hit', entry: p.value(1, 3) });
      await store.beginWrite(b, 'w1', MARK);
      expect(getSync(b, LEASE), 'getSync while writing').toEqual({ kind: 'writing' });
    },
  },

  // ----------------------------------------------------------------------------------------- fill
  fillWithLeaseInstalls: {
    group: 'fill',
    title: 'fill with the current lease installs the entry; later gets hit it exactly',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const token = await p.lease(key, 'miss');
      await p.fill(key, token, p.value(0, 5), true, 'fill with the lease');
      await p.expectHit(key, p.value(0, 5), 'first read');
      await p.expectHit(key, p.value(0, 5), 'second read');
    },
  },
  fillConsumesLease: {
    group: 'fill',
    title: 'fill consumes the lease: the same token cannot fill again (and then acts as invalidate(v))',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const token = await p.lease(key, 'miss');
      await p.fill(key, token, p.value(1, 5), true, 'first fill');
      await p.fill(key, token, p.value(2, 5), false, 'second fill with the used token, same version');
      await p.expectHit(key, p.value(1, 5), 'an equal version is not older: the entry stays');
      await p.fill(key, token, p.value(3, 6), false, 'third fill with the used token, newer version');
      await p.lease(key, 'the lost-lease fill of v6 removed the older v5');
    },
  },
  fillRequiresLease: {
    group: 'fill',
    title:
      'fill without the current lease installs nothing, and revokes the holder’s lease like invalidate(v)',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.fill(key, 'never-granted', p.value(1, 1), false, 'fill with a made-up token on a fresh key');
      const token = await p.lease(key, 'nothing was installed');
      await p.fill(
        key,
        `${token}-not`,
        p.value(1, 1),
        false,
        'fill with a wrong token while a lease is held',
      );
      await p.fill(key, token, p.value(1, 1), false, 'the holder, whose lease the wrong-token fill revoked');
      const fresh = await p.lease(key, 'still nothing installed');
      await p.fill(key, fresh, p.value(1, 1), true, 'fill with a fresh lease');
      await p.expectHit(key, p.value(1, 1), 'installed');
    },
  },
  fillRefusedBelowFloor: {
    group: 'fill',
    title: 'fill below the floor is refused (and still consumes the lease); at the floor it installs',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.invalidate(key, 7);
      const token = await p.lease(key, 'after invalidate(7)');
      await p.fill(key, token, p.value(1, 5), false, 'fill of v5 below the floor 7');
      const again = await p.lease(key, 'the refused fill consumed the lease');
      await p.fill(key, again, p.value(2, 7), true, 'fill of v7 at the floor');
      await p.expectHit(key, p.value(2, 7), 'installed at the floor');
    },
  },
  fillRefusedWhileWriting: {
    group: 'fill',
    title: 'fill installs nothing while a writer is in flight (the lease was revoked by beginWrite)',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const token = await p.lease(key, 'miss');
      await store.beginWrite(key, 'w1', MARK);
      await p.fill(key, token, p.value(1, 1), false, 'fill with the revoked lease');
      await p.expectKind(key, 'writing', 'the writer is still in flight');
      await p.fill(key, 'any', p.value(1, 1), false, 'fill with any token');
      await p.expectKind(key, 'writing', 'still writing');
      await p.commit(key, 'w1', p.value(2, 2), true, 'the writer commits v2');
      await p.expectHit(key, p.value(2, 2), 'the committed value');
    },
  },
  fillWithLostLeaseActsAsInvalidate: {
    group: 'fill',
    title: 'fill with a lost lease acts as invalidate(v): a later fill of an older version is refused',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const t1 = await p.lease(key, 'reader 1');
      await store.invalidate(key);
      const t2 = await p.lease(key, 'reader 2, after invalidate() revoked reader 1');
      await p.fill(key, t1, p.value(1, 9), false, 'reader 1 (lease lost) reports v9');
      await p.fill(key, t2, p.value(2, 8), false, 'reader 2 fills v8');
      const t3 = await p.lease(key, 'nothing installed');
      await p.fill(key, t3, p.value(2, 8), false, 'a new lease cannot fill v8 below the reported v9');
      const t4 = await p.lease(key, 'still nothing installed');
      await p.fill(key, t4, p.value(1, 9), true, 'v9 itself installs');
      await p.expectHit(key, p.value(1, 9), 'installed');
    },
  },
  lostLeaseFillRemovesOlderEntry: {
    group: 'fill',
    title: 'fill with a lost lease removes a cached entry older than its version',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 5), 'install v5');
      await p.fill(key, 'stale-reader', p.value(2, 6), false, 'a reader without the lease saw v6');
      const token = await p.lease(key, 'v5 is gone');
      await p.fill(key, token, p.value(1, 5), false, 'v5 is now below the floor');
      const again = await p.lease(key, 'nothing installed');
      await p.fill(key, again, p.value(2, 6), true, 'v6 installs');
    },
  },
  fillAbsentEntry: {
    group: 'fill',
    title: 'fill installs a cached absence (kind absent) with its version',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      await p.install(a, p.absent(4), 'absence at v4');
      await p.expectHit(a, p.absent(4), 'absence read back');
      await p.install(b, p.absent(0), 'absence at v0 (never existed)');
      await p.expectHit(b, p.absent(0), 'absence v0 read back');
    },
  },
  payloadsRoundTrip: {
    group: 'fill',
    title: 'payloads of every sample shape round-trip exactly, each key keeping its own',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const keys = Array.from({ length: 8 }, () => p.key());
      for (const [i, key] of keys.entries()) await p.install(key, p.value(i, i + 1), `install sample ${i}`);
      for (const [i, key] of keys.entries()) await p.expectHit(key, p.value(i, i + 1), `sample ${i}`);
    },
  },
  falsyPayloadsAreHits: {
    group: 'fill',
    title: 'falsy payloads (0, false, "", null; "" for serialized tiers) are hits, not misses',
    run: async (store, env) => {
      const p = new Probe(store, env);
      if (!p.defaultPayload) return;
      const payloads: unknown[] = store.capabilities.serialized ? [''] : [0, false, '', null];
      for (const payload of payloads) {
        const key = p.key();
        const entry: Entry = { kind: 'value', payload, version: 1 };
        await p.install(key, entry, `install ${show(payload)}`);
        await p.expectHit(key, entry, `read ${show(payload)}`);
      }
    },
  },

  // --------------------------------------------------------------------------------------- writes
  beginWriteRemovesValue: {
    group: 'writes',
    title: 'beginWrite removes the value: gets answer WRITING, and after abort a miss (not the old value)',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 1), 'install v1');
      await store.beginWrite(key, 'w1', MARK);
      await p.expectKind(key, 'writing', 'during the write');
      expect(await store.getMany([key], LEASE), 'getMany during the write').toEqual([{ kind: 'writing' }]);
      await store.abortWrite(key, 'w1');
      await p.lease(key, 'after abort the old value is gone');
    },
  },
  beginWriteRevokesLease: {
    group: 'writes',
    title: 'beginWrite revokes the lease: the reader’s fill installs nothing, even after the writer left',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const token = await p.lease(key, 'reader');
      await store.beginWrite(key, 'w1', MARK);
      await store.abortWrite(key, 'w1');
      await p.fill(key, token, p.value(1, 1), false, 'fill with the lease beginWrite revoked');
      await p.lease(key, 'nothing installed');
    },
  },
  commitWriteInstallsForOnlyWriter: {
    group: 'writes',
    title: 'commitWrite of the only writer installs its entry',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 1), 'install v1');
      await store.beginWrite(key, 'w1', MARK);
      await p.commit(key, 'w1', p.value(2, 3), true, 'the only writer commits v3');
      await p.expectHit(key, p.value(2, 3), 'the committed entry');
    },
  },
  commitWriteRaisesFloor: {
    group: 'writes',
    title: 'commitWrite raises the floor: after the value is dropped, an older fill is refused',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await p.commit(key, 'w1', p.value(1, 3), true, 'commit v3');
      await store.invalidate(key);
      const token = await p.lease(key, 'after invalidate()');
      await p.fill(key, token, p.value(2, 2), false, 'fill of v2 below the committed v3');
      const again = await p.lease(key, 'nothing installed');
      await p.fill(key, again, p.value(1, 3), true, 'fill of v3');
    },
  },
  commitWriteRevokesLease: {
    group: 'writes',
    title: 'commitWrite revokes the fill lease (fix 1), even when its token is unknown',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const token = await p.lease(key, 'reader');
      await p.commit(key, 'never-began', p.value(1, 2), false, 'commitWrite with an unknown token');
      await p.fill(key, token, p.value(1, 2), false, 'the reader’s fill after the commit revoked its lease');
      await p.lease(key, 'nothing installed');
    },
  },
  twoWritersFirstOutInstallsNothing: {
    group: 'writes',
    title:
      'two writers: the first out installs nothing; the last out installs only if its version is the floor',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await store.beginWrite(key, 'w2', MARK);
      await p.commit(key, 'w2', p.value(2, 2), false, 'w2 (v2) leaves first');
      await p.expectKind(key, 'writing', 'w1 still in flight');
      await p.commit(key, 'w1', p.value(1, 1), false, 'w1 (v1) leaves last, below the floor v2');
      await p.lease(key, 'nothing installed');
    },
  },
  twoWritersLastOutInstallsAtFloor: {
    group: 'writes',
    title: 'two writers: the last out installs when its version is the floor',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await store.beginWrite(key, 'w2', MARK);
      await p.commit(key, 'w1', p.value(1, 1), false, 'w1 (v1) leaves first');
      await p.expectKind(key, 'writing', 'w2 still in flight');
      await p.commit(key, 'w2', p.value(2, 2), true, 'w2 (v2) leaves last at the floor');
      await p.expectHit(key, p.value(2, 2), 'v2 installed');
    },
  },
  commitWriteUnknownTokenRemovesValue: {
    group: 'writes',
    title: 'commitWrite with an unknown token (mark expired) installs nothing and removes the value',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 1), 'install v1');
      await p.commit(key, 'never-began', p.value(2, 2), false, 'commitWrite with an unknown token');
      await p.lease(key, 'v1 removed, v2 not installed');
    },
  },
  commitWriteUnknownTokenKeepsOtherWriters: {
    group: 'writes',
    title: 'commitWrite with an unknown token leaves the other writers in flight and raises the floor',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await p.commit(key, 'stranger', p.value(2, 2), false, 'a writer whose mark expired commits v2');
      await p.expectKind(key, 'writing', 'w1 still in flight');
      await p.commit(key, 'w1', p.value(1, 1), false, 'w1 (v1) is below the floor v2');
      await p.lease(key, 'nothing installed');
    },
  },
  repeatedCommitWriteInstallsOnce: {
    group: 'writes',
    title: 'a repeated commitWrite finds its token gone: installs nothing and removes the value',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await p.commit(key, 'w1', p.value(1, 3), true, 'first commitWrite');
      await p.commit(key, 'w1', p.value(1, 3), false, 'the same commitWrite again');
      await p.lease(key, 'the value was removed');
    },
  },
  commitWriteOfAbsence: {
    group: 'writes',
    title: 'commitWrite of an absence (a delete) installs it; a later insert replaces it',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 1), 'install v1');
      await store.beginWrite(key, 'delete', MARK);
      await p.commit(key, 'delete', p.absent(2), true, 'the delete commits at v2');
      await p.expectHit(key, p.absent(2), 'the cached absence');
      await store.beginWrite(key, 'insert', MARK);
      await p.commit(key, 'insert', p.value(3, 3), true, 'the re-insert commits at v3');
      await p.expectHit(key, p.value(3, 3), 'the re-inserted value');
    },
  },
  abortWriteLeavesValueRemoved: {
    group: 'writes',
    title: 'abortWrite leaves the value removed and lets reads lease and fill again',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 1), 'install v1');
      await store.beginWrite(key, 'w1', MARK);
      await store.abortWrite(key, 'w1');
      const token = await p.lease(key, 'after abort: a miss with a lease, not the old value, not WRITING');
      await p.fill(key, token, p.value(1, 1), true, 'the reader refills v1 (abort raised no floor)');
      await p.expectHit(key, p.value(1, 1), 'refilled');
    },
  },
  abortWriteKeepsOtherWriters: {
    group: 'writes',
    title: 'abortWrite of one writer leaves the other in flight; it then installs as the only writer',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await store.beginWrite(key, 'w2', MARK);
      await store.abortWrite(key, 'w1');
      await p.expectKind(key, 'writing', 'w2 still in flight');
      await p.commit(key, 'w2', p.value(2, 2), true, 'w2 commits');
      await p.expectHit(key, p.value(2, 2), 'installed');
    },
  },
  abortWriteUnknownTokenIsHarmless: {
    group: 'writes',
    title: 'abortWrite with an unknown token resolves and leaves no writer behind',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.abortWrite(key, 'never-began');
      await p.lease(key, 'no writer in flight');
    },
  },
  writesArePerKey: {
    group: 'writes',
    title: 'marks are per key: a writer on one key leaves another readable and fillable',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      await store.beginWrite(a, 'w1', MARK);
      await p.install(b, p.value(1, 1), 'fill b while a is being written');
      await p.expectHit(b, p.value(1, 1), 'b');
      await p.expectKind(a, 'writing', 'a');
    },
  },

  // ----------------------------------------------------------------------------------- invalidate
  invalidateWithVersionRemovesOnlyOlder: {
    group: 'invalidate',
    title: 'invalidate(v) removes only an entry older than v, and raises the floor to v',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.value(1, 5), 'install v5');
      await store.invalidate(key, 4);
      await p.expectHit(key, p.value(1, 5), 'after invalidate(4)');
      await store.invalidate(key, 5);
      await p.expectHit(key, p.value(1, 5), 'after invalidate(5)');
      await store.invalidate(key, 6);
      const token = await p.lease(key, 'after invalidate(6) removed v5');
      await p.fill(key, token, p.value(1, 5), false, 'fill of v5 below the floor 6');
      const again = await p.lease(key, 'nothing installed');
      await p.fill(key, again, p.value(2, 6), true, 'fill of v6');
    },
  },
  invalidateWithVersionRevokesLease: {
    group: 'invalidate',
    title: 'invalidate(v) revokes the lease: the next get leases again, the old holder cannot fill',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      const t1 = await p.lease(key, 'reader 1');
      await store.invalidate(key, 1);
      const t2 = await p.lease(key, 'reader 2 (not WAIT: the lease was revoked)');
      await p.fill(key, t2, p.value(2, 2), true, 'reader 2 fills v2');
      await p.fill(key, t1, p.value(2, 2), false, 'reader 1 with its revoked lease');
      await p.expectHit(key, p.value(2, 2), 'v2 stays (not older than the lost fill)');
    },
  },
  invalidateWithoutVersion: {
    group: 'invalidate',
    title: 'invalidate() removes the entry and revokes the lease, without raising the floor',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      await p.install(a, p.value(1, 5), 'install v5');
      await store.invalidate(a);
      const token = await p.lease(a, 'after invalidate()');
      await p.fill(a, token, p.value(1, 5), true, 'v5 refills');
      const t1 = await p.lease(b, 'reader 1 on b');
      await store.invalidate(b);
      const t2 = await p.lease(b, 'reader 2 on b (not WAIT: the lease was revoked)');
      expect(t2, 'the new token').not.toBe(t1);
    },
  },
  invalidateLeavesWriters: {
    group: 'invalidate',
    title: 'invalidate() leaves the in-flight writers as they are',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await store.invalidate(key);
      await p.expectKind(key, 'writing', 'w1 still in flight');
      await p.commit(key, 'w1', p.value(1, 3), true, 'w1 commits');
      await p.expectHit(key, p.value(1, 3), 'installed');
    },
  },
  invalidateFloorRefusesWriterBelowIt: {
    group: 'invalidate',
    title: 'invalidate(v) during a write keeps the writer but its commit below v installs nothing',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await store.beginWrite(key, 'w1', MARK);
      await store.invalidate(key, 9);
      await p.expectKind(key, 'writing', 'w1 still in flight');
      await p.commit(key, 'w1', p.value(1, 3), false, 'w1 commits v3 below the floor 9');
      await p.lease(key, 'nothing installed');
    },
  },
  invalidateCreatesNoEntry: {
    group: 'invalidate',
    title: 'invalidate on an empty key caches nothing',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      await store.invalidate(a, 3);
      await p.lease(a, 'after invalidate(3)');
      await store.invalidate(b);
      await p.lease(b, 'after invalidate()');
    },
  },

  // -------------------------------------------------------------------------------------- absence
  absenceThenInsertWins: {
    group: 'absence',
    title: 'an insert (version above the absence’s) replaces a cached absence',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.install(key, p.absent(0), 'cache "never existed" (v0)');
      await store.beginWrite(key, 'insert', MARK);
      await p.expectKind(key, 'writing', 'during the insert');
      await p.commit(key, 'insert', p.value(1, 1), true, 'the insert commits v1');
      await p.expectHit(key, p.value(1, 1), 'the inserted value');
    },
  },
  absenceInvalidatedByNewerVersion: {
    group: 'absence',
    title: 'invalidate(v) removes an older absence and keeps one at v',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [a, b] = [p.key(), p.key()];
      await p.install(a, p.absent(4), 'absence at v4');
      await store.invalidate(a, 4);
      await p.expectHit(a, p.absent(4), 'after invalidate(4)');
      await store.invalidate(a, 5);
      const token = await p.lease(a, 'after invalidate(5)');
      await p.fill(a, token, p.value(1, 5), true, 'the value at v5');
      await p.install(b, p.absent(4), 'absence at v4 on b');
      await p.fill(b, 'reader-without-lease', p.value(1, 5), false, 'a reader without the lease saw v5');
      await p.lease(b, 'the older absence is gone');
    },
  },

  // -------------------------------------------------------------------------------------- getMany
  getManyMixedResults: {
    group: 'getMany',
    title: 'getMany answers in the order of keys, mixing HIT, LEASE, WAIT and WRITING',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [hit, fresh, leased, writing, absent] = [p.key(), p.key(), p.key(), p.key(), p.key()];
      await p.install(hit, p.value(1, 1), 'install');
      await p.lease(leased, 'another reader holds the lease');
      await store.beginWrite(writing, 'w1', MARK);
      await p.install(absent, p.absent(3), 'install absence');
      const lookups = await Promise.all(
        (await store.getMany([absent, fresh, hit, leased, writing], LEASE)).map(plain),
      );
      expect(lookups, 'getMany').toEqual([
        { kind: 'hit', entry: p.absent(3) },
        { kind: 'lease', token: expect.any(String) },
        { kind: 'hit', entry: p.value(1, 1) },
        { kind: 'wait' },
        { kind: 'writing' },
      ]);
      await p.expectKind(fresh, 'wait', 'getMany’s lease is held');
      const token = (lookups[1] as { token: string }).token;
      await p.fill(fresh, token, p.value(2, 2), true, 'fill with getMany’s lease');
      await p.expectHit(fresh, p.value(2, 2), 'installed');
    },
  },
  getManyEmptyAndLong: {
    group: 'getMany',
    title: 'getMany of no keys answers []; of 50 keys, 50 results in order',
    run: async (store, env) => {
      const p = new Probe(store, env);
      expect(await store.getMany([], LEASE), 'getMany([])').toEqual([]);
      const keys = Array.from({ length: 50 }, () => p.key());
      for (const [i, key] of keys.entries())
        if (i % 2 === 0) await p.install(key, p.value(i, i + 1), `key ${i}`);
      const lookups = await Promise.all((await store.getMany(keys, LEASE)).map(plain));
      expect(lookups, 'getMany of 50').toEqual(
        keys.map((_, i) =>
          i % 2 === 0
            ? { kind: 'hit', entry: p.value(i, i + 1) }
            : { kind: 'lease', token: expect.any(String) },
        ),
      );
    },
  },

  // ------------------------------------------------------------------------------------------ ttl
  valueTtlExpires: {
    group: 'ttl',
    title: 'an entry expires after its TTL (fill and commitWrite TTLs, per entry); expired counts as absent',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [short, viaCommit, long] = [p.key(), p.key(), p.key()];
      await p.expiry(
        async (ttl) => {
          await p.install(short, p.value(1, 1), 'short TTL', ttl);
          await store.beginWrite(viaCommit, 'w1', MARK);
          await p.commit(viaCommit, 'w1', p.value(2, 2), true, 'commit with a short TTL', ttl);
          await p.install(long, p.value(3, 3), 'long TTL');
        },
        async () => {
          await p.expectHit(short, p.value(1, 1), 'before expiry (fill)');
          await p.expectHit(viaCommit, p.value(2, 2), 'before expiry (commitWrite)');
        },
        async () => {
          const token = await p.lease(short, 'after expiry (fill)');
          await p.lease(viaCommit, 'after expiry (commitWrite)');
          await p.expectHit(long, p.value(3, 3), 'the long-TTL entry');
          await p.fill(short, token, p.value(1, 1), true, 'the same version refills after expiry');
        },
      );
    },
  },
  leaseTtlExpires: {
    group: 'ttl',
    title: 'a lease expires after leaseTtlMs: a later get leases again, the old token cannot fill',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      let first = '';
      await p.expiry(
        async (ttl) => {
          first = await p.lease(key, 'first reader', ttl);
        },
        async () => p.expectKind(key, 'wait', 'before the lease expires'),
        async () => {
          const second = await p.lease(key, 'after the lease expired');
          expect(second, 'the new token').not.toBe(first);
          await p.fill(key, second, p.value(1, 1), true, 'the new holder fills');
          await p.fill(key, first, p.value(1, 1), false, 'the expired holder');
          await p.expectHit(key, p.value(1, 1), 'installed');
        },
      );
    },
  },
  markTtlExpires: {
    group: 'ttl',
    title: 'a write mark expires after markTtlMs: reads lease again, and the late commit installs nothing',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const key = p.key();
      await p.expiry(
        async (ttl) => store.beginWrite(key, 'w1', ttl),
        async () => p.expectKind(key, 'writing', 'before the mark expires'),
        async () => {
          const token = await p.lease(key, 'after the mark expired');
          await p.commit(key, 'w1', p.value(1, 2), false, 'the writer whose mark expired');
          await p.fill(key, token, p.value(1, 2), false, 'the reader (the commit revoked its lease)');
          await p.lease(key, 'nothing installed');
        },
      );
    },
  },

  // ---------------------------------------------------------------------------------------- clear
  clearRemovesEverything: {
    group: 'clear',
    title: 'clear removes every entry, lease and mark',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const [value, absent, writing, leased] = [p.key(), p.key(), p.key(), p.key()];
      await p.install(value, p.value(1, 1), 'value');
      await p.install(absent, p.absent(2), 'absence');
      await store.beginWrite(writing, 'w1', MARK);
      const token = await p.lease(leased, 'lease');
      await store.clear();
      await p.lease(value, 'value after clear');
      await p.lease(absent, 'absence after clear');
      await p.lease(writing, 'writing after clear');
      const fresh = await p.lease(leased, 'leased key after clear');
      expect(fresh, 'the new token').not.toBe(token);
      await p.commit(writing, 'w1', p.value(3, 3), false, 'the writer whose mark clear removed');
      await p.fill(leased, token, p.value(4, 4), false, 'the reader whose lease clear removed');
    },
  },

  // ------------------------------------------------------------------------------------ isolation
  storesAreIsolated: {
    group: 'isolation',
    title: 'two stores from the factory share no entry, lease, mark or clear',
    needsOther: true,
    run: async (store, env) => {
      const other = env?.other;
      if (other === undefined) throw new Error('storesAreIsolated needs env.other, a second store');
      const p = new Probe(store, env);
      const q = new Probe(other, env);
      const [a, b] = [p.key(), p.key()];
      await p.install(a, p.value(1, 1), 'store 1 caches a');
      const token = await q.lease(a, 'store 2 does not see it');
      await q.fill(a, token, q.value(2, 2), true, 'store 2 fills its own a');
      await p.expectHit(a, p.value(1, 1), 'store 1 keeps its a');
      await other.beginWrite(b, 'w1', MARK);
      await p.lease(b, 'store 2’s writer does not mark store 1');
      await other.clear();
      await p.expectHit(a, p.value(1, 1), 'store 2’s clear leaves store 1');
    },
  },

  // ----------------------------------------------------------------------------------------- keys
  hostileKeysRoundTrip: {
    group: 'keys',
    title:
      'hostile keys (spaces, newlines, braces, wildcards, injection, unicode, 1000 chars) pass every step',
    run: async (store, env) => {
      const p = new Probe(store, env);
      const keys = hostileKeys();
      for (const [i, { key, label }] of keys.entries())
        await p.install(key, p.value(i, i + 1), `${label}: fill`);
      const names = keys.map(({ key }) => key);
      expect(
        await Promise.all((await store.getMany(names, LEASE)).map(plain)),
        'getMany of the hostile keys',
      ).toEqual(keys.map((_, i) => ({ kind: 'hit', entry: p.value(i, i + 1) })));
      for (const [i, { key, label }] of keys.entries()) {
        await store.beginWrite(key, `w-${i}`, MARK);
        await p.expectKind(key, 'writing', `${label}: beginWrite`);
        await p.commit(key, `w-${i}`, p.value(i + 1, 100 + i), true, `${label}: commitWrite`);
      }
      for (const [i, { key, label }] of keys.entries())
        await p.expectHit(key, p.value(i + 1, 100 + i), label);
      for (const [i, { key, label }] of keys.entries()) {
        await store.invalidate(key, 200 + i);
        await p.lease(key, `${label}: invalidate(v)`);
      }
    },
  },

  // -------------------------------------------------------------------------------------- batched
  beginWriteManyMatchesBeginWrite: {
    group: 'batched steps',
    title:
      'beginWriteMany (when offered) does what beginWrite does to each key: fresh, cached, absent, leased, marked, floored',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      const leases = new Map<string, string>();
      const situations: Situation[] = [
        { label: 'fresh key', setUp: async () => {} },
        { label: 'cached value', setUp: (q, key) => q.install(key, q.value(1, 5), 'install v5') },
        { label: 'cached absence', setUp: (q, key) => q.install(key, q.absent(5), 'install absent v5') },
        {
          label: 'leased by a reader',
          setUp: async (q, key) => {
            leases.set(key, await q.lease(key, 'a reader'));
          },
          // The reader's lease was revoked: its fill acts as invalidate(6) and installs nothing.
          after: (q, key) => q.store.fill(key, leases.get(key)!, q.value(9, 6), TTL),
        },
        {
          label: 'another writer in flight',
          setUp: (q, key) => q.store.beginWrite(key, 'other', MARK),
          after: async (q, key) => ({
            mine: await q.store.commitWrite(key, 'w', q.value(2, 7), TTL),
            other: await q.store.commitWrite(key, 'other', q.value(3, 8), TTL),
          }),
        },
        { label: 'this writer already in flight', setUp: (q, key) => q.store.beginWrite(key, 'w', MARK) },
        { label: 'floor above the write', setUp: (q, key) => q.store.invalidate(key, 9) },
        {
          label: 'a writer came and went (value and floor v3)',
          setUp: async (q, key) => {
            await q.store.beginWrite(key, 'gone', MARK);
            await q.commit(key, 'gone', q.value(4, 3), true, 'the earlier writer');
          },
        },
      ];
      const after = (key: string) => p.get(key).then(shape);
      await compareBatched(
        p,
        situations,
        async (key) => {
          await store.beginWrite(key, 'w', MARK);
          return after(key);
        },
        async (keys) => {
          await b.beginWriteMany(
            keys.map((key) => ({ key, token: 'w' })),
            MARK,
          );
          return Promise.all(keys.map(after));
        },
        p.value(5, 8),
      );
      // Then this writer's commit, per key, on keys begun either way.
      const [one, many] = [p.key(), p.key()];
      await store.beginWrite(one, 'w', MARK);
      await b.beginWriteMany([{ key: many, token: 'w' }], MARK);
      await p.commit(one, 'w', p.value(6, 7), true, 'commit after beginWrite');
      await p.commit(many, 'w', p.value(6, 7), true, 'commit after beginWriteMany');
      await p.expectHit(many, p.value(6, 7), 'installed');
    },
  },
  commitWriteManyMatchesCommitWrite: {
    group: 'batched steps',
    title:
      'commitWriteMany (when offered) answers and does what commitWrite does to each key: alone, others in flight, token missing, floors, absences',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      const leases = new Map<string, string>();
      const begin = (token: string) => (q: Probe, key: string) => q.store.beginWrite(key, token, MARK);
      const situations: (Situation & { entry?: Entry })[] = [
        { label: 'the only writer', setUp: begin('w') },
        {
          label: 'the only writer, over a cached value',
          setUp: async (q, key) => {
            await q.install(key, q.value(1, 5), 'install v5');
            await begin('w')(q, key);
          },
        },
        {
          label: 'another writer still in flight',
          setUp: async (q, key) => {
            await begin('w')(q, key);
            await begin('other')(q, key);
          },
          after: (q, key) => q.store.commitWrite(key, 'other', q.value(3, 8), TTL),
        },
        {
          label: 'another writer committed a newer version first',
          setUp: async (q, key) => {
            await begin('w')(q, key);
            await begin('other')(q, key);
            await q.commit(key, 'other', q.value(3, 8), false, 'the other writer (w still in flight)');
          },
        },
        {
          label: 'token missing, a value cached',
          setUp: (q, key) => q.install(key, q.value(1, 5), 'install v5'),
        },
        { label: 'token missing, fresh key', setUp: async () => {} },
        {
          label: 'floor above the version',
          setUp: async (q, key) => {
            await begin('w')(q, key);
            await q.store.invalidate(key, 9);
          },
        },
        {
          label: 'floor equal to the version',
          setUp: async (q, key) => {
            await begin('w')(q, key);
            await q.store.invalidate(key, 7);
          },
        },
        {
          label: 'a reader leased before the write',
          setUp: async (q, key) => {
            leases.set(key, await q.lease(key, 'a reader'));
            await begin('w')(q, key);
          },
          after: (q, key) => q.store.fill(key, leases.get(key)!, q.value(9, 6), TTL),
        },
        { label: 'the only writer, committing an absence', setUp: begin('w'), entry: p.absent(7) },
      ];
      const entryOf = (i: number) => situations[i]!.entry ?? p.value(i % 4, 7);
      await compareBatched(
        p,
        situations,
        (key, i) => store.commitWrite(key, 'w', entryOf(i), TTL),
        (keys) =>
          b.commitWriteMany(keys.map((key, i) => ({ key, token: 'w', entry: entryOf(i), ttlMs: TTL }))),
        p.value(5, 8),
      );
    },
  },
  invalidateManyMatchesInvalidate: {
    group: 'batched steps',
    title: 'invalidateMany (when offered) does what invalidate does to each key, with and without a version',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      const leases = new Map<string, string>();
      const cached = (q: Probe, key: string) => q.install(key, q.value(1, 5), 'install v5');
      const situations: (Situation & { version: number | undefined })[] = [
        { label: 'cached v5, no version', setUp: cached, version: undefined },
        { label: 'cached v5, version 3', setUp: cached, version: 3 },
        { label: 'cached v5, version 5', setUp: cached, version: 5 },
        { label: 'cached v5, version 7', setUp: cached, version: 7 },
        {
          label: 'cached absence v5, version 6',
          setUp: (q, key) => q.install(key, q.absent(5), 'absence'),
          version: 6,
        },
        {
          label: 'leased, version 4',
          setUp: async (q, key) => {
            leases.set(key, await q.lease(key, 'a reader'));
          },
          after: (q, key) => q.store.fill(key, leases.get(key)!, q.value(2, 4), TTL),
          version: 4,
        },
        {
          label: 'leased, no version',
          setUp: async (q, key) => {
            leases.set(key, await q.lease(key, 'a reader'));
          },
          after: (q, key) => q.store.fill(key, leases.get(key)!, q.value(2, 4), TTL),
          version: undefined,
        },
        {
          label: 'a writer in flight, version 9',
          setUp: (q, key) => q.store.beginWrite(key, 'w', MARK),
          after: (q, key) => q.store.commitWrite(key, 'w', q.value(3, 7), TTL),
          version: 9,
        },
        {
          label: 'a writer in flight, no version',
          setUp: (q, key) => q.store.beginWrite(key, 'w', MARK),
          after: (q, key) => q.store.commitWrite(key, 'w', q.value(3, 7), TTL),
          version: undefined,
        },
        { label: 'fresh key, version 6', setUp: async () => {}, version: 6 },
        { label: 'fresh key, version 0', setUp: async () => {}, version: 0 },
      ];
      const itemOf = (key: string, i: number) => {
        const version = situations[i]!.version;
        return version === undefined ? { key } : { key, version };
      };
      await compareBatched(
        p,
        situations,
        async (key, i) => {
          const version = situations[i]!.version;
          await (version === undefined ? store.invalidate(key) : store.invalidate(key, version));
          return undefined;
        },
        async (keys) => {
          await b.invalidateMany(keys.map(itemOf));
          return keys.map(() => undefined);
        },
        p.value(4, 6),
      );
    },
  },
  batchedStepsExpiredMarks: {
    group: 'batched steps',
    title:
      'a mark set by beginWriteMany expires after markTtlMs like beginWrite’s; commitWriteMany then installs nothing',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      const single = [p.key(), p.key()];
      const many = [p.key(), p.key()];
      const both = [...single, ...many];
      await p.expiry(
        async (ttl) => {
          for (const key of single) await store.beginWrite(key, 'w', ttl);
          await b.beginWriteMany(
            many.map((key) => ({ key, token: 'w' })),
            ttl,
          );
        },
        async () => {
          for (const key of both) await p.expectKind(key, 'writing', 'before the mark expires');
        },
        async () => {
          const expected: boolean[] = [];
          for (const key of single) expected.push(await store.commitWrite(key, 'w', p.value(1, 2), TTL));
          const got = await b.commitWriteMany(
            many.map((key) => ({ key, token: 'w', entry: p.value(1, 2), ttlMs: TTL })),
          );
          expect(expected, 'commitWrite after the mark expired').toEqual([false, false]);
          expect(got, 'commitWriteMany after the mark expired').toEqual([false, false]);
          for (const key of both) await p.lease(key, 'nothing installed');
        },
      );
    },
  },
  batchedStepsHostileKeys: {
    group: 'batched steps',
    title: 'batched steps pass hostile keys, and 300 keys (beyond one chunk) in order',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      const hostile = hostileKeys().map(({ key }) => key);
      const many = Array.from({ length: 300 }, () => p.key());
      for (const keys of [hostile, many]) {
        for (const [i, key] of keys.entries()) if (i % 3 === 0) await p.install(key, p.value(i, 1), 'seed');
        await b.beginWriteMany(
          keys.map((key, i) => ({ key, token: `w-${i}` })),
          MARK,
        );
        for (const [i, key] of keys.entries()) if (i % 7 === 0) await p.expectKind(key, 'writing', 'begun');
        const installed = await b.commitWriteMany(
          keys.map((key, i) => ({ key, token: `w-${i}`, entry: p.value(i + 1, 10 + i), ttlMs: TTL })),
        );
        expect(installed, 'every key’s only writer installs').toEqual(keys.map(() => true));
        const lookups = await Promise.all((await store.getMany(keys, LEASE)).map(plain));
        expect(lookups, 'getMany after commitWriteMany').toEqual(
          keys.map((_, i) => ({ kind: 'hit', entry: p.value(i + 1, 10 + i) })),
        );
        await b.invalidateMany(
          keys.map((key, i) => (i % 2 === 0 ? { key, version: 10 + i + 1 } : { key, version: 10 + i })),
        );
        const after = await Promise.all((await store.getMany(keys, LEASE)).map(plain));
        expect(after.map(shape), 'invalidateMany drops only the older entries').toEqual(
          keys.map((_, i) =>
            i % 2 === 0 ? { kind: 'lease' } : { kind: 'hit', entry: p.value(i + 1, 10 + i) },
          ),
        );
      }
    },
  },
  batchedStepsCheckArgumentsFirst: {
    group: 'batched steps',
    title:
      'batched steps check every item before any step runs: an invalid one rejects the call and changes nothing; no items is a no-op',
    run: async (store, env) => {
      const b = batchedSteps(store);
      if (b === undefined) return;
      const p = new Probe(store, env);
      await b.beginWriteMany([], MARK);
      expect(await b.commitWriteMany([]), 'commitWriteMany([])').toEqual([]);
      await b.invalidateMany([]);
      const [a, c] = [p.key(), p.key()];
      await p.install(a, p.value(1, 5), 'install v5');
      await expect(
        b.beginWriteMany([{ key: a, token: 'w' }], 0),
        'beginWriteMany with markTtlMs 0',
      ).rejects.toThrow();
      await p.expectHit(a, p.value(1, 5), 'nothing begun');
      await store.beginWrite(c, 'w', MARK);
      await expect(
        b.commitWriteMany([
          { key: c, token: 'w', entry: p.value(2, 6), ttlMs: TTL },
          { key: a, token: 'w', entry: p.value(2, 6), ttlMs: 0 },
        ]),
        'commitWriteMany with one ttlMs 0',
      ).rejects.toThrow();
      await p.expectKind(c, 'writing', 'the valid item was not committed either');
      await p.expectHit(a, p.value(1, 5), 'the invalid item changed nothing');
      await expect(
        b.invalidateMany([
          { key: a, version: 9 },
          { key: c, version: -1 },
        ]),
        'invalidateMany with a negative version',
      ).rejects.toThrow();
      await p.expectHit(a, p.value(1, 5), 'the valid item was not invalidated');
    },
  },
} satisfies Record<string, CheckSpec>;

/** The name of each check in `cacheStoreChecks`. */
export type CacheStoreCheckName = keyof typeof specs;

/**
 * Every check of the suite as a plain async function, by name:
 * `await cacheStoreChecks.fillRequiresLease(store)`.
 * `storesAreIsolated` needs `env.other`. Useful to prove that a broken store fails a check.
 */
export const cacheStoreChecks: { readonly [K in CacheStoreCheckName]: CacheStoreCheck } = Object.fromEntries(
  Object.entries(specs).map(([name, spec]) => [name, spec.run]),
) as { readonly [K in CacheStoreCheckName]: CacheStoreCheck };

/**
 * Registers the `CacheStore` conformance suite with vitest: one test per check, each on a fresh store
 * from `factory`, cleaned up and closed after the test.
 */
export function describeCacheStore(
  name: string,
  factory: () => CacheStore<unknown> | Promise<CacheStore<unknown>>,
  options: DescribeCacheStoreOptions = {},
): void {
  describe(`CacheStore conformance: ${name}`, () => {
    let opened: CacheStore<unknown>[] = [];
    let store: CacheStore<unknown>;
    const open = async (): Promise<CacheStore<unknown>> => {
      const created = await factory();
      opened.push(created);
      return created;
    };
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      const stores = opened;
      opened = [];
      for (const each of stores) {
        try {
          await options.cleanup?.(each);
        } finally {
          await each.close();
        }
      }
    });
    const groups = new Map<string, [CacheStoreCheckName, CheckSpec][]>();
    for (const [checkName, spec] of Object.entries(specs) as [CacheStoreCheckName, CheckSpec][]) {
      if (spec.needsOther && options.isolated === false) continue;
      groups.set(spec.group, [...(groups.get(spec.group) ?? []), [checkName, spec]]);
    }
    for (const [group, checks] of groups) {
      describe(group, () => {
        for (const [checkName, spec] of checks) {
          it(`${spec.title} [${checkName}]`, async () => {
            const env: CacheStoreCheckEnv = {
              payload: options.payload,
              now: options.now,
              ttlGranularityMs: options.ttlGranularityMs,
              other: spec.needsOther ? await open() : undefined,
            };
            await spec.run(store, env);
          });
        }
      });
    }
  });
}
