/** Hostile input, run on a Postgres server and on PGlite (see hostile.pg.test.ts and hostile-pglite.test.ts). */
import { InvalidArgumentError, type RecordStore } from '@writethrough/core';
import { randomKey } from '@writethrough/testing';
import { expect, it } from 'vitest';

/** Keys and values that break naive SQL building or array encoding. */
export function injectionStrings(): string[] {
  const id = randomKey('h');
  return [
    `${id}'); DROP TABLE records; --`,
    `${id}"; DROP SCHEMA public CASCADE; --`,
    `${id}' OR '1'='1`,
    `${id}\\'; SELECT pg_sleep(10); --`,
    `${id}\\`,
    `${id}\\\\"\\"`,
    `${id}$1 $2 $$ $tag$ ::jsonb`,
    `${id},{"a","b"},NULL`,
    'NULL',
    `{${id}}`,
    `${id}\\u0000 (six characters, not a NUL)`,
    `${id}\u0001\u001f\u007f`,
    `${id} trailing `,
    `${id}\n\r\t`,
  ];
}

/**
 * Registers the hostile-input tests for a store factory. `tableExists` answers whether the store's
 * table is still there (nothing was dropped).
 */
export function hostileTests(store: () => RecordStore<unknown>, tableExists: () => Promise<boolean>): void {
  it('injection attempts, quotes, backslashes and array-literal syntax in keys and values round-trip through set, get, getMany, setMany and delete', async () => {
    const records = store();
    const strings = injectionStrings();
    // set / get with the string as key and inside the value.
    for (const [i, s] of strings.entries()) {
      const value = { s, [s]: i, list: [s, `${s}"`] };
      const { version } = await records.set(s, value);
      expect(await records.get(s), `get ${JSON.stringify(s)}`).toEqual({ found: true, value, version });
    }
    // getMany with all of them at once (one text[] parameter).
    const many = await records.getMany(strings);
    expect(many.size).toBe(strings.length);
    for (const [i, s] of strings.entries()) {
      expect(many.get(s), `getMany ${JSON.stringify(s)}`).toMatchObject({
        found: true,
        value: { s, [s]: i },
      });
    }
    // setMany with them (text[] and jsonb[] parameters), then delete each.
    const written = await records.setMany(strings.map((s, i) => ({ key: s, value: [s, i] })));
    for (const [i, s] of strings.entries()) {
      expect(await records.get(s), `after setMany ${JSON.stringify(s)}`).toEqual({
        found: true,
        value: [s, i],
        version: written.get(s)!.version,
      });
      expect((await records.delete(s)).deleted, `delete ${JSON.stringify(s)}`).toBe(true);
    }
    expect(await tableExists(), 'the table is still there').toBe(true);
  });

  it('a key or a value with a NUL character, or a key with a lone surrogate, is refused with InvalidArgumentError and nothing is written', async () => {
    const records = store();
    const key = randomKey('wt-nul');
    const refusals: [string, () => Promise<unknown>][] = [
      ['NUL in a key (set)', () => records.set(`${key}\u0000tail`, 1)],
      ['NUL in a key (get)', () => records.get(`${key}\u0000`)],
      ['NUL in a key (getMany)', () => records.getMany([key, `${key}\u0000`])],
      ['NUL in a key (delete)', () => records.delete(`\u0000${key}`)],
      ['NUL in a key (setMany)', () => records.setMany([{ key: `${key}\u0000`, value: 1 }])],
      ['NUL in a value', () => records.set(key, { text: 'a\u0000b' })],
      ['NUL in a property name', () => records.set(key, { 'a\u0000b': 1 })],
      ['NUL after an escaped backslash', () => records.set(key, '\\\u0000')],
      [
        'NUL in a value (setMany)',
        () =>
          records.setMany([
            { key, value: 'ok' },
            { key: `${key}:2`, value: '\u0000' },
          ]),
      ],
      ['lone high surrogate in a key', () => records.set(`${key}\ud800`, 1)],
      ['lone low surrogate in a key', () => records.set(`${key}\udc00`, 1)],
      ['lone surrogate in a value', () => records.set(key, { s: '\udbff' })],
    ];
    for (const [label, call] of refusals) {
      await expect(call(), label).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(await records.get(key), 'nothing written').toEqual({ found: false, version: 0 });
    expect(await records.get(`${key}:2`), 'nothing written (setMany)').toEqual({ found: false, version: 0 });
    // Text that only looks like the escape is stored as it is; paired surrogates (emoji) are fine.
    for (const value of ['\\u0000', '\\\\u0000', '\\ud800', '🔑 \ud83d\udd11']) {
      const { version } = await records.set(key, value);
      expect(await records.get(key), JSON.stringify(value)).toEqual({ found: true, value, version });
    }
  });

  it('values that are not JSON are refused with SerializationError before any statement', async () => {
    const records = store();
    const key = randomKey('wt-json');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [undefined, () => 1, Symbol('s'), 10n, cyclic]) {
      await expect(records.set(key, value), String(typeof value)).rejects.toMatchObject({
        code: 'WT_SERIALIZATION',
      });
    }
    expect(await records.get(key)).toEqual({ found: false, version: 0 });
  });
}
