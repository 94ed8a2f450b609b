/**
 * `postgresBus` on a Postgres server: the conformance suite, a forged sequence gap, the listening
 * backend terminated (disconnected at once, connected again after LISTEN, messages flow), a silent
 * publisher, two engines kept coherent, and close().
 */

import { randomUUID } from 'node:crypto';
import { createCache, type InvalidationMessage, memoryRecords, memoryStore } from '@writethrough/core';
import { describeBus, waitFor } from '@writethrough/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresBus, type PostgresBusOptions, postgresBus } from '../src/index.ts';
import { newPool, serverConfig, serverSchema } from './helpers.ts';

const channel = (): string => `wt_test_${randomUUID().slice(0, 18)}`;
const appName = (): string => `wt-bus-${randomUUID().slice(0, 8)}`;

const opened: PostgresBus[] = [];
let admin: pg.Pool;

beforeAll(() => {
  admin = newPool(2);
});
afterAll(async () => {
  await admin.end();
});
afterEach(async () => {
  for (const bus of opened.splice(0)) await bus.close();
});

function factory(applicationName: string) {
  return () => {
    const client = new pg.Client({ ...serverConfig(), application_name: applicationName });
    return client;
  };
}

/** A bus on the test server, closed after the test. */
function bus(options: Partial<PostgresBusOptions> & { channel: string; app?: string }): PostgresBus {
  const { app, ...rest } = options;
  const created = postgresBus({ connect: factory(app ?? appName()), reconnectDelayMs: 20, ...rest });
  opened.push(created);
  return created;
}

async function backends(applicationName: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return rows.map((row) => row.pid);
}

describeBus(
  'postgresBus on a Postgres server (listening on a pg.Client, publishing on it)',
  () => {
    const name = channel();
    return {
      a: postgresBus({ connect: factory(appName()), channel: name, heartbeatMs: 100 }),
      b: postgresBus({ connect: factory(appName()), channel: name, heartbeatMs: 100 }),
    };
  },
  { timeoutMs: 5_000 },
);

describeBus(
  'postgresBus on a Postgres server (publishing on a pg.Pool)',
  () => {
    const name = channel();
    const pool = newPool(4);
    return {
      a: postgresBus({ connect: factory(appName()), publisher: pool, channel: name, heartbeatMs: 100 }),
      b: postgresBus({ connect: factory(appName()), publisher: pool, channel: name, heartbeatMs: 100 }),
      cleanup: () => pool.end(),
    };
  },
  { timeoutMs: 5_000 },
);

