/**
 * The `RecordStore` conformance suite: versions (positive, strictly increasing per key, never
 * reused across delete and re-create), tombstones, compare-and-set, batches, concurrency, value and
 * key round-trips, error classification. Plain async checks (`recordStoreChecks`) that
 * `describeRecordStore` registers as vitest tests.
 */

import type { RecordRead, RecordStore } from '@writethrough/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostileKeys, randomKey } from './random-keys.js';

/** What the record-store checks need besides the store; every field is optional. */
export interface RecordStoreCheckEnv {
  /** The store keeps tombstones: a deleted key reads `found: false` at the delete's version. Default true. */
  readonly supportsTombstoneVersions?: boolean | undefined;
  /**
   * A value this store refuses to write (a constraint, a type it cannot encode). When given, the
   * all-or-nothing check also writes a batch that contains it and expects none of the batch to commit.
   */
  readonly unstorableValue?: unknown;
}

/**
 * One record-store check: resolves when `store` follows the rule, rejects with the failed assertion
 * otherwise.
 */
export type RecordStoreCheck = (store: RecordStore<unknown>, env?: RecordStoreCheckEnv) => Promise<void>;

/** Options of `describeRecordStore`. */
export interface DescribeRecordStoreOptions extends RecordStoreCheckEnv {
  /** Called after each test with the store, before `close()`. */
  readonly cleanup?: (store: RecordStore<unknown>) => Promise<void>;
}

/** Values of many shapes that every record store must round-trip exactly. */
const SAMPLE_VALUES: readonly unknown[] = [
  {
    id: 1,
    name: 'Ada',
    nested: { deep: { list: [1, 'two', { three: 3 }] } },
    none: null,
    yes: true,
    no: false,
  },
  'plain string',
  '',
  'unicode: ключ 鍵 🔑 ñ é e\u0301 שלום \u2028 \t tab \n newline "quotes" \\ backslash',
  0,
  -1,
  1.5,
  Number.MAX_SAFE_INTEGER,
  true,
  false,
  [],
  {},
  [1, 'a', null, { b: [true, false] }],
  { emptyString: '', zero: 0, falseValue: false, nullValue: null, emptyList: [], emptyObject: {} },
];

async function conflictOf(promise: Promise<unknown>, step: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`${step}: expected a VersionConflictError, but the write succeeded`);
}

function expectConflict(error: unknown, key: string, expected: number, current: number, step: string): void {
  expect(error, `${step}: the error`).toBeInstanceOf(Error);
  expect(error, `${step}: a VersionConflictError with the versions and the key`).toMatchObject({
    code: 'WT_VERSION_CONFLICT',
    expectedVersion: expected,
    currentVersion: current,
    key,
  });
}

function expectVersion(version: unknown, step: string): asserts version is number {
  expect(
    Number.isSafeInteger(version) && (version as number) >= 1,
    `${step}: ${String(version)} is a version >= 1`,
  ).toBe(true);
}

/** A check's place in the suite: its group and its test title. */
interface CheckSpec {
  readonly group: string;
  readonly title: string;
  readonly run: RecordStoreCheck;
}

const key = () => randomKey('wt-records');
const tombstones = (env?: RecordStoreCheckEnv) => env?.supportsTombstoneVersions ?? true;

