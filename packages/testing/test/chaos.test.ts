import {
  AbortedError,
  type BusState,
  type InvalidationMessage,
  memoryBus,
  memoryRecords,
  memoryStore,
  RecordStoreError,
} from '@writethrough/core';
import { describe, expect, it } from 'vitest';
import {
  ChaosError,
  chaosBus,
  chaosCacheStore,
  chaosRecordStore,
  deferred,
  gate,
  hostileKeys,
  LONG_KEY_LENGTH,
  randomKey,
  sleep,
  waitFor,
} from '../src/index.js';

const LEASE = { leaseTtlMs: 30_000 };
const entry = (version: number) => ({ kind: 'value' as const, payload: `v${version}`, version });

/** Settles `promise` into a value or an error, for asserting on either. */
async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Lets queued microtasks and the next timers run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('chaosRecordStore', () => {
  it('forwards every call unchanged and logs it', async () => {
    const inner = memoryRecords<string>();
    const { store, chaos } = chaosRecordStore(inner);
    const { version } = await store.set('k', 'v');
    expect(await store.get('k')).toEqual({ found: true, value: 'v', version });
    expect(chaos.calls.map((call) => call.method)).toEqual(['set', 'get']);
    expect(chaos.calls[0]?.args.slice(0, 2)).toEqual(['k', 'v']);
    expect(chaos.count('get')).toBe(1);
    expect(chaos.count()).toBe(2);
  });

  it('throwNext fails the next n calls before their effect with a retryable RecordStoreError', async () => {
    const inner = memoryRecords<string>();
    const { store, chaos } = chaosRecordStore(inner);
    chaos.throwNext(2);
    const first = await outcome(store.set('k', 'one'));
    const second = await outcome(store.set('k', 'two'));
    expect(first.ok || second.ok).toBe(false);
    const error = (first as { error: unknown }).error;
    expect(error).toBeInstanceOf(RecordStoreError);
    expect(error).toMatchObject({ retryable: true, outcome: 'failed', key: 'k' });
    expect(inner.peek('k')).toEqual({ found: false, version: 0 });
    expect(inner.calls.set).toBe(0);
    await store.set('k', 'three');
    expect(inner.peek('k')).toMatchObject({ found: true, value: 'three' });
  });

  it('throws the given error, and throwAlways lasts until reset', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    const boom = new Error('boom');
    chaos.throwAlways(boom);
    for (let i = 0; i < 3; i++) await expect(store.get('k')).rejects.toBe(boom);
    chaos.reset();
    await expect(store.get('k')).resolves.toEqual({ found: false, version: 0 });
  });

  it('on(...) limits a fault to the named methods', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    chaos.on('delete').throwNext(1);
    await store.set('k', 'v');
    await store.get('k');
    await expect(store.delete('k')).rejects.toBeInstanceOf(RecordStoreError);
    await expect(store.delete('k')).resolves.toMatchObject({ deleted: true });
  });

  it('failNth fails only the nth call in scope from now', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    chaos.on('get').failNth(3);
    const results: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      await store.set('k', `v${i}`);
      results.push((await outcome(store.get('k'))).ok);
    }
    expect(results).toEqual([true, true, false, true, true]);
    expect(() => chaos.failNth(0)).toThrow(RangeError);
  });

  it('failAfterEffectNext commits, then throws an unknown-outcome error the wrapper classifies', async () => {
    const inner = memoryRecords<string>();
    const { store, chaos } = chaosRecordStore(inner);
    chaos.failAfterEffectNext(1);
    const result = await outcome(store.set('k', 'committed'));
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error;
    expect(inner.peek('k')).toMatchObject({ found: true, value: 'committed' });
    expect(store.classifyError?.(error)).toEqual({ retryable: true, outcome: 'unknown' });
    chaos.failAfterEffectNext(1);
    const read = await outcome(store.get('k'));
    expect(store.classifyError?.((read as { error: unknown }).error)).toEqual({
      retryable: true,
      outcome: 'failed',
    });
  });

  it('classifyError passes errors that are not RecordStoreErrors to the store', async () => {
    const { store } = chaosRecordStore(memoryRecords<string>());
    await store.set('k', 'one');
    const conflict = await outcome(store.set('k', 'two', { ifVersion: 99 }));
    expect(store.classifyError?.((conflict as { error: unknown }).error)).toEqual({
      retryable: false,
      outcome: 'failed',
    });
    expect(store.classifyError?.(new Error('strange'))).toEqual({ retryable: false, outcome: 'unknown' });
  });

  it('has no classifyError when the store has none', () => {
    const bare = memoryRecords<string>();
    const { store } = chaosRecordStore({
      get: (key) => bare.get(key),
      getMany: (keys) => bare.getMany(keys),
      set: (key, value) => bare.set(key, value),
      setMany: (entries) => bare.setMany(entries),
      delete: (key) => bare.delete(key),
    });
    expect(store.classifyError).toBeUndefined();
    expect(store.close).toBeUndefined();
  });

  it('delay holds each call in scope for the given time', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    chaos.on('get').delay(40);
    const started = performance.now();
    await store.get('k');
    expect(performance.now() - started).toBeGreaterThanOrEqual(38);
    const quick = performance.now();
    await store.set('k', 'v');
    expect(performance.now() - quick).toBeLessThan(38);
    chaos.on('get').delay(0);
    const after = performance.now();
    await store.get('k');
    expect(performance.now() - after).toBeLessThan(38);
    expect(() => chaos.delay(-1)).toThrow(RangeError);
  });

  it('a delayed call rejects with AbortedError when its signal aborts', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    chaos.delay(10_000);
    const controller = new AbortController();
    const pending = store.get('k', { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
  });

  it('hangNext holds calls until release, then runs them', async () => {
    const inner = memoryRecords<string>();
    const { store, chaos } = chaosRecordStore(inner);
    chaos.hangNext(1);
    const done = deferred<number>();
    void store.set('k', 'v').then(({ version }) => done.resolve(version));
    await tick();
    expect(done.settled).toBe(false);
    expect(inner.calls.set).toBe(0);
    expect(chaos.release()).toBe(1);
    expect(await done.promise).toBeGreaterThan(0);
    expect(inner.peek('k')).toMatchObject({ found: true, value: 'v' });
  });

  it('a hung call rejects with AbortedError when its signal aborts, and writes nothing', async () => {
    const inner = memoryRecords<string>();
    const { store, chaos } = chaosRecordStore(inner);
    chaos.hangNext(1);
    const controller = new AbortController();
    const pending = store.set('k', 'v', { signal: controller.signal });
    await tick();
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(chaos.release()).toBe(0);
    expect(inner.peek('k')).toEqual({ found: false, version: 0 });
  });

  it('reset clears every fault and releases hung calls', async () => {
    const { store, chaos } = chaosRecordStore(memoryRecords<string>());
    chaos.hangNext(1);
    const hung = store.get('k');
    chaos.throwNext(5);
    chaos.delay(10_000);
    chaos.reset();
    await expect(hung).resolves.toEqual({ found: false, version: 0 });
    await expect(store.get('k')).resolves.toEqual({ found: false, version: 0 });
  });

  it('refuses counts that are not integers >= 0', () => {
    const { chaos } = chaosRecordStore(memoryRecords<string>());
    expect(() => chaos.throwNext(-1)).toThrow(RangeError);
    expect(() => chaos.hangNext(1.5)).toThrow(RangeError);
    expect(() => chaos.on()).toThrow(TypeError);
  });
});

