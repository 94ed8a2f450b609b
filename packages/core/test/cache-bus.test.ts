import { describe, expect, it } from 'vitest';
import { createCache, memoryBus, memoryRecords, memoryStore } from '../src/index.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

function twoInstances(options: { l1TtlMs?: number; retry?: false } = {}) {
  const records = memoryRecords<string>();
  const l2 = memoryStore();
  const hub = memoryBus();
  const busA = hub.connect('a');
  const busB = hub.connect('b');
  const l1A = memoryStore();
  const l1B = memoryStore();
  const a = createCache({ name: 'users', records, l2, l1: l1A, bus: busA, instanceId: 'a', ...options });
  const b = createCache({ name: 'users', records, l2, l1: l1B, bus: busB, instanceId: 'b', ...options });
  return { records, l2, hub, busA, busB, l1A, l1B, a, b };
}

describe('two instances: L2 shared, L1 kept coherent by the bus', () => {
  it("a write on A is visible on B at once through L2, and B's L1 copy is invalidated by the bus", async () => {
    const { a, b, l1B } = twoInstances();
    await a.set('u', 'v1');
    expect(await b.get('u')).toBe('v1');
    expect(l1B.inspect('u').entry).toBeDefined();
    const { version } = await a.set('u', 'v2');
    await tick();
    expect(l1B.inspect('u').entry).toBeUndefined();
    expect(l1B.inspect('u').floor).toBe(version);
    expect(await b.get('u')).toBe('v2');
    // Each write announces itself when it begins and when it commits.
    expect(b.stats().busMessages).toBe(4);
  });

  it('an instance ignores its own messages and those of other caches', async () => {
    const { a, busA, l1A } = twoInstances();
    await a.set('u', 'v1');
    await a.get('u');
    await busA.publish({ cache: 'other', key: 'u', version: 99, origin: 'x' });
    await tick();
    expect(l1A.inspect('u').entry).toBeDefined();
    expect(a.stats().busMessages).toBe(0);
  });

  it('a lost subscription clears L1 and bypasses it; after reconnect L1 is used again', async () => {
    const { a, b, busB, l1B } = twoInstances();
    await a.set('u', 'v1');
    expect(await b.get('u')).toBe('v1');
    busB.disconnect();
    expect(b.l1Enabled).toBe(false);
    expect(l1B.size).toBe(0);
    await a.set('u', 'v2');
    await tick();
    expect(await b.get('u')).toBe('v2');
    expect(l1B.size).toBe(0);
    expect(b.stats().busDisconnects).toBe(1);
    busB.reconnect();
    expect(b.l1Enabled).toBe(true);
    expect(await b.get('u')).toBe('v2');
    expect(await b.get('u')).toBe('v2');
    expect(b.stats().l1.hits).toBe(1);
  });

  it('a message lost unnoticed leaves B stale only until its L1 TTL', async () => {
    const { a, b, busB } = twoInstances({ l1TtlMs: 40 });
    await a.set('u', 'v1');
    expect(await b.get('u')).toBe('v1');
    busB.dropNext(2);
    await a.set('u', 'v2');
    await tick();
    expect(await b.get('u')).toBe('v1');
    await new Promise((r) => setTimeout(r, 60));
    expect(await b.get('u')).toBe('v2');
  });

  it("a write drops the other instances' L1 copies when it begins, before its commit", async () => {
    const { a, b, l1B, records } = twoInstances();
    await a.set('u', 'v1');
    expect(await b.get('u')).toBe('v1');
    let release!: () => void;
    const parked = new Promise<void>((r) => {
      release = r;
    });
    records.setFaults({ latencyMs: 0 });
    const original = records.set.bind(records);
    records.set = async (...args: Parameters<typeof original>) => {
      await parked;
      return original(...args);
    };
    const writing = a.set('u', 'v2');
    await tick();
    expect(l1B.inspect('u').entry).toBeUndefined();
    // L2 holds the writer's mark: B reads the database and keeps nothing in L1 meanwhile.
    expect(await b.get('u')).toBe('v1');
    expect(l1B.inspect('u').entry).toBeUndefined();
    release();
    await writing;
    await tick();
    expect(await b.get('u')).toBe('v2');
  });

  it('an unknown outcome on A drops the key from B too', async () => {
    const { a, b, records, l1B } = twoInstances({ retry: false });
    await a.set('u', 'v1');
    expect(await b.get('u')).toBe('v1');
    records.failAfterCommitNext(1);
    await expect(a.set('u', 'v2')).rejects.toMatchObject({ code: 'WT_WRITE_OUTCOME_UNKNOWN' });
    await tick();
    expect(l1B.inspect('u').entry).toBeUndefined();
    expect(await b.get('u')).toBe('v2');
  });
});
