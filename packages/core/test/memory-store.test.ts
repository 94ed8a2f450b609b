import { describe, expect, it } from 'vitest';
import type { Lookup, TierEntry } from '../src/contracts.js';
import { CacheClosedError, InvalidArgumentError } from '../src/errors.js';
import {
  MemoryStore,
  type MemoryStoreGuard,
  type MemoryStoreOptions,
  memoryStore,
} from '../src/memory-store.js';

const LEASE = { leaseTtlMs: 1_000 };
const MARK_TTL = 5_000;
const TTL = 60_000;
const K = 'user:1';

const value = (version: number): TierEntry<string> => ({ kind: 'value', payload: `v${version}`, version });
const absent = (version: number): TierEntry<string> => ({ kind: 'absent', version });

/** A store with a manual clock (starting at 1_000_000 ms) and the given options. */
function setup(options: MemoryStoreOptions = {}) {
  const clock = { t: 1_000_000 };
  const store = memoryStore<string>({ now: () => clock.t, ...options });
  const advance = (ms: number) => {
    clock.t += ms;
  };
  return { store, clock, advance };
}

/** Takes the fill lease of `key`; fails when `get` answers anything else. */
function takeLease(store: MemoryStore<string>, key = K): string {
  const result = store.getSync(key, LEASE);
  if (result.kind !== 'lease') throw new Error(`expected a lease, got ${result.kind}`);
  return result.token;
}

/** The cached version of `key` (via `get`), or the kind of miss. */
function read(store: MemoryStore<string>, key = K): number | Lookup<string>['kind'] {
  const result = store.getSync(key, LEASE);
  return result.kind === 'hit' ? result.entry.version : result.kind;
}

/** Puts `entry` in the cache through the read path (lease + fill). */
function cache(store: MemoryStore<string>, entry: TierEntry<string>, key = K): void {
  expect(store.fillSync(key, takeLease(store, key), entry, TTL)).toBe(true);
}