describe('chaosCacheStore', () => {
  it('forwards every step, with the tier’s capabilities', async () => {
    const inner = memoryStore();
    const { store } = chaosCacheStore(inner);
    expect(store.capabilities).toBe(inner.capabilities);
    const lookup = await store.get('k', LEASE);
    expect(lookup.kind).toBe('lease');
    await store.fill('k', (lookup as { token: string }).token, entry(1), 60_000);
    expect(await store.get('k', LEASE)).toMatchObject({ kind: 'hit', entry: entry(1) });
  });

  it('throws a ChaosError naming the method by default', async () => {
    const { store, chaos } = chaosCacheStore(memoryStore());
    chaos.on('beginWrite').throwNext(1);
    const error = (await outcome(store.beginWrite('k', 'w', 60_000))) as { error: unknown };
    expect(error.error).toBeInstanceOf(ChaosError);
    expect(error.error).toMatchObject({ method: 'beginWrite', name: 'ChaosError' });
  });

  it('failAfterEffectNext on commitWrite installs the entry, then throws', async () => {
    const inner = memoryStore();
    const { store, chaos } = chaosCacheStore(inner);
    await store.beginWrite('k', 'w', 60_000);
    chaos.on('commitWrite').failAfterEffectNext(1);
    await expect(store.commitWrite('k', 'w', entry(3), 60_000)).rejects.toBeInstanceOf(ChaosError);
    expect(inner.inspect('k').entry).toEqual(entry(3));
  });

  it('getSync takes the throwing faults; hang and delay do not apply to it', async () => {
    const inner = memoryStore();
    const { store, chaos } = chaosCacheStore(inner);
    expect(store.getSync).toBeTypeOf('function');
    chaos.on('getSync').throwNext(1);
    expect(() => store.getSync!('k', LEASE)).toThrow(ChaosError);
    chaos.hangNext(1);
    chaos.delay(10_000);
    expect(store.getSync!('k', LEASE).kind).toBe('lease');
    chaos.reset();
    const { store: noSync } = chaosCacheStore({ ...tierWithoutSync(inner) });
    expect(noSync.getSync).toBeUndefined();
  });

  it('pauseAt holds the next call before its effect until the gate opens', async () => {
    const inner = memoryStore();
    const { store, chaos } = chaosCacheStore(inner);
    await store.beginWrite('k', 'w', 60_000);
    const paused = chaos.pauseAt('commitWrite');
    const committing = store.commitWrite('k', 'w', entry(2), 60_000);
    await paused.reached;
    expect(inner.inspect('k').inflight).toEqual(['w']);
    // The interleaving the pause allows: a reader sees WRITING while the commit is held.
    expect(await store.get('k', LEASE)).toEqual({ kind: 'writing' });
    paused.open();
    expect(await committing).toBe(true);
    expect(inner.inspect('k').entry).toEqual(entry(2));
  });

  it('pauseAt with after: true holds the answer after the effect', async () => {
    const inner = memoryStore();
    const { store, chaos } = chaosCacheStore(inner);
    const paused = chaos.pauseAt('get', { after: true });
    const getting = store.get('k', LEASE);
    await paused.reached;
    expect(inner.inspect('k').lease).toBeTypeOf('string');
    paused.open();
    expect((await getting).kind).toBe('lease');
  });

  it('successive pauses hold successive calls; later calls pass', async () => {
    const { store, chaos } = chaosCacheStore(memoryStore());
    const first = chaos.pauseAt('invalidate');
    const second = chaos.pauseAt('invalidate');
    const a = store.invalidate('a');
    const b = store.invalidate('b');
    await Promise.all([first.reached, second.reached]);
    await store.invalidate('c');
    expect([first.waiting, second.waiting]).toEqual([1, 1]);
    second.open();
    await b;
    first.open();
    await a;
    expect(chaos.calls.map((call) => call.args[0])).toEqual(['a', 'b', 'c']);
  });

  it('reset opens pending pauses', async () => {
    const { store, chaos } = chaosCacheStore(memoryStore());
    const paused = chaos.pauseAt('clear');
    const clearing = store.clear();
    await paused.reached;
    chaos.reset();
    await expect(clearing).resolves.toBeUndefined();
  });
});

