/**
 * redisStore with hostile keys, payloads and tokens: every protocol step round-trips them exactly,
 * distinct keys stay distinct, every Redis key written lies in the store's namespace under a
 * one-slot hash tag, and nothing outside the namespace changes (Lua injection is inert).
 */

import { randomUUID } from 'node:crypto';
import type { Lookup, TierEntry } from '@writethrough/core';
import { findRedis, hostileKeys, type RedisTarget } from '@writethrough/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../src/keys.js';
import { type RedisStore, redisStore } from '../src/store.js';

const LEASE = { leaseTtlMs: 30_000 };
const TTL = 60_000;
const run = `wt-hostile:${randomUUID().slice(0, 8)}:`;
let target: RedisTarget;
let admin: Redis;

const INJECTIONS = [
  "]] redis.call('FLUSHALL') --",
  "]]..redis.call('FLUSHDB')..[[",
  "'); redis.call('DEL', KEYS[1]) --",
  '" .. redis.call("SET", "pwned", "1") .. "',
  '\0',
  'nul\0inside',
  '\\\'\\"',
  '%s%d%n',
  '*',
  '?',
  '[a-z]',
];

/** Keys of every kind of hostility, all distinct. */
function keys(): { label: string; key: string }[] {
  const id = randomUUID().slice(0, 8);
  return [
    ...hostileKeys(),
    { label: 'space', key: `a b ${id}` },
    { label: 'newline', key: `a\nb${id}` },
    { label: 'empty braces', key: `{}${id}` },
    { label: 'reversed braces', key: `}{${id}` },
    { label: 'lone open brace', key: `{${id}` },
    { label: 'lone close brace', key: `}${id}` },
    { label: 'only braces', key: '{' },
    { label: 'only close brace', key: '}' },
    { label: 'escape look-alike', key: `\\(${id}` },
    { label: 'escape look-alike 2', key: `\\\\(${id}` },
    { label: 'backslash brace', key: `\\{${id}` },
    { label: 'suffix look-alike', key: `${id}}:v` },
    { label: 'other key’s Redis name', key: `${run}x{y}:m` },
    { label: 'very long', key: `long-${id}-${'é🔑x'.repeat(2000)}` },
    { label: 'unicode', key: `ключ-鍵-🗝️-${id}` },
    ...INJECTIONS.map((text, i) => ({ label: `injection ${i}`, key: `${text}${id}` })),
  ];
}