describe('memoryStore: construction', () => {
  it('declares its capabilities and is a MemoryStore', () => {
    const store = memoryStore();
    expect(store).toBeInstanceOf(MemoryStore);
    expect(store.capabilities).toEqual({ shared: false, serialized: false, sync: true });
    expect(store.size).toBe(0);
  });

  it('refuses invalid options', () => {
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(InvalidArgumentError);
    expect(() => memoryStore({ maxLeases: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => memoryStore({ maxMarks: -1 })).toThrow(InvalidArgumentError);
    expect(() => memoryStore({ floorTtlMs: 0 })).toThrow(InvalidArgumentError);
  });

  it('refuses TTLs that are not > 0', () => {
    const { store } = setup();
    expect(() => store.getSync(K, { leaseTtlMs: 0 })).toThrow(InvalidArgumentError);
    const token = takeLease(store);
    expect(() => store.fillSync(K, token, value(1), 0)).toThrow(InvalidArgumentError);
    expect(() => store.fillSync(K, token, value(1), Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => store.beginWriteSync(K, 'w1', -5)).toThrow(InvalidArgumentError);
    expect(() => store.commitWriteSync(K, 'w1', value(1), 0)).toThrow(InvalidArgumentError);
    expect(() => store.invalidateSync(K, Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => store.invalidateSync(K, -1)).toThrow(InvalidArgumentError);
    // Nothing was changed by the refused calls: the lease is still there.
    expect(store.inspect(K)).toEqual({ lease: token, inflight: [], floor: 0 });
  });
});

describe('get', () => {
  it('grants a lease on a miss, then answers wait while it lives', () => {
    const { store } = setup();
    const first = store.getSync(K, LEASE);
    expect(first.kind).toBe('lease');
    expect(store.getSync(K, LEASE)).toEqual({ kind: 'wait' });
    expect(store.inspect(K).lease).toBe((first as { token: string }).token);
  });

  it('grants fresh tokens that are never reused (also across keys and clear)', async () => {
    const { store } = setup();
    const tokens = new Set<string>();
    for (let i = 0; i < 500; i++) tokens.add(takeLease(store, `k${i}`));
    await store.clear();
    for (let i = 0; i < 500; i++) tokens.add(takeLease(store, `k${i}`));
    expect(tokens.size).toBe(1_000);
  });

  it('answers a hit with the same lookup object every time', () => {
    const { store } = setup();
    const entry = value(3);
    cache(store, entry);
    const hit = store.getSync(K, LEASE);
    expect(hit).toMatchObject({ kind: 'hit', entry });
    expect(hit.kind === 'hit' && hit.entry).toBe(entry);
    expect(store.getSync(K, LEASE)).toBe(hit);
  });

  it('answers a hit with one settled promise of the payload, made when the entry was installed', async () => {
    const { store } = setup();
    const entry = value(3);
    cache(store, entry);
    const hit = store.getSync(K, LEASE);
    const resolved = hit.kind === 'hit' ? hit.resolved : undefined;
    expect(resolved).toBeInstanceOf(Promise);
    expect(await resolved).toBe(entry.kind === 'value' ? entry.payload : 'not a value');
    expect(store.getSync(K, LEASE)).toMatchObject({ resolved });
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.commitWriteSync(K, 'w1', value(4), TTL)).toBe(true);
    const next = store.getSync(K, LEASE);
    expect(next.kind === 'hit' && next.resolved).not.toBe(resolved);
    store.beginWriteSync(K, 'w2', MARK_TTL);
    expect(store.commitWriteSync(K, 'w2', absent(5), TTL)).toBe(true);
    const gone = store.getSync(K, LEASE);
    expect(gone.kind === 'hit' && (await gone.resolved)).toBeUndefined();
  });

  it('answers a hit for a cached absence', () => {
    const { store } = setup();
    cache(store, absent(4));
    expect(store.getSync(K, LEASE)).toMatchObject({ kind: 'hit', entry: absent(4) });
  });

  it('answers writing while a writer is in flight, before looking at leases', () => {
    const { store } = setup();
    takeLease(store);
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.getSync(K, LEASE)).toEqual({ kind: 'writing' });
    expect(store.inspect(K).lease).toBeUndefined();
  });

  it('getMany answers each key in order, as get would', async () => {
    const { store } = setup();
    cache(store, value(1), 'a');
    store.beginWriteSync('w', 'w1', MARK_TTL);
    const results = await store.getMany(['a', 'b', 'b', 'w'], LEASE);
    expect(results.map((r) => r.kind)).toEqual(['hit', 'lease', 'wait', 'writing']);
    expect(await store.getMany([], LEASE)).toEqual([]);
  });

  it('the async methods wrap the sync ones', async () => {
    const { store } = setup();
    const lookup = await store.get(K, LEASE);
    expect(lookup.kind).toBe('lease');
    expect(await store.fill(K, (lookup as { token: string }).token, value(1), TTL)).toBe(true);
    expect(await store.get(K, LEASE)).toBe(store.getSync(K, LEASE));
    await store.beginWrite(K, 'w1', MARK_TTL);
    expect(await store.commitWrite(K, 'w1', value(2), TTL)).toBe(true);
    await store.beginWrite(K, 'w2', MARK_TTL);
    await store.abortWrite(K, 'w2');
    expect(read(store)).toBe('lease');
    await store.invalidate(K, 9);
    expect(store.inspect(K).floor).toBe(9);
  });
});

describe('fill', () => {
  it('with the current lease, installs the entry and consumes the lease', () => {
    const { store } = setup();
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(2), TTL)).toBe(true);
    expect(store.inspect(K)).toEqual({ entry: value(2), inflight: [], floor: 0 });
    expect(read(store)).toBe(2);
    expect(store.size).toBe(1);
  });

  it('a second fill with a consumed lease installs nothing', () => {
    const { store } = setup();
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(2), TTL)).toBe(true);
    expect(store.fillSync(K, token, value(3), TTL)).toBe(false);
    // Lost lease: acts as invalidate(3), which removes the older v2.
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 3 });
  });

  it('is refused when a writer began after the lease was granted (the lease is revoked)', () => {
    const { store } = setup();
    const token = takeLease(store);
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.fillSync(K, token, value(1), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: ['w1'], floor: 1 });
    expect(read(store)).toBe('writing');
  });

  it('is refused while a writer is in flight even without the lease check', () => {
    const { store } = setup({ unsafeDisable: ['leases'] });
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.fillSync(K, 'any', value(1), TTL)).toBe(false);
    expect(store.inspect(K).entry).toBeUndefined();
  });

  it('is refused below the floor, and the lease is consumed anyway', () => {
    const { store } = setup();
    store.invalidateSync(K, 5);
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(4), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 5 });
    // At the floor is fine.
    const next = takeLease(store);
    expect(store.fillSync(K, next, value(5), TTL)).toBe(true);
    expect(read(store)).toBe(5);
  });

  it('is refused when not newer than the cached entry (reachable only without the lease check)', () => {
    const { store } = setup({ unsafeDisable: ['leases'] });
    cache(store, value(5));
    expect(store.fillSync(K, 'stale', value(5), TTL)).toBe(false);
    expect(store.fillSync(K, 'stale', value(4), TTL)).toBe(false);
    expect(read(store)).toBe(5);
    expect(store.fillSync(K, 'stale', value(6), TTL)).toBe(true);
    expect(read(store)).toBe(6);
  });

  it('with a lost lease (expired), raises the floor, revokes the new lease, removes an older entry', () => {
    const { store, advance } = setup();
    const old = takeLease(store);
    advance(LEASE.leaseTtlMs + 1);
    const current = takeLease(store);
    expect(current).not.toBe(old);
    expect(store.fillSync(K, old, value(3), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 3 });
    // The current holder lost its lease too: its fill is refused and only reports its version.
    expect(store.fillSync(K, current, value(2), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 3 });
    expect(read(store)).toBe('lease');
  });

  it('with a lost lease, removes a cached entry older than its version and keeps a newer one', () => {
    const { store } = setup();
    cache(store, value(4));
    expect(store.fillSync(K, 'gone', value(3), TTL)).toBe(false);
    expect(read(store)).toBe(4);
    expect(store.fillSync(K, 'gone', value(4), TTL)).toBe(false);
    expect(read(store)).toBe(4);
    expect(store.fillSync(K, 'gone', value(6), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 6 });
  });

  it('a fill with a token that is not the current lease revokes the current one, as invalidate(v) does', () => {
    const { store } = setup();
    const token = takeLease(store);
    expect(store.fillSync(K, `${token}x`, value(1), TTL)).toBe(false);
    expect(store.inspect(K).lease).toBeUndefined();
    expect(store.fillSync(K, token, value(1), TTL)).toBe(false);
  });
});