const specs = {
  // ------------------------------------------------------------------------------------- get/set
  getAbsent: {
    group: 'get and set',
    title: 'get of a key that never existed answers found: false at version 0',
    run: async (store) => {
      expect(await store.get(key()), 'get of a fresh key').toEqual({ found: false, version: 0 });
    },
  },
  setThenGet: {
    group: 'get and set',
    title: 'set answers a version >= 1; get answers the value at that version',
    run: async (store) => {
      const k = key();
      const { version } = await store.set(k, { hello: 'world' });
      expectVersion(version, 'set');
      expect(await store.get(k), 'get after set').toEqual({
        found: true,
        value: { hello: 'world' },
        version,
      });
    },
  },
  versionsIncreasePerKey: {
    group: 'get and set',
    title: 'versions of one key strictly increase with each write',
    run: async (store) => {
      const k = key();
      const versions: number[] = [];
      for (let i = 0; i < 5; i++) versions.push((await store.set(k, i)).version);
      for (const [i, version] of versions.entries()) expectVersion(version, `write ${i}`);
      for (let i = 1; i < versions.length; i++) {
        expect(versions[i], `write ${i} after ${versions[i - 1]}`).toBeGreaterThan(versions[i - 1]!);
      }
      expect(await store.get(k), 'get').toEqual({ found: true, value: 4, version: versions[4] });
    },
  },

  // -------------------------------------------------------------------------------------- delete
  deleteLeavesTombstone: {
    group: 'delete',
    title:
      'delete answers deleted: true at a version above the last write; get then answers found: false with it',
    run: async (store, env) => {
      const k = key();
      const { version: written } = await store.set(k, 'x');
      const deleted = await store.delete(k);
      expect(deleted.deleted, 'deleted').toBe(true);
      if (tombstones(env)) {
        expectVersion(deleted.version, 'delete');
        expect(deleted.version, 'the tombstone above the last write').toBeGreaterThan(written);
        expect(await store.get(k), 'get after delete').toEqual({ found: false, version: deleted.version });
      } else {
        expect(Number.isSafeInteger(deleted.version) && deleted.version >= 0, 'delete version').toBe(true);
        expect(await store.get(k), 'get after delete (no tombstones)').toEqual({ found: false, version: 0 });
      }
    },
  },
  deleteAbsent: {
    group: 'delete',
    title: 'deleting an absent key answers deleted: false at its absence version',
    run: async (store, env) => {
      const k = key();
      expect(await store.delete(k), 'delete of a fresh key').toEqual({ deleted: false, version: 0 });
      await store.set(k, 'x');
      const first = await store.delete(k);
      const again = await store.delete(k);
      expect(again, 'a second delete').toEqual({
        deleted: false,
        version: tombstones(env) ? first.version : 0,
      });
    },
  },
  recreateGetsHigherVersion: {
    group: 'delete',
    title: 're-creating a deleted key gets a version above every earlier one (versions are never reused)',
    run: async (store, env) => {
      const k = key();
      const first = await store.set(k, 'first');
      const deleted = await store.delete(k);
      const again = await store.set(k, 'again');
      expect(again.version, 'above the first write').toBeGreaterThan(first.version);
      if (tombstones(env)) expect(again.version, 'above the tombstone').toBeGreaterThan(deleted.version);
      expect(await store.get(k), 'get').toEqual({ found: true, value: 'again', version: again.version });
    },
  },

  // ---------------------------------------------------------------------------- conditional writes
  ifVersionMatches: {
    group: 'conditional writes',
    title: 'set with ifVersion equal to the current version commits',
    run: async (store) => {
      const k = key();
      const first = await store.set(k, 'one');
      const second = await store.set(k, 'two', { ifVersion: first.version });
      expect(second.version, 'the conditional write').toBeGreaterThan(first.version);
      expect(await store.get(k), 'get').toEqual({ found: true, value: 'two', version: second.version });
    },
  },
  ifVersionConflict: {
    group: 'conditional writes',
    title:
      'a stale ifVersion throws VersionConflictError (expected and current versions, key), writes nothing',
    run: async (store) => {
      const k = key();
      const first = await store.set(k, 'one');
      const second = await store.set(k, 'two');
      const error = await conflictOf(store.set(k, 'three', { ifVersion: first.version }), 'stale ifVersion');
      expectConflict(error, k, first.version, second.version, 'stale ifVersion');
      expect(await store.get(k), 'unchanged').toEqual({ found: true, value: 'two', version: second.version });
    },
  },
  ifVersionZeroCreatesOnly: {
    group: 'conditional writes',
    title:
      'ifVersion 0 creates only: it commits on an absent or deleted key and conflicts on an existing one',
    run: async (store) => {
      const k = key();
      const created = await store.set(k, 'created', { ifVersion: 0 });
      expectVersion(created.version, 'create');
      const error = await conflictOf(store.set(k, 'again', { ifVersion: 0 }), 'create of an existing key');
      expectConflict(error, k, 0, created.version, 'create of an existing key');
      await store.delete(k);
      const recreated = await store.set(k, 'recreated', { ifVersion: 0 });
      expect(await store.get(k), 'after re-create').toEqual({
        found: true,
        value: 'recreated',
        version: recreated.version,
      });
    },
  },
  ifVersionOnAbsentKey: {
    group: 'conditional writes',
    title: 'ifVersion n > 0 on an absent or deleted key conflicts with current version 0',
    run: async (store) => {
      const k = key();
      const error = await conflictOf(store.set(k, 'x', { ifVersion: 3 }), 'ifVersion 3 on a fresh key');
      expectConflict(error, k, 3, 0, 'ifVersion 3 on a fresh key');
      expect(await store.get(k), 'nothing written').toEqual({ found: false, version: 0 });
      const { version } = await store.set(k, 'x');
      await store.delete(k);
      const afterDelete = await conflictOf(
        store.set(k, 'y', { ifVersion: version }),
        'ifVersion on a deleted key',
      );
      expectConflict(afterDelete, k, version, 0, 'ifVersion on a deleted key');
    },
  },
  deleteIfVersion: {
    group: 'conditional writes',
    title: 'delete with a stale ifVersion conflicts and deletes nothing; with the current one it deletes',
    run: async (store) => {
      const k = key();
      const first = await store.set(k, 'one');
      const second = await store.set(k, 'two');
      const error = await conflictOf(store.delete(k, { ifVersion: first.version }), 'stale delete');
      expectConflict(error, k, first.version, second.version, 'stale delete');
      expect(await store.get(k), 'not deleted').toEqual({
        found: true,
        value: 'two',
        version: second.version,
      });
      const deleted = await store.delete(k, { ifVersion: second.version });
      expect(deleted.deleted, 'the conditional delete').toBe(true);
      expect((await store.get(k)).found, 'deleted').toBe(false);
    },
  },
  concurrentCreateOnlyOneWins: {
    group: 'conditional writes',
    title: '8 concurrent creates (ifVersion 0) of one key: exactly one commits, the others conflict',
    run: async (store) => {
      const k = key();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.set(k, `writer ${i}`, { ifVersion: 0 })),
      );
      const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
      expect(winners.length, 'creates that committed').toBe(1);
      const winner = winners[0]!;
      const { version } = (results[winner] as PromiseFulfilledResult<{ version: number }>).value;
      for (const result of results) {
        if (result.status === 'rejected') expectConflict(result.reason, k, 0, version, 'a losing create');
      }
      expect(await store.get(k), 'the winner').toEqual({ found: true, value: `writer ${winner}`, version });
    },
  },
  classifyConflict: {
    group: 'conditional writes',
    title: 'classifyError (when present) says a version conflict is not retryable and certainly failed',
    run: async (store) => {
      if (store.classifyError === undefined) return;
      const k = key();
      const { version } = await store.set(k, 'x');
      await store.set(k, 'y');
      const error = await conflictOf(store.set(k, 'z', { ifVersion: version }), 'stale write');
      expect(store.classifyError(error), 'classifyError of the conflict').toEqual({
        retryable: false,
        outcome: 'failed',
      });
    },
  },

  // ------------------------------------------------------------------------------------- batches
  setManyVersions: {
    group: 'batches',
    title: 'setMany commits every entry and answers each key’s version, above its earlier one',
    run: async (store) => {
      const [a, b, c] = [key(), key(), key()];
      const before = await store.set(a, 'old');
      const result = await store.setMany([
        { key: a, value: 'new a' },
        { key: b, value: { b: true } },
        { key: c, value: 3 },
      ]);
      expect([...result.keys()].sort(), 'the keys answered').toEqual([a, b, c].sort());
      for (const k of [a, b, c]) expectVersion(result.get(k)?.version, `setMany version of ${k}`);
      expect(result.get(a)!.version, 'above the earlier write').toBeGreaterThan(before.version);
      expect(await store.get(a), 'a').toEqual({
        found: true,
        value: 'new a',
        version: result.get(a)!.version,
      });
      expect(await store.get(b), 'b').toEqual({
        found: true,
        value: { b: true },
        version: result.get(b)!.version,
      });
      expect(await store.get(c), 'c').toEqual({ found: true, value: 3, version: result.get(c)!.version });
    },
  },
  setManyAllOrNothing: {
    group: 'batches',
    title: 'setMany is all or nothing (an aborted batch, and a batch with a refused value when given)',
    run: async (store, env) => {
      const keys = [key(), key(), key()];
      const previous = await store.set(keys[0]!, 'previous');
      const controller = new AbortController();
      controller.abort(new Error('aborted before the call'));
      let committed = true;
      try {
        await store.setMany(
          keys.map((k) => ({ key: k, value: `new ${k}` })),
          { signal: controller.signal },
        );
      } catch {
        committed = false;
      }
      const reads = await Promise.all(keys.map((k) => store.get(k)));
      const applied = reads.map((read, i) => read.found && read.value === `new ${keys[i]}`);
      expect(applied, `an aborted setMany ${committed ? 'that resolved' : 'that threw'}`).toEqual(
        keys.map(() => committed),
      );
      if (!committed) {
        expect(reads[0], 'the earlier value stays').toEqual({
          found: true,
          value: 'previous',
          version: previous.version,
        });
      }
      if (!('unstorableValue' in (env ?? {}))) return;
      const poisoned = [key(), key(), key()];
      const before = await store.set(poisoned[0]!, 'before');
      let threw = false;
      try {
        await store.setMany([
          { key: poisoned[0]!, value: 'changed' },
          { key: poisoned[1]!, value: env?.unstorableValue },
          { key: poisoned[2]!, value: 'new' },
        ]);
      } catch {
        threw = true;
      }
      expect(threw, 'setMany with a refused value throws').toBe(true);
      expect(await store.get(poisoned[0]!), 'the first row is unchanged').toEqual({
        found: true,
        value: 'before',
        version: before.version,
      });
      expect(await store.get(poisoned[1]!), 'the refused row').toEqual({ found: false, version: 0 });
      expect(await store.get(poisoned[2]!), 'the row after it').toEqual({ found: false, version: 0 });
    },
  },
  getManyMixed: {
    group: 'batches',
    title: 'getMany answers found keys exactly; absent and deleted keys are missing or found: false',
    run: async (store, env) => {
      const [a, b, never, deleted] = [key(), key(), key(), key()];
      const va = await store.set(a, 'a');
      const vb = await store.set(b, { b: [1, 2] });
      await store.set(deleted, 'gone');
      const tomb = await store.delete(deleted);
      const result = await store.getMany([a, b, never, deleted]);
      expect(result.get(a), 'a').toEqual({ found: true, value: 'a', version: va.version });
      expect(result.get(b), 'b').toEqual({ found: true, value: { b: [1, 2] }, version: vb.version });
      const absent = (read: RecordRead<unknown> | undefined, versions: number[], what: string) => {
        if (read === undefined) return;
        expect(read.found, `${what}: found`).toBe(false);
        expect(versions, `${what}: version ${read.version}`).toContain(read.version);
      };
      absent(result.get(never), [0], 'never existed');
      absent(result.get(deleted), tombstones(env) ? [tomb.version] : [0], 'deleted');
      for (const k of result.keys()) expect([a, b, never, deleted], 'only keys asked for').toContain(k);
      expect((await store.getMany([])).size, 'getMany([])').toBe(0);
    },
  },

  // --------------------------------------------------------------------------------- concurrency
  concurrentSetsDistinctVersions: {
    group: 'concurrency',
    title: '16 concurrent sets of one key get distinct versions; the final get is the highest',
    run: async (store) => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => store.set(k, { writer: i })));
      const versions = results.map((result) => result.version);
      expect(new Set(versions).size, `distinct versions of ${versions.join(',')}`).toBe(16);
      const highest = Math.max(...versions);
      const writer = versions.indexOf(highest);
      expect(await store.get(k), 'the final get').toEqual({
        found: true,
        value: { writer },
        version: highest,
      });
    },
  },

  // -------------------------------------------------------------------------------- values, keys
  valuesRoundTrip: {
    group: 'values and keys',
    title: 'values round-trip exactly (nested objects, unicode, numbers, booleans, null inside objects)',
    run: async (store) => {
      const keys = SAMPLE_VALUES.map(() => key());
      const versions: number[] = [];
      for (const [i, value] of SAMPLE_VALUES.entries())
        versions.push((await store.set(keys[i]!, value)).version);
      for (const [i, value] of SAMPLE_VALUES.entries()) {
        expect(await store.get(keys[i]!), `value ${i}`).toEqual({ found: true, value, version: versions[i] });
      }
      const many = await store.getMany(keys);
      for (const [i, value] of SAMPLE_VALUES.entries()) {
        expect(many.get(keys[i]!), `getMany value ${i}`).toEqual({
          found: true,
          value,
          version: versions[i],
        });
      }
    },
  },
  hostileKeysRoundTrip: {
    group: 'values and keys',
    title:
      'hostile keys (injection, quotes, unicode, near-duplicates, 1000 chars) round-trip and stay distinct',
    run: async (store) => {
      const keys = hostileKeys();
      const versions: number[] = [];
      for (const [i, { key: k }] of keys.entries()) versions.push((await store.set(k, { i })).version);
      for (const [i, { key: k, label }] of keys.entries()) {
        expect(await store.get(k), label).toEqual({ found: true, value: { i }, version: versions[i] });
      }
      const many = await store.getMany(keys.map(({ key: k }) => k));
      for (const [i, { key: k, label }] of keys.entries()) {
        expect(many.get(k), `getMany: ${label}`).toEqual({ found: true, value: { i }, version: versions[i] });
      }
      for (const { key: k, label } of keys) {
        expect((await store.delete(k)).deleted, `delete: ${label}`).toBe(true);
        expect((await store.get(k)).found, `after delete: ${label}`).toBe(false);
      }
    },
  },
} satisfies Record<string, CheckSpec>;

