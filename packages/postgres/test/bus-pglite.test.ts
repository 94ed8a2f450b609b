/**
 * `postgresBus` on PGlite (in-process LISTEN/NOTIFY): the conformance suite with two buses on one
 * PGlite, a forged gap, and close().
 */

import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import type { InvalidationMessage } from '@writethrough/core';
import { describeBus, waitFor } from '@writethrough/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBus } from '../src/index.ts';

let db: PGlite;
beforeAll(async () => {
  db = new PGlite();
  await db.waitReady;
});
afterAll(async () => {
  await db.close();
});

const channel = (): string => `wt bus ${randomUUID().slice(0, 8)}`;

describeBus(
  'postgresBus on PGlite (two buses on one PGlite)',
  () => {
    const name = channel();
    return {
      a: postgresBus({ client: db, channel: name, heartbeatMs: 100 }),
      b: postgresBus({ client: db, channel: name, heartbeatMs: 100 }),
    };
  },
  { timeoutMs: 5_000 },
);

describe('postgresBus on PGlite', () => {
  it('a forged gap: disconnected then connected; heartbeats raise no false alarm', async () => {
    const name = channel();
    const a = postgresBus({ client: db, channel: name, heartbeatMs: 30 });
    const b = postgresBus({ client: db, channel: name, heartbeatMs: 30 });
    const states: string[] = [];
    const received: InvalidationMessage[] = [];
    b.subscribe(
      (m) => received.push(m),
      (s) => states.push(s),
    );
    try {
      await waitFor(() => a.connected && b.connected, { what: 'both connected' });
      for (let v = 1; v <= 20; v++) await a.publish({ cache: 'c', key: `k${v}`, version: v, origin: 'a' });
      await waitFor(() => received.length >= 20, { what: 'b to receive 20' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(states).toEqual(['connected']);
      expect(b.stats).toMatchObject({ gaps: 0, heartbeatLosses: 0, silentPublishers: 0 });
      await db.query('SELECT pg_notify($1, $2)', [name, 'wt1mforged.1.1.1.1.cox']);
      await db.query('SELECT pg_notify($1, $2)', [name, 'wt1mforged.3.2.1.1.cox']);
      await waitFor(() => b.stats.gaps >= 1, { what: 'the gap' });
      expect(states).toEqual(['connected', 'disconnected', 'connected']);
    } finally {
      await a.close();
      await b.close();
    }
    expect(states).toEqual(['connected', 'disconnected', 'connected']);
    await expect(a.publish({ cache: 'c', key: 'k', version: 1, origin: 'a' })).rejects.toThrow(/closed/);
    // The PGlite given to the bus is not closed.
    await db.query('SELECT 1');
  });
});