describe('beginWrite', () => {
  it('removes the value, revokes the lease and adds the token once', () => {
    const { store } = setup();
    cache(store, value(1));
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.inspect(K)).toEqual({ inflight: ['w1'], floor: 0 });
    expect(store.size).toBe(0);
    expect(read(store)).toBe('writing');
  });

  it('the mark expires after markTtlMs; a later begin extends it and never shortens it', () => {
    const { store, advance } = setup();
    store.beginWriteSync(K, 'w1', 100);
    advance(50);
    store.beginWriteSync(K, 'w2', 100);
    advance(70); // 120 ms after w1 began: w2's refresh keeps the mark
    expect(store.inspect(K).inflight).toEqual(['w1', 'w2']);
    store.beginWriteSync(K, 'w3', 10); // shorter: does not shorten
    advance(30); // 150 ms: the mark is at its last ms
    expect(read(store)).toBe('writing');
    advance(1);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 0 });
    expect(read(store)).toBe('lease');
  });
});

describe('commitWrite', () => {
  it('a lone writer installs its entry; the record keeps the floor after the set empties', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.commitWriteSync(K, 'w1', value(1), TTL)).toBe(true);
    expect(store.inspect(K)).toEqual({ entry: value(1), inflight: [], floor: 1 });
    expect(read(store)).toBe(1);
  });

  it('installs a delete as a cached absence', () => {
    const { store } = setup();
    cache(store, value(1));
    store.beginWriteSync(K, 'w1', MARK_TTL);
    expect(store.commitWriteSync(K, 'w1', absent(2), TTL)).toBe(true);
    expect(store.getSync(K, LEASE)).toMatchObject({ kind: 'hit', entry: absent(2) });
  });

  it('W1, W2 in flight, commits in order: the first out installs nothing, the last out installs', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.beginWriteSync(K, 'w2', MARK_TTL);
    expect(store.commitWriteSync(K, 'w1', value(1), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: ['w2'], floor: 1 });
    expect(read(store)).toBe('writing');
    expect(store.commitWriteSync(K, 'w2', value(2), TTL)).toBe(true);
    expect(store.inspect(K)).toEqual({ entry: value(2), inflight: [], floor: 2 });
  });

  it('W1, W2 in flight, commits out of order: the last out is not the floor and installs nothing', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.beginWriteSync(K, 'w2', MARK_TTL);
    expect(store.commitWriteSync(K, 'w2', value(2), TTL)).toBe(false);
    expect(store.commitWriteSync(K, 'w1', value(1), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 2 });
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(1), TTL)).toBe(false); // a stale read of v1
    const again = takeLease(store);
    expect(store.fillSync(K, again, value(2), TTL)).toBe(true);
    expect(read(store)).toBe(2);
  });

  it('revokes the lease', () => {
    const { store, advance } = setup();
    store.beginWriteSync(K, 'w1', 100);
    advance(101); // the mark expires while w1 is still in flight
    const token = takeLease(store);
    expect(store.commitWriteSync(K, 'w1', value(2), TTL)).toBe(false);
    expect(store.inspect(K).lease).toBeUndefined();
    // The reader read v2 after the commit, but its lease is gone: it only reports v2.
    expect(store.fillSync(K, token, value(2), TTL)).toBe(false);
    expect(read(store)).toBe('lease');
  });

  it('with its token missing (mark expired), installs nothing and removes the value', () => {
    const { store, advance } = setup();
    store.beginWriteSync(K, 'w1', 100);
    advance(101);
    cache(store, value(1)); // a reader read the database before w1 committed
    expect(store.commitWriteSync(K, 'w1', value(2), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 2 });
    expect(store.size).toBe(0);
  });

  it('with its token missing, leaves the other writers in flight', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w2', MARK_TTL);
    expect(store.commitWriteSync(K, 'w1', value(3), TTL)).toBe(false);
    expect(store.inspect(K)).toEqual({ inflight: ['w2'], floor: 3 });
  });

  it('the floor outlives the set until the mark expires (at least floorTtlMs)', () => {
    const { store, advance } = setup({ floorTtlMs: 2_000 });
    store.beginWriteSync(K, 'w1', 500);
    expect(store.commitWriteSync(K, 'w1', value(7), TTL)).toBe(true);
    advance(1_999);
    expect(store.inspect(K)).toEqual({ entry: value(7), inflight: [], floor: 7 });
    advance(2);
    expect(store.inspect(K)).toEqual({ entry: value(7), inflight: [], floor: 0 });
  });
});