function tierWithoutSync(inner: ReturnType<typeof memoryStore>) {
  return {
    capabilities: { ...inner.capabilities, sync: false },
    get: inner.get.bind(inner),
    getMany: inner.getMany.bind(inner),
    fill: inner.fill.bind(inner),
    beginWrite: inner.beginWrite.bind(inner),
    commitWrite: inner.commitWrite.bind(inner),
    abortWrite: inner.abortWrite.bind(inner),
    invalidate: inner.invalidate.bind(inner),
    clear: inner.clear.bind(inner),
    close: inner.close.bind(inner),
  };
}

describe('chaosBus', () => {
  function setUp() {
    const hub = memoryBus();
    const a = hub.connect('a');
    const { bus, chaos } = chaosBus(hub.connect('b'));
    const messages: InvalidationMessage[] = [];
    const states: BusState[] = [];
    const unsubscribe = bus.subscribe(
      (m) => messages.push(m),
      (s) => states.push(s),
    );
    const send = (version: number) => a.publish({ cache: 'c', key: 'k', version, origin: 'a' });
    return {
      a,
      bus,
      chaos,
      messages,
      states,
      unsubscribe,
      send,
      versions: () => messages.map((m) => m.version),
    };
  }

  it('passes messages through unchanged', async () => {
    const { send, messages, chaos } = setUp();
    await send(1);
    await waitFor(() => messages.length === 1);
    expect(messages).toEqual([{ cache: 'c', key: 'k', version: 1, origin: 'a' }]);
    expect(chaos.delivered).toBe(1);
  });

  it('dropNext loses the next n messages silently; dropAll loses every one while on', async () => {
    const { send, versions, chaos, states, bus } = setUp();
    chaos.dropNext(2);
    for (let v = 1; v <= 4; v++) await send(v);
    await tick();
    expect(versions()).toEqual([3, 4]);
    chaos.dropAll();
    await send(5);
    chaos.dropAll(false);
    await send(6);
    await tick();
    expect(versions()).toEqual([3, 4, 6]);
    expect(chaos.dropped).toBe(3);
    expect(states).toEqual([]);
    expect(bus.connected).toBe(true);
  });

  it('delay holds incoming messages and keeps their order when the delay changes', async () => {
    const { send, versions, chaos } = setUp();
    chaos.delay(40);
    await send(1);
    chaos.delay(0);
    await send(2);
    await tick();
    expect(versions()).toEqual([]);
    await waitFor(() => versions().length === 2);
    expect(versions()).toEqual([1, 2]);
  });

  it('disconnect reports the loss and loses messages, also delayed ones; reconnect resumes', async () => {
    const { send, versions, chaos, states, bus } = setUp();
    chaos.delay(20);
    await send(1);
    chaos.disconnect();
    chaos.disconnect();
    expect(bus.connected).toBe(false);
    expect(states).toEqual(['disconnected']);
    await send(2);
    await sleep(40);
    chaos.delay(0);
    chaos.reconnect();
    expect(states).toEqual(['disconnected', 'connected']);
    await send(3);
    await waitFor(() => versions().length === 1);
    expect(versions()).toEqual([3]);
    expect(chaos.dropped).toBe(2);
  });

  it('follows the wrapped bus’s own state changes while not forced down', async () => {
    const hub = memoryBus();
    const inner = hub.connect();
    const { bus, chaos } = chaosBus(inner);
    const states: BusState[] = [];
    bus.subscribe(
      () => undefined,
      (s) => states.push(s),
    );
    inner.disconnect();
    expect(bus.connected).toBe(false);
    inner.reconnect();
    chaos.disconnect();
    inner.disconnect();
    inner.reconnect();
    chaos.reconnect();
    expect(states).toEqual(['disconnected', 'connected', 'disconnected', 'connected']);
  });

  it('publish faults: throwOnPublishNext rejects and sends nothing, dropPublishNext resolves and sends nothing', async () => {
    const hub = memoryBus();
    const { bus, chaos } = chaosBus(hub.connect());
    const other = hub.connect();
    const received: number[] = [];
    other.subscribe((m) => received.push(m.version));
    const message = (version: number) => ({ cache: 'c', key: 'k', version, origin: 'x' });
    chaos.throwOnPublishNext(1);
    await expect(bus.publish(message(1))).rejects.toBeInstanceOf(ChaosError);
    chaos.dropPublishNext(1);
    await bus.publish(message(2));
    await bus.publish(message(3));
    await tick();
    expect(received).toEqual([3]);
  });

  it('unsubscribing the last handler leaves the wrapped bus; reset clears faults', async () => {
    const { send, versions, chaos, unsubscribe, bus } = setUp();
    unsubscribe();
    await send(1);
    await tick();
    expect(versions()).toEqual([]);
    chaos.dropAll();
    chaos.disconnect();
    chaos.reset();
    expect(bus.connected).toBe(true);
    const again: number[] = [];
    bus.subscribe((m) => again.push(m.version));
    await send(2);
    await tick();
    expect(again).toEqual([2]);
  });
});

