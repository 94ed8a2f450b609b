/** Test helpers shared by the engine's tests. */
import { type CacheStore, memoryStore } from '../src/index.js';

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