describe('abortWrite', () => {
  it('removes the token; the value stays removed', () => {
    const { store } = setup();
    cache(store, value(1));
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.abortWriteSync(K, 'w1');
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 0 });
    expect(store.size).toBe(0);
    expect(read(store)).toBe('lease');
  });

  it('leaves the other writers, and ignores an unknown token or key', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.beginWriteSync(K, 'w2', MARK_TTL);
    store.abortWriteSync(K, 'w1');
    store.abortWriteSync(K, 'nobody');
    store.abortWriteSync('other', 'w2');
    expect(store.inspect(K).inflight).toEqual(['w2']);
    expect(read(store)).toBe('writing');
  });
});

describe('invalidate', () => {
  it('with a version: raises the floor, revokes the lease, removes an older entry only', () => {
    const { store } = setup();
    cache(store, value(3));
    store.invalidateSync(K, 3);
    expect(store.inspect(K)).toEqual({ entry: value(3), inflight: [], floor: 3 });
    store.invalidateSync(K, 4);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 4 });
    takeLease(store);
    store.invalidateSync(K, 2); // never lowers the floor, still revokes the lease
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 4 });
  });

  it('with a version: leaves the in-flight set as it is', () => {
    const { store } = setup();
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.invalidateSync(K, 8);
    expect(store.inspect(K)).toEqual({ inflight: ['w1'], floor: 8 });
  });

  it('without a version: removes any entry and revokes the lease, leaves the mark', () => {
    const { store } = setup();
    cache(store, value(9));
    store.invalidateSync(K);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 0 });
    takeLease(store);
    store.beginWriteSync('k2', 'w1', MARK_TTL);
    store.invalidateSync(K);
    store.invalidateSync('k2');
    expect(store.inspect(K).lease).toBeUndefined();
    expect(store.inspect('k2')).toEqual({ inflight: ['w1'], floor: 0 });
  });

  it('version 0 keeps no mark', () => {
    const { store } = setup();
    store.invalidateSync(K, 0);
    expect(store.inspect(K)).toEqual({ inflight: [], floor: 0 });
  });

  it('the floor it raises lives floorTtlMs', () => {
    const { store, advance } = setup({ floorTtlMs: 300 });
    store.invalidateSync(K, 5);
    advance(300);
    expect(store.inspect(K).floor).toBe(5);
    advance(1);
    expect(store.inspect(K).floor).toBe(0);
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(4), TTL)).toBe(true);
  });
});

