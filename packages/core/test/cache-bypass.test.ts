import { describe, expect, it } from 'vitest';
import {
  type CacheStore,
  createCache,
  type EngineGuard,
  memoryBus,
  memoryRecords,
  memoryStore,
} from '../src/index.js';

function gate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const arrived = new Promise<void>((r) => {
    reached = r;
  });
  return {
    open,
    arrived,
    wait: async () => {
      reached();
      await opened;
    },
  };
}

/**
 * The counterexample of model/l1-tiered.pml (run tiered-impl): instance A reads with L1 bypassed
 * (bus down); the bus comes back and A's own write W0 begins on L1; B's write W1 commits after W0;
 * A's read returns W1's version from the database; then W0 installs its older version in A's L1.
 * Without the bypassed read's report to L1, A's next read goes backwards.
 */
async function run(guardsOff: EngineGuard[]): Promise<{ first: number; second: number }> {
  const records = memoryRecords<string>();
  const l2 = memoryStore();
  const hub = memoryBus();
  const busA = hub.connect('a');
  const busB = hub.connect('b');
  const l2Gate = gate();
  let gateNextGet = false;
  const gatedL2 = new Proxy(l2, {
    get(target, prop, receiver) {
      if (prop === 'capabilities') return { ...target.capabilities, sync: false };
      if (prop === 'get') {
        return async (key: string, options: { leaseTtlMs: number }) => {
          if (gateNextGet) {
            gateNextGet = false;
            await l2Gate.wait();
          }
          return target.get(key, options);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CacheStore<unknown>;
  const aCommitted = gate();
  const bBegun = gate();
  const bCommitted = gate();
  const a = createCache<string>({
    name: 'c',
    records,
    l2: gatedL2,
    l1: memoryStore(),
    bus: busA,
    instanceId: 'a',
    retry: false,
    debug: { unsafeDisable: guardsOff, hooks: { afterCommit: () => aCommitted.wait() } },
  });
  const b = createCache<string>({
    name: 'c',
    records,
    l2,
    l1: memoryStore(),
    bus: busB,
    instanceId: 'b',
    retry: false,
    debug: { hooks: { afterBegin: () => bBegun.wait(), afterCommit: () => bCommitted.wait() } },
  });
  busA.disconnect();
  const w1 = b.set('k', 'from B');
  await bBegun.arrived;
  gateNextGet = true;
  const read = a.getEntry('k');
  await l2Gate.arrived;
  busA.reconnect();
  const w0 = a.set('k', 'from A');
  await aCommitted.arrived;
  bBegun.open();
  await bCommitted.arrived;
  l2Gate.open();
  const first = (await read)!.version;
  aCommitted.open();
  await w0;
  const second = (await a.getEntry('k'))!.version;
  bCommitted.open();
  await w1;
  return { first, second };
}

describe('a read that bypassed L1 while the bus was down', () => {
  it('reports its version to L1, so a later read on the instance never goes backwards', async () => {
    const { first, second } = await run([]);
    expect(first).toBe(2);
    expect(second).toBeGreaterThanOrEqual(first);
  });

  it('without the report (guard bypass-report off) the model checker’s counterexample happens', async () => {
    const { first, second } = await run(['bypass-report']);
    expect(first).toBe(2);
    expect(second).toBe(1);
  });
});

/**
 * model/l1-tiered.pml run tiered-impl-wait-bypass: a read answered WAIT by L1 sleeps and looks
 * again; if the bus went down meanwhile (L1 cleared and bypassed), the retry must not take a lease in
 * the bypassed L1 and fill it (nothing would invalidate that entry while the bus is down).
 */
async function waitThenBusLoss(guardsOff: EngineGuard[]): Promise<boolean> {
  const records = memoryRecords<string>();
  await records.set('k', 'v');
  const inner = memoryStore();
  let answerWait = true;
  const l1 = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'capabilities') return { ...target.capabilities, sync: false };
      if (prop === 'get') {
        return async (key: string, options: { leaseTtlMs: number }) => {
          if (answerWait) {
            answerWait = false;
            return { kind: 'wait' };
          }
          return target.get(key, options);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as CacheStore<unknown>;
  const hub = memoryBus();
  const bus = hub.connect('a');
  const cache = createCache<string>({
    records,
    l1,
    bus,
    leaseWait: { attempts: 2, delayMs: 20 },
    debug: { unsafeDisable: guardsOff },
  });
  const read = cache.get('k');
  await new Promise((r) => setTimeout(r, 5));
  bus.disconnect();
  expect(await read).toBe('v');
  return inner.inspect('k').entry !== undefined;
}

describe('a read waiting for an L1 lease when the bus goes down', () => {
  it('does not fill the bypassed L1', async () => {
    expect(await waitThenBusLoss([])).toBe(false);
  });

  it('without the re-check (guard wait-bypass off) it fills the cleared L1 while the bus is down', async () => {
    expect(await waitThenBusLoss(['wait-bypass'])).toBe(true);
  });
});
