import { describe, expect, it } from 'vitest';
import {
  CacheAside,
  decodeEntry,
  encodeEntry,
  type KeyValue,
  NoCache,
  ReadThrough,
  type Row,
  type Table,
  type VersionedRow,
  WriteBack,
  WriteBackQueue,
} from '../src/baselines.js';

/** An in-memory cache with a manual clock for times to live; `log` records each call. */
class FakeCache implements KeyValue {
  now = 0;
  readonly entries = new Map<string, { text: string; expiresAt: number }>();
  readonly log: string[] = [];

  async get(key: string): Promise<string | null> {
    this.log.push(`get ${key}`);
    const e = this.entries.get(key);
    if (e === undefined || e.expiresAt <= this.now) return null;
    return e.text;
  }
  async set(key: string, text: string, ttlMs?: number): Promise<void> {
    this.log.push(`set ${key} ${text}${ttlMs === undefined ? '' : ` px ${ttlMs}`}`);
    this.entries.set(key, {
      text,
      expiresAt: ttlMs === undefined ? Number.POSITIVE_INFINITY : this.now + ttlMs,
    });
  }
  async setIfAbsent(key: string, text: string): Promise<boolean> {
    this.log.push(`setnx ${key} ${text}`);
    const e = this.entries.get(key);
    if (e !== undefined && e.expiresAt > this.now) return false;
    this.entries.set(key, { text, expiresAt: Number.POSITIVE_INFINITY });
    return true;
  }
  async del(key: string): Promise<void> {
    this.log.push(`del ${key}`);
    this.entries.delete(key);
  }
  async bump(key: string, w: string): Promise<number | undefined> {
    this.log.push(`bump ${key} ${w}`);
    const e = this.entries.get(key);
    if (e === undefined || e.expiresAt <= this.now) return undefined;
    const version = decodeEntry(e.text).version + 1;
    this.entries.set(key, { text: encodeEntry({ w, version }), expiresAt: e.expiresAt });
    return version;
  }
}

/** An in-memory table; `hold` makes the next select wait until released (to order a race). */
class FakeTable implements Table {
  readonly rows = new Map<string, Row>();
  readonly log: string[] = [];
  readonly batches: VersionedRow[][] = [];
  failNextWrite = false;
  #held: { resolve: () => void; promise: Promise<void> } | undefined;

  hold(): () => void {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.#held = { resolve, promise };
    return resolve;
  }

  async select(key: string): Promise<Row | undefined> {
    this.log.push(`select ${key}`);
    const row = this.rows.get(key);
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) await held.promise;
    return row;
  }
  async upsert(key: string, w: string): Promise<number> {
    this.log.push(`upsert ${key} ${w}`);
    const version = (this.rows.get(key)?.version ?? 0) + 1;
    this.rows.set(key, { w, version });
    return version;
  }
  async writeRows(rows: readonly VersionedRow[]): Promise<void> {
    if (this.failNextWrite) {
      this.failNextWrite = false;
      throw new Error('connection lost');
    }
    this.batches.push([...rows]);
    for (const row of rows) {
      const current = this.rows.get(row.key);
      if (current === undefined || current.version < row.version)
        this.rows.set(row.key, { w: row.w, version: row.version });
    }
  }
}

const seeded = (...keys: string[]) => {
  const table = new FakeTable();
  for (const key of keys) table.rows.set(key, { w: `seed.${key}`, version: 1 });
  return table;
};

describe('cache entries', () => {
  it('encode a row as `<version>:<w>` and decode it back (a `:` in w included)', () => {
    expect(encodeEntry({ w: 'i0.0.c1.5', version: 7 })).toBe('7:i0.0.c1.5');
    expect(decodeEntry('7:a:b')).toEqual({ w: 'a:b', version: 7 });
    expect(() => decodeEntry('garbage')).toThrow(/malformed/);
    expect(() => decodeEntry(':x')).toThrow(/malformed/);
  });
});