describe('expiry', () => {
  it('a value expires after its TTL and then counts as absent', () => {
    const { store, advance } = setup();
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(1), 100)).toBe(true);
    advance(100);
    expect(read(store)).toBe(1);
    advance(1);
    expect(store.inspect(K).entry).toBeUndefined();
    expect(read(store)).toBe('lease');
    expect(store.size).toBe(0);
  });

  it('an expired value does not block an older fill (it counts as absent)', () => {
    const { store, advance } = setup({ unsafeDisable: ['leases'] });
    expect(store.fillSync(K, 'x', value(5), 100)).toBe(true);
    advance(101);
    expect(store.fillSync(K, 'x', value(4), TTL)).toBe(true);
    expect(read(store)).toBe(4);
  });

  it('a TTL of Infinity never expires', () => {
    const { store, advance } = setup();
    const token = takeLease(store);
    expect(store.fillSync(K, token, value(1), Number.POSITIVE_INFINITY)).toBe(true);
    advance(1e12);
    expect(read(store)).toBe(1);
  });

  it('a lease expires after leaseTtlMs: wait, then a new lease', () => {
    const { store, advance } = setup();
    takeLease(store);
    advance(LEASE.leaseTtlMs);
    expect(read(store)).toBe('wait');
    advance(1);
    expect(read(store)).toBe('lease');
  });

  it('works with a clock that starts at 0', () => {
    let t = 0;
    const store = memoryStore<string>({ now: () => t });
    store.getSync(K, { leaseTtlMs: 10 });
    store.beginWriteSync('m', 'w1', 10);
    t = 11;
    expect(store.getSync(K, LEASE).kind).toBe('lease');
    expect(store.getSync('m', LEASE).kind).toBe('lease');
  });
});

