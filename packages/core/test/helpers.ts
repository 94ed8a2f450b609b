/** Test helpers shared by the engine's tests. */
import { type CacheOptions, type CacheStore, createCache, memoryRecords, memoryStore } from '../src/index.js';

/**
 * A remote-looking tier that can be taken down: no synchronous steps, and every call rejects while
 * `state.down` is set (fault injection a real store cannot give). `inner` is the memoryStore behind it.
 */
export function flakyTier(inner = memoryStore()) {
  const state = { down: false, calls: 0 };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'capabilities') return { ...target.capabilities, sync: false };
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'inspect' || prop === 'getSync') return value;
      return (...args: unknown[]) => {
        state.calls++;
        if (state.down) return Promise.reject(new Error('ECONNREFUSED (tier down)'));
        return value.apply(target, args);
      };
    },
  }) as CacheStore<unknown> & { inspect: typeof inner.inspect };
  return { store, inner, state };
}

/** A one-shot gate: `open()` releases every `await g.opened`. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

export const tick = () => new Promise((r) => setTimeout(r, 0));

/** How `readAfterRemoteWrite` reads the key the second time. */
export type ReadCall = 'get' | 'getEntry' | 'getMany' | 'getManyEntries';

/**
 * Instance A starts a load of `k` and holds it after its database read (version 1); instance B
 * (sharing A's L2, if any) writes version 2 and is acknowledged; then A reads `k` again with
 * `read`. Nothing tells A of B's write (no bus), so only the rule "join a load only if it began
 * after you" keeps that read from returning the held load's version 1. `extra` configures A.
 */
export async function readAfterRemoteWrite(read: ReadCall, extra: Partial<CacheOptions<string>>) {
  const records = memoryRecords<string>();
  const paused = gate();
  const reached = gate();
  let pause = true;
  const a = createCache<string>({
    records,
    l1: false,
    ...extra,
    debug: {
      ...extra.debug,
      hooks: {
        afterRecordRead: async () => {
          if (!pause) return;
          pause = false;
          reached.open();
          await paused.opened;
        },
      },
    },
  });
  const b = createCache<string>({ records, l1: false, ...(extra.l2 ? { l2: extra.l2 } : {}) });
  await records.set('k', 'v1'); // not cached: A's first read loads it
  const first = a.get('k');
  await reached.opened;
  const { version } = await b.set('k', 'v2');
  const second = (async () => {
    switch (read) {
      case 'get':
        return a.get('k');
      case 'getEntry':
        return (await a.getEntry('k'))?.value;
      case 'getMany':
        return (await a.getMany(['k'])).get('k');
      case 'getManyEntries':
        return (await a.getManyEntries(['k'])).get('k')?.value;
    }
  })();
  await tick();
  paused.open();
  return { first: await first, second: await second, written: version, stats: a.stats() };
}