/** Every key of the Redis server whose name starts with `prefix`, with its type. */
async function scan(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

function value(payload: string, version: number): TierEntry<string> {
  return { kind: 'value', payload, version };
}

function tokenOf(lookup: Lookup<string>): string {
  expect(lookup.kind).toBe('lease');
  return (lookup as { token: string }).token;
}

beforeAll(async () => {
  target = await findRedis();
  admin = new Redis(target.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterAll(async () => {
  const left = await scan(run);
  for (let i = 0; i < left.length; i += 500) await admin.unlink(...left.slice(i, i + 500));
  await admin.quit();
  await target.stop();
});

describe('redisStore: hostile keys, payloads and tokens', () => {
  let store: RedisStore;
  const namespace = `${run}ns:`;
  /** Keys outside the namespace that nothing may touch: look-alikes of the store's own keys. */
  const canaries = [
    `${run}canary`,
    `${run}ns`,
    `${run}ns{x}:v`,
    `${run}ns:x`,
    `${run}ns:x{y}:v`,
    `${run}ns:`,
    `${run}nsx{a}:v`,
    `{${run}ns:}`,
  ];

  beforeAll(async () => {
    store = redisStore({ url: target.url, namespace });
    await store.ready();
    for (const canary of canaries) await admin.set(canary, `alive ${canary}`);
  });

  afterAll(async () => {
    await store.clear();
    await store.close();
  });

  async function expectNothingOutsideChanged(): Promise<void> {
    for (const canary of canaries) expect(await admin.get(canary), canary).toBe(`alive ${canary}`);
    expect(await admin.exists('pwned'), 'no injected SET ran').toBe(0);
    for (const redisKey of await scan(run)) {
      if (canaries.includes(redisKey)) continue;
      // The store's restart marker (the run_id of the server that last checked the namespace).
      if (redisKey === `${namespace}run-id`) continue;
      expect(redisKey.startsWith(`${namespace}{`), `${JSON.stringify(redisKey)} is in the namespace`).toBe(
        true,
      );
      const close = redisKey.indexOf('}', namespace.length + 1);
      expect(redisKey.slice(close), 'suffix').toMatch(/^\}:[vlm]$/);
    }
  }

  it('every step round-trips every hostile key, and each key keeps its own entry', async () => {
    const list = keys();
    expect(new Set(list.map(({ key }) => key)).size, 'the keys are distinct').toBe(list.length);
    const payload = (i: number) => `${INJECTIONS[i % INJECTIONS.length]}|${list[i]!.key.slice(0, 50)}|${i}`;
    // get → lease, fill, get → hit
    for (const [i, { key, label }] of list.entries()) {
      const token = tokenOf(await store.get(key, LEASE));
      expect(await store.get(key, LEASE), `${label}: wait`).toEqual({ kind: 'wait' });
      expect(await store.fill(key, token, value(payload(i), i + 1), TTL), `${label}: fill`).toBe(true);
    }
    for (const [i, { key, label }] of list.entries()) {
      expect(await store.get(key, LEASE), label).toEqual({ kind: 'hit', entry: value(payload(i), i + 1) });
    }
    expect(
      await store.getMany(
        list.map(({ key }) => key),
        LEASE,
      ),
    ).toEqual(list.map((_, i) => ({ kind: 'hit', entry: value(payload(i), i + 1) })));
    await expectNothingOutsideChanged();
    // beginWrite (two writers with hostile tokens), abortWrite one, commitWrite the other
    for (const [i, { key, label }] of list.entries()) {
      const [w1, w2] = [`${INJECTIONS[i % INJECTIONS.length]}`, `w\0${i}`];
      await store.beginWrite(key, w1, TTL);
      await store.beginWrite(key, w2, TTL);
      expect(await store.get(key, LEASE), `${label}: writing`).toEqual({ kind: 'writing' });
      await store.abortWrite(key, w1);
      expect(await store.get(key, LEASE), `${label}: still writing`).toEqual({ kind: 'writing' });
      expect(await store.commitWrite(key, w2, value(`new ${payload(i)}`, 1000 + i), TTL), label).toBe(true);
    }
    for (const [i, { key, label }] of list.entries()) {
      expect(await store.get(key, LEASE), label).toEqual({
        kind: 'hit',
        entry: value(`new ${payload(i)}`, 1000 + i),
      });
    }
    await expectNothingOutsideChanged();
    // invalidate(v) below, then above; invalidate()
    for (const [i, { key, label }] of list.entries()) {
      await store.invalidate(key, 1000 + i);
      expect((await store.get(key, LEASE)).kind, `${label}: kept at v`).toBe('hit');
      await store.invalidate(key, 2000 + i);
      const token = tokenOf(await store.get(key, LEASE));
      expect(await store.fill(key, token, value('old', 1500), TTL), `${label}: below the floor`).toBe(false);
      const again = tokenOf(await store.get(key, LEASE));
      expect(await store.fill(key, again, { kind: 'absent', version: 2000 + i }, TTL), label).toBe(true);
      expect(await store.get(key, LEASE), label).toEqual({
        kind: 'hit',
        entry: { kind: 'absent', version: 2000 + i },
      });
      await store.invalidate(key);
      tokenOf(await store.get(key, LEASE));
    }
    await expectNothingOutsideChanged();
    await store.clear();
    expect(await scan(`${namespace}{`), 'clear left nothing in the namespace').toEqual([]);
    await expectNothingOutsideChanged();
  });

  it('tokens that look like the mark’s own fields (f, w, wf, "") stay distinct writers', async () => {
    const key = `tokens-${randomUUID()}`;
    for (const token of ['f', 'w', 'wf', '']) await store.beginWrite(key, token, TTL);
    for (const token of ['f', 'w', 'wf']) {
      expect(await store.commitWrite(key, token, value('x', 1), TTL), token).toBe(false);
      expect(await store.get(key, LEASE)).toEqual({ kind: 'writing' });
    }
    expect(await store.commitWrite(key, '', value('y', 2), TTL)).toBe(true);
    expect(await store.get(key, LEASE)).toEqual({ kind: 'hit', entry: value('y', 2) });
    await expectNothingOutsideChanged();
  });

  it('payloads with NUL, invalid-looking encodings, colons and 100 KiB of unicode round-trip exactly', async () => {
    const payloads = [
      '',
      ':',
      'v1:',
      'a1',
      '\0\0',
      `${'x'.repeat(3)}\u0000é`,
      '🔑'.repeat(25_000),
      ...INJECTIONS,
    ];
    for (const [i, payload] of payloads.entries()) {
      const key = `payload-${i}`;
      const token = tokenOf(await store.get(key, LEASE));
      expect(await store.fill(key, token, value(payload, i + 1), TTL)).toBe(true);
      expect(await store.get(key, LEASE)).toEqual({ kind: 'hit', entry: value(payload, i + 1) });
    }
    await expectNothingOutsideChanged();
  });

  it('the three Redis keys of each hostile key share one slot', async () => {
    await store.clear();
    const list = keys();
    const tokens: string[] = [];
    for (const { key } of list) {
      await store.invalidate(key, 1); // the mark (floor 1)
      tokens.push(tokenOf(await store.get(key, LEASE))); // the lease
    }
    const written = await scan(`${namespace}{`);
    for (const [i, { key }] of list.entries()) await store.fill(key, tokens[i]!, value('x', 1), TTL); // the value
    written.push(...(await scan(`${namespace}{`)));
    const slots = new Map<string, Set<number>>();
    const suffixes = new Map<string, Set<string>>();
    for (const redisKey of written) {
      const base = redisKey.slice(0, -2);
      slots.set(base, (slots.get(base) ?? new Set<number>()).add(keySlot(redisKey)));
      suffixes.set(base, (suffixes.get(base) ?? new Set<string>()).add(redisKey.slice(-1)));
    }
    expect(slots.size, 'one base per key').toBe(list.length);
    for (const [base, set] of slots) expect(set.size, base).toBe(1);
    for (const [base, set] of suffixes) expect([...set].sort(), base).toEqual(['l', 'm', 'v']);
    await store.clear();
  });

  it('refuses keys with lone surrogates (they would collide once encoded as UTF-8)', async () => {
    await expect(store.get('a\ud800', LEASE)).rejects.toThrow(/well-formed/);
    await expect(store.beginWrite('\udfff', 'w', TTL)).rejects.toThrow(/well-formed/);
  });
});