describe('eviction', () => {
  it('holds at most maxEntries values and reports the evicted keys', () => {
    const evicted: string[] = [];
    const { store } = setup({ maxEntries: 3, onEvict: (key) => evicted.push(key) });
    for (const key of ['a', 'b', 'c']) cache(store, value(1), key);
    read(store, 'a'); // visited: survives the hand's first pass
    cache(store, value(1), 'd');
    expect(evicted).toEqual(['b']);
    expect(store.size).toBe(3);
    expect(read(store, 'b')).toBe('lease');
    expect(read(store, 'a')).toBe(1);
    for (let i = 0; i < 100; i++) cache(store, value(1), `x${i}`);
    expect(store.size).toBe(3);
    expect(evicted).toHaveLength(101);
  });

  it('holds at most maxEntries values without an onEvict listener', () => {
    const { store } = setup({ maxEntries: 3 });
    for (let i = 0; i < 100; i++) cache(store, value(1), `x${i}`);
    expect(store.size).toBe(3);
  });

  it('does not report expiry, deletion or clear as eviction', async () => {
    const evicted: string[] = [];
    const { store, advance } = setup({ maxEntries: 2, onEvict: (key) => evicted.push(key) });
    const token = takeLease(store, 'a');
    store.fillSync('a', token, value(1), 10);
    cache(store, value(1), 'b');
    advance(11);
    read(store, 'a');
    store.invalidateSync('b');
    cache(store, value(1), 'c');
    await store.clear();
    expect(evicted).toEqual([]);
  });

  it('losing leases and marks to their bounds is fail-safe', () => {
    const { store } = setup({ maxLeases: 1, maxMarks: 1 });
    const a = takeLease(store, 'a');
    takeLease(store, 'b'); // evicts a's lease
    expect(store.fillSync('a', a, value(1), TTL)).toBe(false);
    store.beginWriteSync('a', 'w1', MARK_TTL);
    store.beginWriteSync('b', 'w2', MARK_TTL); // evicts a's mark
    expect(store.commitWriteSync('a', 'w1', value(2), TTL)).toBe(false);
    expect(store.inspect('a').entry).toBeUndefined();
  });
});

describe('clear and close', () => {
  it('clear drops every entry, lease and mark', async () => {
    const { store } = setup();
    cache(store, value(1), 'a');
    takeLease(store, 'b');
    store.beginWriteSync('c', 'w1', MARK_TTL);
    store.invalidateSync('d', 4);
    await store.clear();
    expect(store.size).toBe(0);
    for (const key of ['a', 'b', 'c', 'd']) expect(store.inspect(key)).toEqual({ inflight: [], floor: 0 });
  });

  it('close drops everything and every later call throws CacheClosedError', async () => {
    const { store } = setup();
    cache(store, value(1));
    await store.close();
    await store.close();
    expect(store.size).toBe(0);
    expect(() => store.getSync(K, LEASE)).toThrow(CacheClosedError);
    expect(() => store.fillSync(K, 't', value(1), TTL)).toThrow(CacheClosedError);
    expect(() => store.beginWriteSync(K, 'w', MARK_TTL)).toThrow(CacheClosedError);
    expect(() => store.commitWriteSync(K, 'w', value(1), TTL)).toThrow(CacheClosedError);
    expect(() => store.abortWriteSync(K, 'w')).toThrow(CacheClosedError);
    expect(() => store.invalidateSync(K)).toThrow(CacheClosedError);
    expect(() => store.clearSync()).toThrow(CacheClosedError);
    await expect(store.get(K, LEASE)).rejects.toThrow(CacheClosedError);
    await expect(store.getMany([K], LEASE)).rejects.toThrow(CacheClosedError);
    await expect(store.fill(K, 't', value(1), TTL)).rejects.toThrow(CacheClosedError);
    await expect(store.beginWrite(K, 'w', MARK_TTL)).rejects.toThrow(CacheClosedError);
    await expect(store.commitWrite(K, 'w', value(1), TTL)).rejects.toThrow(CacheClosedError);
    await expect(store.abortWrite(K, 'w')).rejects.toThrow(CacheClosedError);
    await expect(store.invalidate(K, 1)).rejects.toThrow(CacheClosedError);
    await expect(store.clear()).rejects.toThrow(CacheClosedError);
    expect(() => store.getSync(K, LEASE)).toThrow(
      expect.objectContaining({ code: 'WT_CACHE_CLOSED', key: K }),
    );
  });
});

