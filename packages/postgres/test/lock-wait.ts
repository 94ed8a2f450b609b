/**
 * Forcing interleavings on a Postgres server without sleeps: a connection of its own per actor, and
 * a poll of `pg_locks` until an actor's statement is waiting for a lock.
 */
import pg from 'pg';
import { serverConfig } from './helpers.ts';

/** A connected client of its own, with its backend pid. */
export async function actor(): Promise<pg.Client & { pid: number }> {
  const client = new pg.Client(serverConfig());
  client.on('error', () => {});
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return Object.assign(client, { pid: rows[0]!.pid });
}

/**
 * Resolves with the lock type once the backend `pid` waits for a lock it was not granted (polling
 * `pg_locks` through `observer`); rejects after `timeoutMs`, or at once when `settled()` says the
 * statement already finished (it did not wait).
 */
export async function waitingFor(
  observer: { query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> },
  pid: number,
  settled: () => boolean = () => false,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await observer.query(
      'SELECT locktype FROM pg_locks WHERE pid = $1 AND NOT granted LIMIT 1',
      [pid],
    );
    const row = rows[0] as { locktype: string } | undefined;
    if (row !== undefined) return row.locktype;
    if (settled()) throw new Error(`backend ${pid} finished its statement without waiting for a lock`);
    if (Date.now() > deadline)
      throw new Error(`backend ${pid} did not wait for a lock within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise with a flag saying whether it settled (for `waitingFor`). */
export function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const settledPromise = promise.finally(() => {
    done = true;
  });
  // The caller awaits `promise`; this copy only sets the flag, its rejection is handled there.
  settledPromise.catch(() => {});
  return { promise, settled: () => done };
}
