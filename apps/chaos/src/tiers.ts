/**
 * Dumps of the tiers the orchestrator reads itself: the run's Postgres table (K3, K4) and the
 * Redis L2 entries (K4, K6). Redis is read with one plain `MGET` of the value keys: a read that
 * takes no lease and touches no mark, so dumping changes nothing.
 */
import { redisCommand } from '@writethrough/testing/tools';
import type pg from 'pg';
import type { FinalRecord, TierEntryDump } from './check/index.js';

/** The Postgres rows of the run's table, by key (`value` null for a tombstone). */
export async function dumpPostgres(
  client: pg.Pool | pg.Client,
  schema: string,
  table: string,
): Promise<Map<string, FinalRecord>> {
  const result = await client.query<{ key: string; w: string | null; version: string; deleted: boolean }>(
    `SELECT key, value->>'w' AS w, version::text AS version, deleted FROM "${schema}"."${table}"`,
  );
  const out = new Map<string, FinalRecord>();
  for (const row of result.rows) {
    out.set(row.key, { value: row.deleted ? null : row.w, version: Number(row.version) });
  }
  return out;
}

/** The Redis value key of a cache key (chaos keys have no braces or backslashes to escape). */
export function redisValueKey(namespace: string, key: string): string {
  return `${namespace}{${key}}:v`;
}

/** Decodes a redisStore value (`v<version>:<json>` or `a<version>`); undefined when it is none. */
export function decodeRedisEntry(raw: string): TierEntryDump | undefined {
  if (raw.startsWith('v')) {
    const colon = raw.indexOf(':');
    const version = Number(raw.slice(1, colon));
    const w = (JSON.parse(raw.slice(colon + 1)) as { w?: unknown }).w;
    if (colon > 1 && Number.isSafeInteger(version) && typeof w === 'string')
      return { kind: 'value', w, version };
  } else if (raw.startsWith('a')) {
    const version = Number(raw.slice(1));
    if (Number.isSafeInteger(version)) return { kind: 'absent', version };
  }
  return undefined;
}

/** The Redis L2 entries of `keys` (keys with none are left out). */
export async function dumpRedis(
  port: number,
  namespace: string,
  keys: readonly string[],
): Promise<Map<string, TierEntryDump>> {
  const out = new Map<string, TierEntryDump>();
  if (keys.length === 0) return out;
  const reply = await redisCommand(port, ['MGET', ...keys.map((k) => redisValueKey(namespace, k))]);
  if (!Array.isArray(reply)) throw new Error(`MGET answered ${String(reply)}`);
  keys.forEach((key, i) => {
    const raw = reply[i];
    if (typeof raw !== 'string') return;
    const entry = decodeRedisEntry(raw);
    if (entry === undefined)
      throw new Error(`Redis holds a value of ${key} that is not a redisStore entry: ${raw}`);
    out.set(key, entry);
  });
  return out;
}