/**
 * Each guard switched off must change what the store does (or the switch proves nothing). Each test
 * runs one scenario on a correct store and on a store with the guard off and compares them.
 */
describe('unsafeDisable: every guard makes an observable difference', () => {
  const both = (guards: MemoryStoreGuard[]) => [setup(), setup({ unsafeDisable: guards })] as const;

  it('versions: an older entry replaces a newer one (with the lease check off too)', () => {
    // With the lease check on, a fill holding the current lease never finds a cached entry, so the
    // version check is defence in depth: shown here against the lease check alone switched off.
    const run = (s: MemoryStore<string>) => {
      cache(s, value(5));
      return [s.fillSync(K, 'stale', value(3), TTL), read(s)];
    };
    const [safe, broken] = [
      setup({ unsafeDisable: ['leases'] }),
      setup({ unsafeDisable: ['leases', 'versions'] }),
    ];
    expect(run(safe.store)).toEqual([false, 5]);
    expect(run(broken.store)).toEqual([true, 3]);
  });

  it('leases: a fill whose lease was revoked installs', () => {
    const run = (s: MemoryStore<string>) => {
      const token = takeLease(s);
      s.invalidateSync(K); // e.g. a write came and went
      return [s.fillSync(K, token, value(1), TTL), read(s)];
    };
    const [safe, broken] = both(['leases']);
    expect(run(safe.store)).toEqual([false, 'lease']);
    expect(run(broken.store)).toEqual([true, 1]);
  });

  it('floor: a fill below the floor installs', () => {
    const run = (s: MemoryStore<string>) => {
      s.invalidateSync(K, 5);
      return [s.fillSync(K, takeLease(s), value(3), TTL), read(s)];
    };
    const [safe, broken] = both(['floor']);
    expect(run(safe.store)).toEqual([false, 'lease']);
    expect(run(broken.store)).toEqual([true, 3]);
  });

  it('inflight-set: the first writer out installs while another is in flight', () => {
    const run = (s: MemoryStore<string>) => {
      s.beginWriteSync(K, 'w1', MARK_TTL);
      s.beginWriteSync(K, 'w2', MARK_TTL);
      return [s.commitWriteSync(K, 'w2', value(2), TTL), s.inspect(K).entry?.version];
    };
    const [safe, broken] = both(['inflight-set']);
    expect(run(safe.store)).toEqual([false, undefined]);
    expect(run(broken.store)).toEqual([true, 2]);
  });

  it('revoke-on-commit: a lease granted before the commit survives it', () => {
    const run = (s: MemoryStore<string>, advance: (ms: number) => void) => {
      s.beginWriteSync(K, 'w1', 100);
      advance(101); // w1's mark expires while it is in flight
      const token = takeLease(s);
      s.commitWriteSync(K, 'w1', value(2), TTL);
      return [read(s), s.fillSync(K, token, value(2), TTL)];
    };
    const [safe, broken] = both(['revoke-on-commit']);
    expect(run(safe.store, safe.advance)).toEqual(['lease', false]);
    expect(run(broken.store, broken.advance)).toEqual(['wait', true]);
  });

  it('report-on-lost-lease: a fill with a lost lease raises no floor', () => {
    const run = (s: MemoryStore<string>) => {
      const token = takeLease(s);
      s.invalidateSync(K);
      s.fillSync(K, token, value(3), TTL);
      // A later reader that read an older version must then be refused.
      return [s.inspect(K).floor, s.fillSync(K, takeLease(s), value(2), TTL)];
    };
    const [safe, broken] = both(['report-on-lost-lease']);
    expect(run(safe.store)).toEqual([3, false]);
    expect(run(broken.store)).toEqual([0, true]);
  });

  it('failsafe: a commit whose token expired installs', () => {
    const run = (s: MemoryStore<string>, advance: (ms: number) => void) => {
      s.beginWriteSync(K, 'w1', 100);
      advance(101);
      cache(s, value(1));
      return [s.commitWriteSync(K, 'w1', value(2), TTL), s.inspect(K).entry?.version];
    };
    const [safe, broken] = both(['failsafe']);
    expect(run(safe.store, safe.advance)).toEqual([false, undefined]);
    expect(run(broken.store, broken.advance)).toEqual([true, 2]);
  });
});