describe('NoCache', () => {
  it('reads and writes the table only', async () => {
    const table = seeded('k');
    const p = new NoCache(table);
    expect(await p.read('k')).toEqual({ w: 'seed.k', version: 1, source: 'db' });
    expect(await p.write('k', 'w1')).toEqual({ version: 2 });
    expect(await p.read('absent')).toEqual({ w: null, version: undefined, source: 'db' });
  });
});

describe('CacheAside', () => {
  it('fills a miss with a time to live, then answers from the cache', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new CacheAside(kv, table, 2_000);
    expect(await p.read('k')).toEqual({ w: 'seed.k', version: 1, source: 'db' });
    expect(kv.log).toEqual(['get k', 'set k 1:seed.k px 2000']);
    expect(await p.read('k')).toEqual({ w: 'seed.k', version: 1, source: 'cache' });
    expect(table.log).toEqual(['select k']);
  });

  it('writes the table, then deletes the entry; the next read loads the new row', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new CacheAside(kv, table, 2_000);
    await p.read('k');
    expect(await p.write('k', 'w1')).toEqual({ version: 2 });
    expect([...table.log, ...kv.log].filter((l) => l.startsWith('upsert') || l.startsWith('del'))).toEqual([
      'upsert k w1',
      'del k',
    ]);
    expect(kv.entries.has('k')).toBe(false);
    expect(await p.read('k')).toMatchObject({ w: 'w1', version: 2, source: 'db' });
  });

  it('does not cache an absent row', async () => {
    const kv = new FakeCache();
    const p = new CacheAside(kv, new FakeTable(), 2_000);
    expect(await p.read('nope')).toEqual({ w: null, version: undefined, source: 'db' });
    expect(kv.entries.size).toBe(0);
  });

  it('leaves a stale entry when a fill loaded before a write lands after its delete (the race it cannot close)', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new CacheAside(kv, table, 2_000);
    const release = table.hold();
    const reading = p.read('k'); // loads version 1, held before its fill
    await Promise.resolve();
    await p.write('k', 'w1'); // version 2 committed, entry deleted (there was none)
    release();
    expect(await reading).toMatchObject({ version: 1 });
    expect(await p.read('k')).toEqual({ w: 'seed.k', version: 1, source: 'cache' });
    kv.now += 2_000; // until the entry expires
    expect(await p.read('k')).toMatchObject({ w: 'w1', version: 2 });
  });
});

describe('ReadThrough', () => {
  it('loads a missing key once for concurrent readers of a process', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new ReadThrough(kv, table, 5_000);
    const reads = await Promise.all([p.read('k'), p.read('k'), p.read('k')]);
    expect(reads.map((r) => r.version)).toEqual([1, 1, 1]);
    expect(table.log).toEqual(['select k']);
    expect(kv.log).toContain('set k 1:seed.k px 5000');
  });

  it('writes the table only: readers see the old entry until it expires', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new ReadThrough(kv, table, 5_000);
    await p.read('k');
    expect(await p.write('k', 'w1')).toEqual({ version: 2 });
    expect(kv.log.some((l) => l.startsWith('del'))).toBe(false);
    expect(await p.read('k')).toEqual({ w: 'seed.k', version: 1, source: 'cache' });
    kv.now += 5_000;
    expect(await p.read('k')).toEqual({ w: 'w1', version: 2, source: 'db' });
  });

  it('loads again after a failed load', async () => {
    const table = seeded('k');
    const failing: Table = {
      ...table,
      select: () => Promise.reject(new Error('down')),
      upsert: table.upsert,
      writeRows: table.writeRows,
    };
    const kv = new FakeCache();
    await expect(new ReadThrough(kv, failing, 1_000).read('k')).rejects.toThrow('down');
    const p = new ReadThrough(kv, table, 1_000);
    expect(await p.read('k')).toMatchObject({ version: 1 });
  });
});