describe('deferred, gate, waitFor', () => {
  it('deferred settles once and reports it', async () => {
    const d = deferred<number>();
    expect(d.settled).toBe(false);
    d.resolve(1);
    d.resolve(2);
    d.reject(new Error('late'));
    expect(d.settled).toBe(true);
    expect(await d.promise).toBe(1);
    const r = deferred();
    r.reject(new Error('no'));
    await expect(r.promise).rejects.toThrow('no');
  });

  it('a gate holds waiters until open, announces them through reached, and closes again', async () => {
    const g = gate();
    let passed = 0;
    const first = g.wait().then(() => passed++);
    const second = g.wait().then(() => passed++);
    await g.reached;
    expect(g.waiting).toBe(2);
    await tick();
    expect(passed).toBe(0);
    expect(g.open()).toBe(2);
    await Promise.all([first, second]);
    expect(passed).toBe(2);
    const third = deferred();
    void g.wait().then(() => third.resolve());
    await g.reached;
    await tick();
    expect(third.settled).toBe(false);
    g.open();
    await third.promise;
  });

  it('reached is a fresh promise after open, and disable lets everything through', async () => {
    const g = gate();
    const waiting = g.wait();
    await g.reached;
    g.open();
    await waiting;
    const next = deferred();
    void g.reached.then(() => next.resolve());
    await tick();
    expect(next.settled).toBe(false);
    const held = g.wait();
    g.disable();
    await held;
    await g.wait();
    expect(next.settled).toBe(true);
  });

  it('a gate wait rejects when its signal aborts', async () => {
    const g = gate();
    const controller = new AbortController();
    const waiting = g.wait(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(g.waiting).toBe(0);
  });

  it('waitFor resolves when the condition holds and fails clearly when it never does', async () => {
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 1 });
    expect(n).toBe(3);
    await expect(waitFor(async () => false, { timeoutMs: 20, what: 'the impossible' })).rejects.toThrow(
      'the impossible did not hold within 20 ms',
    );
  });
});

describe('random keys', () => {
  it('randomKey is unique and prefixed', () => {
    const keys = new Set(Array.from({ length: 100 }, () => randomKey('p')));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key.startsWith('p:')).toBe(true);
  });

  it('hostileKeys are distinct, unique per call, NUL-free, well-formed, and one is 1000 characters', () => {
    const first = hostileKeys();
    const second = hostileKeys();
    const keys = first.map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.some((key) => second.some((other) => other.key === key))).toBe(false);
    for (const key of keys) {
      expect(key.includes('\u0000')).toBe(false);
      expect(() => encodeURIComponent(key), 'no lone surrogate').not.toThrow();
    }
    expect(keys.some((key) => key.length === LONG_KEY_LENGTH)).toBe(true);
    expect(keys.some((key) => key.includes('\n'))).toBe(true);
    expect(keys.some((key) => key.includes('{'))).toBe(true);
  });
});