/** The name of each check in `recordStoreChecks`. */
export type RecordStoreCheckName = keyof typeof specs;

/**
 * Every record-store check as a plain async function, by name: `await
 * recordStoreChecks.ifVersionConflict(store)`.
 */
export const recordStoreChecks: { readonly [K in RecordStoreCheckName]: RecordStoreCheck } =
  Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, spec.run])) as {
    readonly [K in RecordStoreCheckName]: RecordStoreCheck;
  };

/**
 * Registers the `RecordStore` conformance suite with vitest: one test per check, each on a fresh
 * store from `factory`, cleaned up and closed after the test.
 */
export function describeRecordStore(
  name: string,
  factory: () => RecordStore<unknown> | Promise<RecordStore<unknown>>,
  options: DescribeRecordStoreOptions = {},
): void {
  describe(`RecordStore conformance: ${name}`, () => {
    let store: RecordStore<unknown> | undefined;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(async () => {
      const opened = store;
      store = undefined;
      if (opened === undefined) return;
      try {
        await options.cleanup?.(opened);
      } finally {
        await opened.close?.();
      }
    });
    const env: RecordStoreCheckEnv = {
      supportsTombstoneVersions: options.supportsTombstoneVersions,
      ...('unstorableValue' in options ? { unstorableValue: options.unstorableValue } : {}),
    };
    const groups = new Map<string, [RecordStoreCheckName, CheckSpec][]>();
    for (const [checkName, spec] of Object.entries(specs) as [RecordStoreCheckName, CheckSpec][]) {
      groups.set(spec.group, [...(groups.get(spec.group) ?? []), [checkName, spec]]);
    }
    for (const [group, checks] of groups) {
      describe(group, () => {
        for (const [checkName, spec] of checks) {
          it(`${spec.title} [${checkName}]`, async () => {
            if (store === undefined) throw new Error('the factory did not give a store');
            await spec.run(store, env);
          });
        }
      });
    }
  });
}