/**
 * The model's counterexample "first writer out installs" (shared/model/README.md): W1 and W2 in flight,
 * W2 commits v2, a reader reads v2 from the database, then W1's commitWrite would install v1 and a
 * later read would return v1 < v2 (P2 monotonic broken).
 */
describe('replay: first writer out installs', () => {
  function replay(options: MemoryStoreOptions = {}): { lastRead: number | string; readerSaw: number } {
    const { store } = setup(options);
    const db = { version: 0 };
    store.beginWriteSync(K, 'w1', MARK_TTL);
    store.beginWriteSync(K, 'w2', MARK_TTL);
    db.version = 1; // W1's database commit -> v1
    db.version = 2; // W2's database commit -> v2
    store.commitWriteSync(K, 'w2', value(2), TTL);
    // The reader: a miss; reads v2 from the database and returns it, reporting it (fix 2) if it did not
    // install it under a lease.
    let readerSaw: number;
    const lookup = store.getSync(K, LEASE);
    if (lookup.kind === 'hit') readerSaw = lookup.entry.version;
    else {
      readerSaw = db.version;
      if (lookup.kind === 'lease') store.fillSync(K, lookup.token, value(db.version), TTL);
      else store.invalidateSync(K, db.version);
    }
    store.commitWriteSync(K, 'w1', value(1), TTL);
    // A read that starts after the reader returned.
    const later = store.getSync(K, LEASE);
    let lastRead: number | string;
    if (later.kind === 'hit') lastRead = later.entry.version;
    else if (later.kind === 'lease') {
      store.fillSync(K, later.token, value(db.version), TTL);
      lastRead = db.version;
    } else lastRead = later.kind;
    return { lastRead, readerSaw };
  }

  it('the verified protocol keeps reads monotonic', () => {
    const { lastRead, readerSaw } = replay();
    expect(readerSaw).toBe(2);
    expect(lastRead).toBe(2);
  });

  it('without the floor, W1 installs v1 and the later read goes back in time', () => {
    expect(replay({ unsafeDisable: ['floor'] })).toEqual({ readerSaw: 2, lastRead: 1 });
  });

  it('without the floor and the in-flight rule, W2 installs v2 and only the version check refuses v1', () => {
    expect(replay({ unsafeDisable: ['floor', 'inflight-set'] })).toEqual({ readerSaw: 2, lastRead: 2 });
    // The first design: every commit installs.
    expect(replay({ unsafeDisable: ['floor', 'inflight-set', 'versions'] })).toEqual({
      readerSaw: 2,
      lastRead: 1,
    });
  });

  it('without the in-flight rule alone, the floor refuses the stale install (as the model found)', () => {
    expect(replay({ unsafeDisable: ['inflight-set'] })).toEqual({ readerSaw: 2, lastRead: 2 });
  });
});