describe('WriteBackQueue', () => {
  it('keeps one row per key, the highest version, and hands rows out oldest key first', () => {
    const q = new WriteBackQueue();
    q.add('a', 'w1', 2);
    q.add('b', 'w2', 5);
    q.add('a', 'w3', 3);
    q.add('a', 'old', 1);
    expect(q.size).toBe(2);
    expect(q.take(1)).toEqual([{ key: 'a', w: 'w3', version: 3 }]);
    expect(q.take(10)).toEqual([{ key: 'b', w: 'w2', version: 5 }]);
    expect(q.size).toBe(0);
    expect(q.take(10)).toEqual([]);
  });
});

describe('WriteBack', () => {
  const noTimer = { flushMs: 0, maxBatch: 3 };

  it('acknowledges a write once the cache holds it: the table is written only by the flush', async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    const p = new WriteBack(kv, table, noTimer);
    expect(await p.write('k', 'w1')).toEqual({ version: 2 });
    expect(await p.write('k', 'w2')).toEqual({ version: 3 });
    expect(table.rows.get('k')).toEqual({ w: 'seed.k', version: 1 });
    expect(await p.read('k')).toEqual({ w: 'w2', version: 3, source: 'cache' });
    await p.flush();
    expect(table.rows.get('k')).toEqual({ w: 'w2', version: 3 });
    expect(table.batches).toEqual([[{ key: 'k', w: 'w2', version: 3 }]]);
  });

  it("takes a missing key's version from the table, and a fill never replaces a newer write", async () => {
    const kv = new FakeCache();
    const table = seeded('k');
    table.rows.set('k', { w: 'old', version: 41 });
    const p = new WriteBack(kv, table, noTimer);
    expect(await p.write('k', 'w1')).toEqual({ version: 42 });
    expect(kv.log).toContain('setnx k 41:old');
    expect(await p.read('k')).toMatchObject({ w: 'w1', version: 42 });
    expect(await p.write('new', 'w2')).toEqual({ version: 1 });
  });

  it('flushes in batches of maxBatch rows, starting at once when a batch is full', async () => {
    const kv = new FakeCache();
    const table = seeded('a', 'b', 'c', 'd');
    const p = new WriteBack(kv, table, noTimer);
    for (const key of ['a', 'b', 'c', 'd']) await p.write(key, `w-${key}`);
    await p.flush();
    expect(table.batches.map((b) => b.map((r) => r.key))).toEqual([['a', 'b', 'c'], ['d']]);
    expect(p.flushed).toBe(4);
    expect(p.flushes).toBe(2);
  });

  it('flushes again after a flush of an empty queue', async () => {
    const table = seeded('k');
    const p = new WriteBack(new FakeCache(), table, noTimer);
    await p.flush();
    await p.write('k', 'w1');
    await p.flush();
    expect(table.rows.get('k')).toMatchObject({ w: 'w1' });
  });

  it('queues a failed batch again, and close drains the queue', async () => {
    const table = seeded('k');
    const p = new WriteBack(new FakeCache(), table, noTimer);
    await p.write('k', 'w1');
    table.failNextWrite = true;
    await expect(p.flush()).rejects.toThrow('connection lost');
    expect(p.queue.size).toBe(1);
    await p.close();
    expect(table.rows.get('k')).toEqual({ w: 'w1', version: 2 });
  });

  it('loses what is queued when the process goes away without a flush (the kill)', async () => {
    const table = seeded('k', 'j');
    const p = new WriteBack(new FakeCache(), table, noTimer);
    await p.write('k', 'w1');
    await p.flush();
    await p.write('k', 'w2');
    await p.write('j', 'w3');
    // No close: the queue dies with the process.
    expect(table.rows.get('k')).toEqual({ w: 'w1', version: 2 });
    expect(table.rows.get('j')).toEqual({ w: 'seed.j', version: 1 });
    expect(p.queue.size).toBe(2);
  });

  it('flushes on its timer', async () => {
    const table = seeded('k');
    const p = new WriteBack(new FakeCache(), table, { flushMs: 5, maxBatch: 100 });
    try {
      await p.write('k', 'w1');
      for (let i = 0; i < 100 && table.batches.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(table.rows.get('k')).toMatchObject({ w: 'w1', version: 2 });
    } finally {
      await p.close();
    }
  });
});
