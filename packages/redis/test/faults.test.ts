/**
 * Redis goes away, freezes, comes back empty or from an old snapshot, drops the bus's connection,
 * or evicts under a tiny maxmemory — on a redis-server this file starts for itself (never the
 * shared one). Each test runs writers and readers on two engine instances through the fault and
 * makes the checks of `Workload.expectHealthy`: no hang, every write acknowledged, and after
 * recovery no read older than an acknowledged write.
 */
import { type RedisServer, sleep, startRedisServer, waitFor } from '@writethrough/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CALL_BOUND_MS, type Cluster, instances, Workload } from './fault-harness.js';

const KEYS = Array.from({ length: 8 }, (_, i) => `user:${i}`);

let server: RedisServer;
let cluster: Cluster | undefined;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  if (!server.running) await server.restart();
  server.resume();
  await server.command('FLUSHALL');
});

describe('redisStore and redisBus through faults (a test-owned redis-server)', () => {
  it('redis-server killed mid-workload, then restarted empty: reads fall back, writes commit, nothing stale after', async () => {
    cluster = await instances(server, 2);
    const work = new Workload(cluster, KEYS);
    await work.warm();
    work.start({ strict: () => false });
    await sleep(200);
    work.phase = 'down';
    await server.kill();
    await sleep(700);
    await server.restart();
    work.phase = 'restarted';
    await sleep(300);
    await work.stop();
    await work.verifyRecovered();
    work.expectHealthy();
    expect(work.observed.writesIn.down, 'writes acknowledged while Redis was down').toBeGreaterThan(0);
    expect(
      cluster.instances.reduce((n, i) => n + i.cache.stats().l2.errors, 0),
      'L2 failures seen',
    ).toBeGreaterThan(0);
  });

  it('redis-server frozen (SIGSTOP) mid-workload: every call gives up within the bound; after SIGCONT nothing stale', async () => {
    cluster = await instances(server, 2);
    const work = new Workload(cluster, KEYS);
    await work.warm();
    work.start({ strict: () => false });
    await sleep(200);
    work.phase = 'frozen';
    server.pause();
    await sleep(900);
    server.resume();
    work.phase = 'thawed';
    await sleep(300);
    await work.stop();
    await work.verifyRecovered();
    work.expectHealthy();
    expect(work.observed.writesIn.frozen, 'writes acknowledged while Redis was frozen').toBeGreaterThan(0);
    expect(
      cluster.instances.reduce((n, i) => n + i.cache.stats().l2.errors, 0),
      'L2 calls given up',
    ).toBeGreaterThan(0);
  });

  it('the hang check fails when the timeout is longer than the freeze: calls wait for Redis', async () => {
    cluster = await instances(server, 1, { timeoutMs: 30_000 });
    const work = new Workload(cluster, KEYS);
    await work.warm();
    work.start({ writers: 1, readers: 1, strict: () => false });
    await sleep(100);
    server.pause();
    await sleep(CALL_BOUND_MS + 500);
    server.resume();
    await work.stop();
    expect(work.observed.slowCalls.length, 'calls slower than the bound').toBeGreaterThan(0);
  });

  /** Restarts the server from a snapshot older than acknowledged writes; returns the reads' verdicts. */
  async function restartFromOldSnapshot(detectRestarts: boolean): Promise<Workload> {
    cluster = await instances(server, 2, { detectRestarts });
    const work = new Workload(cluster, KEYS);
    await work.warm();
    const snapshot = await server.snapshot();
    // Newer writes, acknowledged and installed in L2 after the snapshot was taken.
    for (const key of KEYS) await work.write(cluster.instances[1]!, key);
    for (const instance of cluster.instances) for (const key of KEYS) await work.read(instance, key, true);
    const hitsBefore = cluster.instances.map((i) => i.cache.stats().l2.hits);
    await server.restart({ snapshot });
    // Every value of the snapshot is now back in Redis, older than what was acknowledged.
    expect(await server.command('DBSIZE')).toBeGreaterThan(0);
    work.phase = 'after';
    await waitFor(
      async () => {
        for (const instance of cluster!.instances)
          for (const key of KEYS) await work.read(instance, key, true);
        return cluster!.instances.every((i, n) => i.cache.stats().l2.hits > hitsBefore[n]!);
      },
      { timeoutMs: 10_000, what: 'L2 hits again after the restart' },
    );
    return work;
  }

  it('redis-server restarted from an old snapshot: the stale values it brings back are never served (R4)', async () => {
    const work = await restartFromOldSnapshot(true);
    expect(work.observed.staleReads).toEqual([]);
    expect(cluster!.instances.map((i) => i.restarts())).toEqual([1, 1]);
    await work.verifyRecovered();
    work.expectHealthy();
  });

  it('the R4 check fails without restart detection: the snapshot’s old values are served', async () => {
    const work = await restartFromOldSnapshot(false);
    expect(work.observed.staleReads.length, 'stale reads without restart detection').toBeGreaterThan(0);
  });

  it('a restart nobody saw: stores created after Redis came back from an old snapshot still never serve it', async () => {
    cluster = await instances(server, 2);
    const { records, namespace } = cluster;
    const work = new Workload(cluster, KEYS);
    await work.warm();
    const snapshot = await server.snapshot();
    for (const key of KEYS) await work.write(cluster.instances[0]!, key);
    // Every instance goes away, then Redis comes back from the snapshot with the older values.
    await cluster.close();
    await server.restart({ snapshot });
    expect(await server.command('DBSIZE')).toBeGreaterThan(0);
    cluster = await instances(server, 2, { records, namespace });
    const fresh = new Workload(cluster, KEYS);
    for (const [key, log] of work.acks) fresh.acks.set(key, log);
    fresh.phase = 'after';
    for (const instance of cluster.instances) for (const key of KEYS) await fresh.read(instance, key, true);
    expect(fresh.observed.staleReads).toEqual([]);
    expect(
      cluster.instances.reduce((n, i) => n + i.restarts(), 0),
      'restarts seen in the marker',
    ).toBeGreaterThan(0);
    await fresh.verifyRecovered(300);
    fresh.expectHealthy();
  });

  it('tiny maxmemory with allkeys-lru: evictions never make a read stale', async () => {
    await server.command('CONFIG', 'SET', 'maxmemory', '2mb');
    await server.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      cluster = await instances(server, 2);
      const keys = Array.from({ length: 400 }, (_, i) => `doc:${i}`);
      const work = new Workload(cluster, keys, { pad: 'x'.repeat(8_000) });
      work.phase = 'after';
      await work.warm();
      work.start({ writers: 2, readers: 3, strict: () => true });
      await sleep(1_500);
      await work.stop();
      await work.verifyRecovered(300);
      work.expectHealthy();
      expect(work.observed.staleReads).toEqual([]);
      const info = String(await server.command('INFO', 'stats'));
      const evicted = Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0);
      expect(evicted, 'Redis evicted keys').toBeGreaterThan(0);
    } finally {
      await server.command('CONFIG', 'SET', 'maxmemory', '0');
    }
  });

  it('the bus connection killed (CLIENT KILL TYPE pubsub): L1 is bypassed meanwhile and cleared after, never stale', async () => {
    cluster = await instances(server, 2, { l1: true });
    const [a, b] = cluster.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    // Another instance's write reaches L1 when the bus delivers it (bounded by bus delivery).
    const work = new Workload(cluster, KEYS, { busLagMs: 250 });
    await work.warm();
    // b holds every key in L1.
    for (const key of KEYS) await work.read(b, key, true);
    const before = b.cache.stats().busDisconnects;
    const killed = await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(killed).toBeGreaterThan(0);
    // Writes on a while b's subscription may be down: b must not keep serving its L1 copies.
    for (const key of KEYS) await work.write(a, key);
    await waitFor(() => b.cache.stats().busDisconnects > before, {
      timeoutMs: 5_000,
      what: 'b to notice the lost bus',
    });
    work.phase = 'after';
    for (const key of KEYS) await work.read(b, key, true);
    await waitFor(
      async () => {
        await a.cache.set(KEYS[0]!, { n: -1, by: 'probe' });
        await sleep(20);
        return b.cache.stats().busMessages > 0;
      },
      { timeoutMs: 10_000, what: 'bus messages flowing again' },
    );
    await work.verifyRecovered();
    work.expectHealthy();
  });
});
