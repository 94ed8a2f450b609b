import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it, vi } from 'vitest';
import {
  type CacheOptions,
  type CacheStore,
  createCache,
  InvalidArgumentError,
  memoryBus,
  memoryRecords,
  memoryStore,
  type StaleReadEvent,
  type VerifyOptions,
} from '../src/index.js';
import { renderPrometheus } from '../src/prometheus.js';
import { gate, readAfterRemoteWrite, tick } from './helpers.js';

/**
 * A tier whose every call travels: a random delay (0 to 1 ms, or a macrotask) before the step runs
 * and after, like a network round trip, so steps of concurrent calls interleave.
 */
function travellingTier(random: () => number): CacheStore<unknown> {
  const inner = memoryStore();
  const travel = () =>
    new Promise<void>((r) => (random() < 0.5 ? setImmediate(r) : setTimeout(r, random() < 0.5 ? 0 : 1)));
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'capabilities') return { ...target.capabilities, sync: false };
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || String(prop).endsWith('Sync')) return value;
      return async (...args: unknown[]) => {
        await travel();
        const result = await value.apply(target, args);
        await travel();
        return result;
      };
    },
  }) as CacheStore<unknown>;
}

/** Two instances sharing the record store, an L2 and a memory bus, each with its own memory L1. */
function twoInstances(
  extra: Partial<CacheOptions<string>> = {},
  extraB: Partial<CacheOptions<string>> = {},
  l2: CacheStore<unknown> = memoryStore(),
) {
  const records = memoryRecords<string>();
  const hub = memoryBus();
  const common = { name: 'users', records, l2, verify: { sampleRate: 1 } };
  const a = createCache<string>({
    ...common,
    l1: memoryStore(),
    bus: hub.connect('a'),
    instanceId: 'a',
    ...extra,
  });
  const b = createCache<string>({
    ...common,
    l1: memoryStore(),
    bus: hub.connect('b'),
    instanceId: 'b',
    ...extra,
    ...extraB,
  });
  return { records, l2, a, b };
}

