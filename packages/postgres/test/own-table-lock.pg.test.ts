/**
 * Why the own-table mode takes `pg_advisory_xact_lock` before drawing a version: the same forced
 * interleaving, run with the statements of `ownStatements` as they are and with the lock taken out
 * of their text.
 *
 * Writer B holds key k in an open transaction (it wrote k once: the store's statement took k's
 * advisory lock and k's row lock). Writer A then runs the store's `set` of k. Writer B then writes k
 * again and commits; A finishes after it.
 *
 * - Without the lock, A draws its version (`nextval` in the INSERT's SELECT list) at once, then waits
 *   for B's row; B's second write draws a larger version and commits first; A then commits the
 *   smaller version it drew before waiting (`ON CONFLICT DO UPDATE SET version = excluded.version`):
 *   the row goes back to an older version, after a newer one was committed and could be read.
 * - With the lock, A waits for B's advisory lock before it draws, so it draws after B committed:
 *   versions increase in commit order. If the lock is ever removed from own-table.ts, this case
 *   behaves like the first one and fails.
 *
 * The same with B deleting k in its transaction and re-creating it (the row comes and goes, which
 * is why no row lock can order the writers of a key in this mode).
 *
 * The interleaving is forced by B's open transaction and by polling `pg_locks` until A waits; no
 * sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/index.ts';
import { ownStatements, resolveOwnNames } from '../src/own-table.ts';
import type { Statements } from '../src/sql.ts';
import { newPool, randomSchema } from './helpers.ts';
import { actor, tracked, waitingFor } from './lock-wait.ts';

const schema = randomSchema();
const options = { schema, table: 'items', key: 'id' } as const;
const pool = newPool(4);

beforeAll(async () => {
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE "${schema}".items (id text PRIMARY KEY, doc jsonb)`);
  await migrate(pool, { ...options, addVersionColumn: true });
});
afterAll(async () => {
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
});

const real = ownStatements(resolveOwnNames(options), ['doc']);

/** `pg_advisory_xact_lock(hashtextextended(<prefix> || <key>, 0))`, as ownStatements writes it. */
const ADVISORY_LOCK = /pg_advisory_xact_lock\(hashtextextended\([^()]*\)\)/g;

/** The statements with the advisory lock replaced by NULL (the CASE then picks the same sequence, lock-free). */
function withoutLock(statements: Statements): Statements {
  const stripped: Record<string, string> = {};
  for (const [name, text] of Object.entries(statements)) stripped[name] = text.replace(ADVISORY_LOCK, 'NULL');
  return stripped as unknown as Statements;
}

type Interleaving = 'set, set' | 'delete, re-create';

/**
 * Runs the interleaving with `sql`; answers the version B committed last, the version A committed,
 * the row's final version, and the lock A waited for.
 */
async function interleave(sql: Statements, kind: Interleaving) {
  const key = `k-${Math.random().toString(36).slice(2)}`;
  const version = async (rows: unknown[]) => Number((rows[0] as { version: string }).version);
  // The key exists, committed.
  await pool.query(sql.set, [key, JSON.stringify({ doc: 'initial' })]);
  const a = await actor();
  const b = await actor();
  try {
    await b.query('BEGIN');
    if (kind === 'set, set') await b.query(sql.set, [key, JSON.stringify({ doc: 'B1' })]);
    else {
      const { rows } = await b.query(sql.delete, [key]);
      expect((rows[0] as { written: string | null }).written, 'B deleted k').not.toBeNull();
    }
    // A writes k: it has to wait for B.
    const aWrite = tracked(a.query(sql.set, [key, JSON.stringify({ doc: 'A' })]));
    const lockType = await waitingFor(pool, a.pid, aWrite.settled);
    // B writes k again (a re-create after its delete), then commits, while A still waits.
    const bLast = await version((await b.query(sql.set, [key, JSON.stringify({ doc: 'B2' })])).rows);
    await b.query('COMMIT');
    // A can only commit after B: B held what A waited for until its commit.
    const aVersion = await version((await aWrite.promise).rows);
    const final = await pool.query(
      `SELECT version::text AS version, doc FROM "${schema}".items WHERE id = $1`,
      [key],
    );
    return {
      bLast,
      aVersion,
      final: await version(final.rows),
      finalDoc: (final.rows[0] as { doc: unknown }).doc,
      lockType,
    };
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

describe('own-table mode: the advisory lock is what keeps versions in commit order', () => {
  it('the lock expression is found in every write statement of ownStatements (so removing it is possible, and noticed)', () => {
    for (const name of ['set', 'create', 'update', 'delete', 'deleteIf', 'setMany'] as const) {
      expect(real[name].match(ADVISORY_LOCK), name).toHaveLength(1);
      expect(withoutLock(real)[name], name).not.toContain('pg_advisory');
    }
    for (const name of ['get', 'getMany'] as const) expect(real[name]).not.toContain('pg_advisory');
  });

  for (const kind of ['set, set', 'delete, re-create'] as const) {
    it(`${kind} — without the lock: A draws before waiting, B draws later and commits first, A commits a smaller version after it`, async () => {
      const run = await interleave(withoutLock(real), kind);
      // A waited for B's transaction (its row), holding a version drawn before the wait.
      expect(run.lockType).toBe('transactionid');
      expect(run.aVersion, 'A committed after B with a smaller version').toBeLessThan(run.bLast);
      expect(run.final, 'the row went back to an older version').toBe(run.aVersion);
      expect(run.finalDoc).toBe('A');
    });

    it(`${kind} — with the lock (ownStatements as they are): A waits for B's advisory lock before drawing, versions increase in commit order`, async () => {
      const run = await interleave(real, kind);
      expect(run.aVersion, 'A committed after B with a larger version').toBeGreaterThan(run.bLast);
      expect(run.lockType, 'A waited on the advisory lock, not on the row').toBe('advisory');
      expect(run.final).toBe(run.aVersion);
      expect(run.finalDoc).toBe('A');
    });
  }
});