describe('postgresBus on a Postgres server', () => {
  it('refuses bad options', () => {
    expect(() => postgresBus({} as PostgresBusOptions)).toThrow(/exactly one of connect/);
    expect(() => postgresBus({ connect: factory('x'), channel: 'a"b' })).toThrow(/channel/);
    expect(() => postgresBus({ connect: factory('x'), channel: 'x'.repeat(64) })).toThrow(/63 bytes/);
    expect(() => postgresBus({ connect: factory('x'), heartbeatMs: -1 })).toThrow(/heartbeatMs/);
    expect(() => postgresBus({ client: new pg.Client() as never })).toThrow(/PGlite/);
  });

  it('a forged gap in a publisher’s sequence: disconnected then connected, and messages still flow', async () => {
    const name = channel();
    const b = bus({ channel: name, heartbeatMs: 0 });
    const states: string[] = [];
    const received: InvalidationMessage[] = [];
    b.subscribe(
      (m) => received.push(m),
      (s) => states.push(s),
    );
    await waitFor(() => b.connected, { timeoutMs: 5_000, what: 'b connected' });
    const notify = (payload: string) => admin.query('SELECT pg_notify($1, $2)', [name, payload]);
    await notify('wt1mforged.1.5.1.1.cok1');
    await notify('wt1mforged.2.6.1.1.cok2');
    await notify('wt1mforged.5.7.1.1.cok3'); // 3 and 4 lost
    await notify('garbage');
    await waitFor(() => received.length >= 3 && b.stats.ignored >= 1, {
      timeoutMs: 5_000,
      what: 'b to receive 3',
    });
    expect(received.map((m) => [m.key, m.version])).toEqual([
      ['k1', 5],
      ['k2', 6],
      ['k3', 7],
    ]);
    expect(states).toEqual(['connected', 'disconnected', 'connected']);
    expect(b.stats.gaps).toBe(1);
    expect(b.connected).toBe(true);
  });

  it('the listening backend terminated: disconnected at once, connected again after LISTEN, messages flow again', async () => {
    const name = channel();
    const app = appName();
    const a = bus({ channel: name, heartbeatMs: 0 });
    const b = bus({ channel: name, app, heartbeatMs: 0 });
    const states: string[] = [];
    const received: InvalidationMessage[] = [];
    b.subscribe(
      (m) => received.push(m),
      (s) => states.push(s),
    );
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    const [pid] = await backends(app);
    expect(pid).toBeTypeOf('number');
    const { rows } = await admin.query<{ query: string }>(
      'SELECT query FROM pg_stat_activity WHERE pid = $1',
      [pid],
    );
    expect(rows[0]?.query).toMatch(/^LISTEN/);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(() => states.includes('disconnected'), { timeoutMs: 5_000, what: 'b disconnected' });
    expect(b.connected).toBe(false);
    await waitFor(() => b.connected, { timeoutMs: 10_000, what: 'b connected again' });
    expect(states).toEqual(['connected', 'disconnected', 'connected']);
    const [newPid] = await backends(app);
    expect(newPid).not.toBe(pid);
    await a.publish({ cache: 'c', key: 'after', version: 9, origin: 'a' });
    await waitFor(() => received.length >= 1, { timeoutMs: 5_000, what: 'b to receive after reconnect' });
    expect(received).toEqual([{ cache: 'c', key: 'after', version: 9, origin: 'a' }]);
  });

  it('publishing on the listening connection waits for it (bounded) while it is down; a pool keeps publishing', async () => {
    const name = channel();
    const app = appName();
    const a = bus({
      channel: name,
      app,
      heartbeatMs: 0,
      timeoutMs: 200,
      reconnectDelayMs: 60_000,
      maxReconnectDelayMs: 60_000,
    });
    await waitFor(() => a.connected, { timeoutMs: 5_000, what: 'a connected' });
    const [pid] = await backends(app);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(() => !a.connected, { timeoutMs: 5_000, what: 'a disconnected' });
    const started = performance.now();
    await expect(a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' })).rejects.toThrow(
      /did not come back within 200 ms/,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    const viaPool = bus({ channel: name, publisher: admin, heartbeatMs: 0 });
    await viaPool.publish({ cache: 'c', key: 'k', version: 1, origin: 'p' });
  });

  it('a publish made before the listening connection is up waits for it and is delivered', async () => {
    const name = channel();
    const b = bus({ channel: name, heartbeatMs: 0 });
    const received: InvalidationMessage[] = [];
    b.subscribe((m) => received.push(m));
    await waitFor(() => b.connected, { timeoutMs: 5_000, what: 'b connected' });
    const a = bus({ channel: name, heartbeatMs: 0 });
    expect(a.connected).toBe(false);
    await a.publish({ cache: 'c', key: 'early', version: 1, origin: 'a' });
    await waitFor(() => received.length >= 1, { timeoutMs: 5_000, what: 'b to receive' });
    expect(received[0]?.key).toBe('early');
  });

  it('its own heartbeats lost (a publisher that sends nothing): disconnected, a new connection, connected', async () => {
    const name = channel();
    const app = appName();
    const blackHole = { query: async () => ({ rows: [] }) };
    const b = bus({ channel: name, app, heartbeatMs: 50, publisher: blackHole });
    const states: string[] = [];
    b.subscribe(
      () => {},
      (s) => states.push(s),
    );
    await waitFor(() => b.connected, { timeoutMs: 5_000, what: 'b connected' });
    const [pid] = await backends(app);
    await waitFor(() => b.stats.heartbeatLosses >= 1, { timeoutMs: 5_000, what: 'a heartbeat loss' });
    await waitFor(() => states.length >= 3, { timeoutMs: 5_000, what: 'b connected again' });
    expect(states.slice(0, 3)).toEqual(['connected', 'disconnected', 'connected']);
    await waitFor(async () => !(await backends(app)).includes(pid as number), {
      timeoutMs: 5_000,
      what: 'the old backend to be gone',
    });
  });

  it('a publisher silent without a goodbye clears L1 once; one that said goodbye does not', async () => {
    const name = channel();
    const a = bus({ channel: name, heartbeatMs: 50 });
    const b = bus({ channel: name, heartbeatMs: 50 });
    const states: string[] = [];
    b.subscribe(
      () => {},
      (s) => states.push(s),
    );
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    await a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(states).toEqual(['connected']);
    await a.close(); // says goodbye
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(b.stats.silentPublishers).toBe(0);
    expect(states).toEqual(['connected']);
    // A forged publisher that heartbeats once and then falls silent (a crash).
    await admin.query('SELECT pg_notify($1, $2)', [name, 'wt1hcrashed.1']);
    await waitFor(() => b.stats.silentPublishers >= 1, { timeoutMs: 5_000, what: 'b to notice the silence' });
    expect(states).toEqual(['connected', 'disconnected', 'connected']);
    expect(b.stats.heartbeatLosses).toBe(0);
  });

  it('a key too long for a NOTIFY payload is sent as clear-everything', async () => {
    const name = channel();
    const a = bus({ channel: name, heartbeatMs: 0 });
    const b = bus({ channel: name, heartbeatMs: 0 });
    const received: InvalidationMessage[] = [];
    b.subscribe((m) => received.push(m));
    await waitFor(() => a.connected && b.connected, { timeoutMs: 5_000, what: 'both connected' });
    await a.publish({ cache: 'c', key: 'é'.repeat(4_000), version: 3, origin: 'a' });
    await a.publish({ cache: 'c', key: 'nul\0key', version: 4, origin: 'a' });
    await a.publish({ cache: 'c', key: 'k'.repeat(7_900), version: 5, origin: 'a' });
    await waitFor(() => received.length >= 3, { timeoutMs: 5_000, what: 'b to receive 3' });
    expect(received).toEqual([
      { cache: 'c', key: '', version: 0, origin: 'a' },
      { cache: 'c', key: '', version: 0, origin: 'a' },
      { cache: 'c', key: 'k'.repeat(7_900), version: 5, origin: 'a' },
    ]);
    expect(a.stats.degraded).toBe(2);
    expect(b.stats.gaps).toBe(0);
    await expect(a.publish({ cache: 'c'.repeat(8_000), key: 'k', version: 1, origin: 'a' })).rejects.toThrow(
      /cannot carry/,
    );
    await expect(a.publish({ cache: 'c', key: 'k', version: -1, origin: 'a' })).rejects.toThrow(/version/);
  });

  it('close(): goodbye, the backend ends, publish rejects, no timer or socket left', async () => {
    const name = channel();
    const app = appName();
    const before = process.getActiveResourcesInfo().length;
    const a = postgresBus({ connect: factory(app), channel: name, heartbeatMs: 20 });
    await waitFor(() => a.connected, { timeoutMs: 5_000, what: 'a connected' });
    expect(await backends(app)).toHaveLength(1);
    await a.close();
    await a.close();
    expect(a.connected).toBe(false);
    await expect(a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' })).rejects.toThrow(/closed/);
    await waitFor(async () => (await backends(app)).length === 0, { timeoutMs: 5_000, what: 'backend gone' });
    await waitFor(() => process.getActiveResourcesInfo().length <= before, {
      timeoutMs: 5_000,
      what: 'no handle left',
    });
  });

  it('close() while reconnecting stops the reconnection', async () => {
    const name = channel();
    let made = 0;
    const a = postgresBus({
      connect: () => {
        made++;
        return new pg.Client({ ...serverConfig(), port: 1, connectionTimeoutMillis: 200 });
      },
      channel: name,
      reconnectDelayMs: 10,
      maxReconnectDelayMs: 10,
      heartbeatMs: 0,
    });
    await waitFor(() => made >= 3, { timeoutMs: 5_000, what: 'a few attempts' });
    expect(a.connected).toBe(false);
    await a.close();
    const after = made;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(made).toBe(after);
  });
});

describe('two engines on postgresBus and one shared record store', () => {
  const db = serverSchema();
  beforeAll(() => db.setup());
  afterAll(() => db.teardown());

  for (const kind of ['postgresRecords', 'memoryRecords'] as const) {
    it(`a write on one instance is seen by the other's next read (${kind})`, async () => {
      const name = channel();
      const records = kind === 'postgresRecords' ? db.store<{ n: number }>() : memoryRecords<{ n: number }>();
      const busA = bus({ channel: name, heartbeatMs: 100 });
      const busB = bus({ channel: name, heartbeatMs: 100 });
      const a = createCache({ name: 'users', records, l1: memoryStore(), bus: busA, instanceId: 'a' });
      const b = createCache({ name: 'users', records, l1: memoryStore(), bus: busB, instanceId: 'b' });
      try {
        await waitFor(() => busA.connected && busB.connected, { timeoutMs: 5_000, what: 'both connected' });
        const key = `user:${randomUUID()}`;
        await a.set(key, { n: 1 });
        expect(await b.get(key)).toEqual({ n: 1 }); // now in B's L1
        expect(await b.get(key)).toEqual({ n: 1 });
        for (let n = 2; n <= 5; n++) {
          await a.set(key, { n });
          await waitFor(async () => (await b.get(key))?.n === n, {
            timeoutMs: 2_000,
            what: `B to see n=${n}`,
          });
        }
        await a.delete(key);
        await waitFor(async () => (await b.get(key)) === undefined, {
          timeoutMs: 2_000,
          what: 'B to see the delete',
        });
        expect(busB.stats.delivered).toBeGreaterThanOrEqual(5);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