/** A small seeded generator (mulberry32), so a failing run replays with its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ZERO = { sampled: 0, stale: 0, staleByTier: { l1: 0, l2: 0, records: 0 }, errors: 0 };

describe('shadow verifier (verify option)', () => {
  it.each([
    ['with L1 and a bus', {}],
    ['without L1', { l1: false as const }],
    [
      'with L1 and write marks off (the check has teeth)',
      { debug: { unsafeDisable: ['write-marks' as const] } },
    ],
  ])(
    'sampleRate 1, two instances %s: concurrent readers and writers; every read is checked',
    async (name, extra) => {
      const seed = Number(process.env.VERIFY_SEED ?? 20_240_611);
      const random = rng(seed);
      const { records, a, b } = twoInstances(extra, extra, travellingTier(random));
      records.setFaults({ latencyMs: { min: 0, max: 2 } });
      const keys = ['k1', 'k2', 'k3'];
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      let reads = 0;
      const stale: StaleReadEvent[] = [];
      a.on('stale', (e) => stale.push(e));
      b.on('stale', (e) => stale.push(e));
      const client = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const cache = pick([a, b]);
          const r = random();
          if (r < 0.3) await cache.set(pick(keys), `v${random()}`);
          else if (r < 0.35) await cache.delete(pick(keys));
          else if (r < 0.85) {
            reads++;
            await (random() < 0.5 ? cache.get(pick(keys)) : cache.getEntry(pick(keys)));
          } else {
            reads += 2;
            await cache.getMany(['k1', pick(['k2', 'k3'])]);
          }
        }
      };
      const teeth = name.includes('write marks off');
      // The guarded runs do one round; the unguarded one goes on until it sees a stale read (at most 5).
      for (let round = 0; round < (teeth ? 5 : 1); round++) {
        await Promise.all(Array.from({ length: 8 }, () => client(60)));
        if (stale.some((e) => e.tier === 'l2' || e.tier === 'records')) break;
      }
      const sa = a.stats().verify;
      const sb = b.stats().verify;
      const strong = stale.filter((e) => e.tier === 'l2' || e.tier === 'records');
      if (teeth) {
        // Without write marks L2 serves the old version between a commit and its invalidation.
        expect(strong.length, `seed ${seed}`).toBeGreaterThan(0);
      } else {
        // L2 and the record store never serve a version older than one committed before the read;
        // L1 may lag by bus delivery behind another instance's write.
        expect(strong, `seed ${seed}`).toEqual([]);
      }
      if ('l1' in extra) expect(stale.filter((e) => e.tier === 'l1')).toEqual([]);
      expect(sa.stale + sb.stale).toBe(stale.length);
      expect(sa.errors + sb.errors).toBe(0);
      expect(sa.sampled + sb.sampled).toBe(reads);
      expect(a.stats().reads + b.stats().reads).toBe(reads);
    },
  );

  it('counts a stale L2 read exactly when write marks are off (tier l2, event and onStale)', async () => {
    const records = memoryRecords<string>();
    const paused = gate();
    const reached = gate();
    const onStale = vi.fn();
    const cache = createCache<string>({
      records,
      l1: false,
      l2: memoryStore(),
      verify: { sampleRate: 1, onStale },
      debug: {
        unsafeDisable: ['write-marks'],
        hooks: {
          afterCommit: async ({ version }) => {
            if (version === 2) {
              reached.open();
              await paused.opened;
            }
          },
        },
      },
    });
    const events: StaleReadEvent[] = [];
    cache.on('stale', (e) => events.push(e));
    await cache.set('k', 'v1');
    expect(await cache.get('k')).toBe('v1'); // fills L2 at version 1
    const writing = cache.set('k', 'v2');
    await reached.opened; // version 2 is committed; without its mark, L2 still holds version 1
    expect(await cache.get('k')).toBe('v1');
    expect(await cache.getEntry('k')).toEqual({ value: 'v1', version: 1 });
    paused.open();
    await writing;
    expect(await cache.get('k')).toBe('v2');
    const expected = { key: 'k', returned: 1, current: 2, reason: 'older', tier: 'l2' };
    expect(events).toEqual([expected, expected]);
    expect(onStale).toHaveBeenCalledTimes(2);
    expect(onStale).toHaveBeenCalledWith(expected);
    expect(cache.stats().verify).toEqual({
      sampled: 4,
      stale: 2,
      staleByTier: { l1: 0, l2: 2, records: 0 },
      errors: 0,
    });
  });

  it('counts a version the record store never reached (a cached absence with a forged version) as never-committed', async () => {
    // With absence-version off, a cached absence claims to be newer than any write; with write
    // marks off, a later write does not remove it before its commit, and cannot replace it after.
    const records = memoryRecords<string>();
    const l2 = memoryStore();
    const a = createCache<string>({
      records,
      l1: false,
      l2,
      verify: { sampleRate: 1 },
      debug: { unsafeDisable: ['absence-version'] },
    });
    const b = createCache<string>({ records, l1: false, l2, debug: { unsafeDisable: ['write-marks'] } });
    const events: StaleReadEvent[] = [];
    a.on('stale', (e) => events.push(e));
    expect(await a.get('k')).toBeUndefined(); // caches the absence at a forged version
    await b.set('k', 'v1');
    expect(await a.get('k')).toBeUndefined(); // the forged absence in L2
    expect(events).toEqual([
      { key: 'k', returned: Number.MAX_SAFE_INTEGER, current: 1, reason: 'never-committed', tier: 'l2' },
    ]);
    expect(a.stats().verify).toMatchObject({ sampled: 2, stale: 1 });
  });

  it('a record store without tombstones (0 after a delete) is not reported as never-committed', async () => {
    const inner = memoryRecords<string>();
    // The contract allows it: after a delete, get answers { found: false, version: 0 }.
    const records = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop !== 'get') return value.bind(target);
        return async (...args: unknown[]) => {
          const read = await value.apply(target, args);
          return read.found ? read : { found: false, version: 0 };
        };
      },
    });
    const cache = createCache<string>({ records, l1: false, l2: memoryStore(), verify: { sampleRate: 1 } });
    await cache.set('k', 'v');
    await cache.delete('k');
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.stats().verify).toMatchObject({ sampled: 2, stale: 0 });
  });

  it('with write marks on, the same interleaving reads version 2 and counts nothing', async () => {
    const records = memoryRecords<string>();
    const paused = gate();
    const reached = gate();
    const cache = createCache<string>({
      records,
      l1: false,
      l2: memoryStore(),
      verify: { sampleRate: 1 },
      debug: {
        hooks: {
          afterCommit: async ({ version }) => {
            if (version === 2) {
              reached.open();
              await paused.opened;
            }
          },
        },
      },
    });
    await cache.set('k', 'v1');
    await cache.get('k');
    const writing = cache.set('k', 'v2');
    await reached.opened;
    expect(await cache.get('k')).toBe('v2');
    paused.open();
    await writing;
    expect(cache.stats().verify).toEqual({ ...ZERO, sampled: 2 });
  });

  it("counts under tier l1 another instance's L1 serving an old version before the bus message is applied", async () => {
    const held = gate();
    let holding = true;
    const onStale = vi.fn();
    const { a, b } = twoInstances(
      { verify: { sampleRate: 0 } },
      {
        verify: { sampleRate: 1, onStale },
        debug: { hooks: { beforeL1Apply: () => (holding ? held.opened : undefined) } },
      },
    );
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1'); // B's L1 now holds version 1
    const { version } = await a.set('k', 'v2'); // acknowledged; B has not applied its messages yet
    await tick();
    expect(await b.get('k')).toBe('v1');
    holding = false;
    held.open();
    await tick();
    expect(await b.get('k')).toBe('v2');
    const event = { key: 'k', returned: 1, current: version, reason: 'older', tier: 'l1' };
    expect(onStale).toHaveBeenCalledTimes(1);
    expect(onStale).toHaveBeenCalledWith(event);
    expect(b.stats().verify).toEqual({
      sampled: 3,
      stale: 1,
      staleByTier: { l1: 1, l2: 0, records: 0 },
      errors: 0,
    });
    expect(a.stats().verify).toEqual(ZERO);
  });

  // The scenario the verifier found: see readAfterRemoteWrite in helpers.ts.
  it('a read begun after another instance acknowledged a write does not join an older load of this process', async () => {
    const { first, second, stats } = await readAfterRemoteWrite('get', { verify: { sampleRate: 1 } });
    const verify = stats.verify;
    expect(first).toBe('v1'); // began before the write: either version is right
    expect(second).toBe('v2');
    expect(verify).toEqual({ sampled: 2, stale: 0, staleByTier: { l1: 0, l2: 0, records: 0 }, errors: 0 });
  });

  it("with the guard off (join any load in flight) the verifier counts the stale read under the load's tier", async () => {
    const { second, stats } = await readAfterRemoteWrite('get', {
      verify: { sampleRate: 1 },
      debug: { unsafeDisable: ['join-earlier-load'] },
    });
    const verify = stats.verify;
    expect(second).toBe('v1');
    expect(verify).toEqual({ sampled: 2, stale: 1, staleByTier: { l1: 0, l2: 0, records: 1 }, errors: 0 });
  });

  it('checks each sampled key of getMany against one record-store getMany', async () => {
    const records = memoryRecords<string>();
    const cache = createCache<string>({ records, verify: { sampleRate: 1 } });
    await cache.set('a', '1');
    await cache.set('b', '2');
    records.resetCalls();
    const got = await cache.getMany(['a', 'b', 'c', 'a']);
    expect([...got]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(records.calls.getMany).toBe(2); // the verification, then the load of 'c'
    expect(cache.stats().verify).toEqual({ ...ZERO, sampled: 3 });
  });

  it.each([
    ['no verify option', {}],
    ['sampleRate 0', { verify: { sampleRate: 0 } }],
  ])('%s: the record store sees no extra call and the counters stay at zero', async (_name, extra) => {
    const records = memoryRecords<string>();
    const cache = createCache<string>({ records, l2: memoryStore(), ...extra });
    await cache.set('a', '1');
    await cache.set('b', '2');
    records.resetCalls();
    for (let i = 0; i < 50; i++) {
      await cache.get('a');
      await cache.getEntry('b');
      await cache.get(`missing${i % 5}`);
      await cache.getMany(['a', 'b', `other${i % 3}`]);
    }
    const stats = cache.stats();
    expect(records.calls.get + records.calls.getMany).toBeGreaterThan(0);
    expect(records.calls.get).toBe(5); // the first read of each missing key; then cached absences
    expect(records.calls.getMany).toBe(3);
    expect(stats.recordReads).toBe(8);
    expect(stats.verify).toEqual(ZERO);
  });

  it('a failed or hung verification read counts an error and the read still succeeds', async () => {
    const records = memoryRecords<string>();
    const errors: { op: string }[] = [];
    const cache = createCache<string>({ records, leaseTtlMs: 50, verify: { sampleRate: 1 } });
    cache.on('error', (e) => errors.push(e));
    await cache.set('k', 'v1');
    await cache.set('m', 'v1');
    records.failNext(1, 'permanent', ['get']);
    expect(await cache.get('k')).toBe('v1');
    records.hangNext(1, ['get']);
    expect(await cache.getEntry('k')).toEqual({ value: 'v1', version: 1 });
    records.failNext(1, 'transient', ['getMany']);
    expect([...(await cache.getMany(['k', 'm']))]).toEqual([
      ['k', 'v1'],
      ['m', 'v1'],
    ]);
    expect(cache.stats().verify).toEqual({ ...ZERO, errors: 4 });
    expect(errors.map((e) => e.op)).toEqual(['verify', 'verify', 'verify', 'verify']);
    expect(await cache.get('k')).toBe('v1');
    expect(cache.stats().verify).toEqual({ ...ZERO, sampled: 1, errors: 4 });
  });

  it('a throwing onStale or stale listener never fails the read', async () => {
    const held = gate();
    let holding = true;
    const { a, b } = twoInstances(
      {},
      {
        verify: {
          sampleRate: 1,
          onStale: () => {
            throw new Error('onStale broke');
          },
        },
        debug: { hooks: { beforeL1Apply: () => (holding ? held.opened : undefined) } },
      },
    );
    const ops: string[] = [];
    b.on('stale', () => {
      throw new Error('listener broke');
    });
    b.on('error', (e) => ops.push(e.op));
    await a.set('k', 'v1');
    await b.get('k');
    await a.set('k', 'v2');
    expect(await b.get('k')).toBe('v1');
    expect(ops).toEqual(['stale', 'onStale']);
    holding = false;
    held.open();
  });

  it.each<[string, unknown]>([
    ['-1', { sampleRate: -1 }],
    ['2', { sampleRate: 2 }],
    ['NaN', { sampleRate: Number.NaN }],
    ["'1'", { sampleRate: '1' }],
    ['missing', {}],
    ['Infinity', { sampleRate: Number.POSITIVE_INFINITY }],
  ])('refuses sampleRate %s with InvalidArgumentError naming verify.sampleRate', (_name, verify) => {
    const make = () => createCache({ records: memoryRecords(), verify: verify as VerifyOptions });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(/verify\.sampleRate/);
  });

  it('refuses a verify option that is not an object, a non-function onStale and unknown fields', () => {
    const make = (verify: unknown) => () =>
      createCache({ records: memoryRecords(), verify: verify as VerifyOptions });
    expect(make(0.5)).toThrow(/verify must be an object/);
    expect(make(null)).toThrow(InvalidArgumentError);
    expect(make({ sampleRate: 0.5, onStale: 'log' })).toThrow(/verify\.onStale must be a function/);
    expect(make({ sampleRate: 0.5, sampleRatio: 1 })).toThrow(/verify\.sampleRatio/);
    expect(() => createCache({ records: memoryRecords(), verify: { sampleRate: 0.01 } })).not.toThrow();
  });

  it("emits 'stale' and calls onStale in the reading call's async context", async () => {
    const als = new AsyncLocalStorage<{ op: string }>();
    const seen: (string | undefined)[] = [];
    const held = gate();
    let holding = true;
    const { a, b } = twoInstances(
      { verify: { sampleRate: 0 } },
      {
        verify: { sampleRate: 1, onStale: () => seen.push(`onStale:${als.getStore()?.op}`) },
        debug: { hooks: { beforeL1Apply: () => (holding ? held.opened : undefined) } },
      },
    );
    b.on('stale', () => seen.push(`event:${als.getStore()?.op}`));
    await als.run({ op: 'write-1' }, () => a.set('k', 'v1'));
    await als.run({ op: 'read-1' }, () => b.get('k'));
    await als.run({ op: 'write-2' }, () => a.set('k', 'v2'));
    const reads = await Promise.all([
      als.run({ op: 'read-2' }, () => b.get('k')),
      als.run({ op: 'read-3' }, () => b.getEntry('k')),
      als.run({ op: 'read-4' }, () => b.getMany(['k'])),
    ]);
    expect(reads[0]).toBe('v1');
    expect(seen).toEqual([
      'event:read-2',
      'onStale:read-2',
      'event:read-3',
      'onStale:read-3',
      'event:read-4',
      'onStale:read-4',
    ]);
    holding = false;
    held.open();
  });

  it('resetStats zeroes the counters, and the Prometheus export carries them', async () => {
    const records = memoryRecords<string>();
    const cache = createCache<string>({
      name: 'users',
      records,
      l1: false,
      l2: memoryStore(),
      verify: { sampleRate: 1 },
      debug: { unsafeDisable: ['write-marks'] },
    });
    await cache.set('k', 'v1');
    await cache.get('k');
    // Behind the cache's back: L2 keeps version 1, which the verifier sees as stale.
    await records.set('k', 'v2');
    await cache.get('k');
    records.failNext(1, 'permanent', ['get']);
    await cache.get('k');
    const text = await renderPrometheus([cache]);
    expect(text).toContain('# TYPE writethrough_verify_sampled_total counter');
    expect(text).toContain('writethrough_verify_sampled_total{cache="users"} 2');
    expect(text).toContain('writethrough_verify_stale_total{cache="users",tier="l2"} 1');
    expect(text).toContain('writethrough_verify_stale_total{cache="users",tier="l1"} 0');
    expect(text).toContain('writethrough_verify_stale_total{cache="users",tier="records"} 0');
    expect(text).toContain('writethrough_verify_errors_total{cache="users"} 1');
    cache.resetStats();
    expect(cache.stats().verify).toEqual(ZERO);
  });
});
