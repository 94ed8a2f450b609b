/**
 * The scripted tour `pnpm demo` runs against the running app, over HTTP: the four behaviours of the
 * article this project grew from — write-through with hits and misses, retry against injected
 * database failures, a version conflict answered with 412, batched writes — each shown by the
 * requests it sends and by the app's own stats (`GET /api/stats`). It resolves with the facts it saw,
 * so a test can hold it to them.
 */
import type { CacheStats } from '@writethrough/core';
import type { DemoEvent } from './app.js';

/** Options of `runTour`. */
export interface TourOptions {
  /** Where the app listens, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  /** Where each line goes. Default `console.log`. */
  readonly print?: (line: string) => void;
}

/** Where one read was answered, told from the cache's counters around it. */
export type Source = 'L1 hit' | 'L2 hit' | 'miss, database';

/** What the tour saw. */
export interface TourFacts {
  readonly writeThrough: {
    readonly created: number;
    readonly reads: readonly { path: string; status: number; source: Source }[];
    readonly notModified: number;
    readonly summary: readonly string[];
  };
  readonly retry: {
    readonly status: number;
    readonly retries: number;
    readonly failedStatus: number;
    readonly retryAfter: string | null;
    readonly readBack: unknown;
  };
  readonly conflict: {
    readonly statuses: readonly number[];
    readonly loserEtag: string | null;
    readonly winnerEtag: string | null;
    readonly patchStatus: number;
  };
  readonly batch: {
    readonly writes: number;
    readonly created: number;
    readonly batches: number;
    readonly batchedRows: number;
    readonly readBackL1Hits: number;
  };
  /** Wall time of the tour, ms. */
  readonly ms: number;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly ms: number;
}

interface StatsBody {
  caches: CacheStats[];
  events: DemoEvent[];
  responses: Record<string, number>;
}

/** Runs the tour against `baseUrl`; resolves with what it saw. */
export async function runTour(options: TourOptions): Promise<TourFacts> {
  const print = options.print ?? ((line: string) => console.log(line));
  const base = options.baseUrl.replace(/\/$/, '');
  const started = performance.now();

  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const t = performance.now();
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed, ms: performance.now() - t };
  };
  const stats = async (since = 0): Promise<StatsBody> => {
    const res = await fetch(`${base}/api/stats?since=${since}`);
    return (await res.json()) as StatsBody;
  };
  const cacheStats = (s: StatsBody, name: string): CacheStats => {
    const found = s.caches.find((c) => c.name === name);
    if (found === undefined) throw new Error(`no cache named ${name} in /api/stats`);
    return found;
  };
  const lastSeq = async (): Promise<number> => {
    const s = await stats();
    return s.events.at(-1)?.seq ?? 0;
  };
  /** A GET, and where the cache answered it from (the counters of `cache` before and after). */
  const read = async (cache: string, path: string, headers: Record<string, string> = {}) => {
    const before = cacheStats(await stats(), cache);
    const answer = await call('GET', path, undefined, headers);
    const after = cacheStats(await stats(), cache);
    const source: Source =
      after.l1.hits > before.l1.hits
        ? 'L1 hit'
        : after.l2.hits > before.l2.hits
          ? 'L2 hit'
          : 'miss, database';
    return { ...answer, source };
  };
  const line = (method: string, path: string, a: Answer, note = ''): void => {
    // Weak tags (Express's own, on the report and the bulk answer) say nothing about versions.
    const etag = a.headers.get('etag')?.startsWith('W/') ? null : a.headers.get('etag');
    print(
      `   ${`${method} ${path}`.padEnd(34)} ${String(a.status).padEnd(4)}${etag ? ` ETag ${etag}` : ''}` +
        `${note ? `  ${note}` : ''}  ${a.ms.toFixed(1)} ms`,
    );
  };

  // -------------------------------------------------------------------------------------------
  heading(print, '1. Write-through: the database first, then the cache; reads hit the cache');
  const ada = { name: 'Ada Lovelace', email: 'ada@example.com' };
  const put = await call('PUT', '/users/ada', ada);
  line('PUT', '/users/ada', put, `${statusText(put.status)}: committed to the database, then put in L1`);
  const reads: { path: string; status: number; source: Source }[] = [];
  for (const path of ['/users/ada', '/users/grace', '/users/grace', '/users/nobody', '/users/nobody']) {
    const r = await read('users', path);
    reads.push({ path, status: r.status, source: r.source });
    const why =
      path === '/users/grace' && r.source === 'miss, database'
        ? ' (seeded in the database behind the cache)'
        : path === '/users/nobody'
          ? r.source === 'L1 hit'
            ? ' (a cached absence)'
            : ' (the absence is cached too)'
          : '';
    line('GET', path, r, `${r.source}${why}`);
  }
  const cond = await call('GET', '/users/ada', undefined, { 'if-none-match': put.headers.get('etag') ?? '' });
  line('GET', '/users/ada', cond, `If-None-Match ${put.headers.get('etag')}: ${statusText(cond.status)}`);

  print('   a report built from many rows, cached as a whole response, tagged "users" and "products":');
  const summary: string[] = [];
  const report = async (note: string): Promise<Answer> => {
    const r = await call('GET', '/reports/summary');
    const xcache = r.headers.get('x-cache') ?? '?';
    summary.push(xcache);
    const b = r.body as { stockValue?: number };
    line('GET', '/reports/summary', r, `X-Cache ${xcache}, stock value ${b.stockValue}${note}`);
    return r;
  };
  await report('');
  await report('');
  const kb = await call('PUT', '/products/keyboard', { name: 'Keyboard', price: 59.9, stock: 120 });
  line('PUT', '/products/keyboard', kb, 'price 49.90 -> 59.90: tag "products" invalidated');
  await report(' (rendered again after the write)');
  const u1 = cacheStats(await stats(), 'users');
  print(
    `   users cache: ${u1.reads} reads, ${u1.l1.hits} L1 hits, ${u1.misses} misses to the database ` +
      `(hit ratio ${pct(u1.hitRatio)})`,
  );

  // -------------------------------------------------------------------------------------------
  heading(print, '2. Retry: transient database failures, retried with exponential backoff and full jitter');
  print('   the demo\'s fault switch makes the next 2 database writes of "users" fail (transient)');
  await call('POST', '/demo/faults', { resource: 'users', failNext: 2 });
  let since = await lastSeq();
  const retried = await call('PUT', '/users/ada', { ...ada, name: 'Ada King' });
  const retryEvents = (await stats(since)).events.filter((e) => e.kind === 'retry');
  for (const e of retryEvents) print(`     ${e.detail}`);
  line('PUT', '/users/ada', retried, `${statusText(retried.status)} after ${retryEvents.length} retries`);

  print('   now 4 failures in a row: more than the 4 tries the cache makes');
  await call('POST', '/demo/faults', { resource: 'users', failNext: 4 });
  since = await lastSeq();
  const failed = await call('PUT', '/users/ada', { ...ada, name: 'Lost write' });
  const failedRetries = (await stats(since)).events.filter((e) => e.kind === 'retry').length;
  line(
    'PUT',
    '/users/ada',
    failed,
    `${statusText(failed.status)}, Retry-After ${failed.headers.get('retry-after')} (after ${failedRetries + 1} tries)`,
  );
  await call('POST', '/demo/faults', { resource: 'users', failNext: 0 });
  const back = await read('users', '/users/ada');
  line('GET', '/users/ada', back, `${back.source}: ${JSON.stringify(back.body)}`);
  print('     the failed value never reached the cache: readers get the last committed one');

  // -------------------------------------------------------------------------------------------
  heading(print, '3. Versioned writes: If-Match becomes a compare-and-set in the database');
  const monitor = await call('GET', '/products/monitor');
  const v = monitor.headers.get('etag') ?? '';
  line('GET', '/products/monitor', monitor, 'both clients read this version');
  print(`   clients A and B send PUT /products/monitor with If-Match ${v} at the same time:`);
  const [a, b] = await Promise.all([
    call('PUT', '/products/monitor', { name: 'Monitor', price: 199, stock: 35 }, { 'if-match': v }),
    call('PUT', '/products/monitor', { name: 'Monitor', price: 249, stock: 35 }, { 'if-match': v }),
  ]);
  const winner = a!.status === 200 ? a! : b!;
  const loser = a!.status === 200 ? b! : a!;
  line('PUT', '/products/monitor', a!, `client A (price 199): ${statusText(a!.status)}`);
  line('PUT', '/products/monitor', b!, `client B (price 249): ${statusText(b!.status)}`);
  print(`     exactly one wins; the other gets 412 with the current ETag ${loser.headers.get('etag')}`);
  const patch = await call(
    'PATCH',
    '/products/monitor',
    { stock: 30 },
    { 'if-match': loser.headers.get('etag') ?? '' },
  );
  line('PATCH', '/products/monitor', patch, `the loser merges {"stock":30} on ${loser.headers.get('etag')}`);
  const p1 = cacheStats(await stats(), 'products');
  print(`   products cache: ${p1.conflicts} version conflict(s) counted`);

  // -------------------------------------------------------------------------------------------
  heading(print, '4. Batched writes: concurrent writes share one database statement');
  const ids = Array.from({ length: 40 }, (_, i) => `sku-${String(i + 1).padStart(2, '0')}`);
  const list = `/products?ids=${ids.join(',')}`;
  const absent = await call('GET', list);
  line(
    'GET',
    '/products?ids=sku-01,…,sku-40',
    absent,
    `${((absent.body as { missing?: unknown[] }).missing ?? []).length} missing: one database read for 40 keys, absences cached`,
  );
  const before = cacheStats(await stats(), 'products');
  since = await lastSeq();
  const bulk = Object.fromEntries(
    ids.map((id, i) => [id, { name: `Item ${i + 1}`, price: 5 + i, stock: 10 }]),
  );
  const posted = await call('POST', '/products', bulk);
  const after = cacheStats(await stats(), 'products');
  const sizes = (await stats(since)).events.filter((e) => e.kind === 'batch' && e.cache === 'products');
  const batches = after.batches - before.batches;
  const batchedRows = after.batchedRows - before.batchedRows;
  const created = ((posted.body as { items?: unknown[] }).items ?? []).length;
  line('POST', '/products (40 products)', posted, `${created} written: 40 concurrent cache.set() calls`);
  print(
    `     the batcher sent them as ${batches} setMany statement(s) carrying ${batchedRows} rows` +
      (sizes.length > 0 && sizes.length <= 12
        ? ` (rows each: ${sizes.map((e) => Number.parseInt(e.detail, 10)).join(', ')})`
        : ''),
  );
  const many = await read('products', list);
  const afterRead = cacheStats(await stats(), 'products');
  const items = (many.body as { items?: unknown[] }).items ?? [];
  line(
    'GET',
    '/products?ids=sku-01,…,sku-40',
    many,
    `${items.length} items, ${afterRead.l1.hits - after.l1.hits} from L1`,
  );

  // -------------------------------------------------------------------------------------------
  const final = await stats();
  heading(print, 'Stats (GET /api/stats; the page at / draws them live)');
  const row = (label: string, ...cells: string[]): void =>
    print(`   ${label.padEnd(26)}${cells.map((c) => c.padEnd(20)).join('')}`);
  const shown = ['users', 'products', 'http-tags'].map((n) => cacheStats(final, n));
  row('', ...shown.map((s) => s.name));
  row('reads', ...shown.map((s) => String(s.reads)));
  row('hit ratio (L1)', ...shown.map((s) => (s.reads ? `${pct(s.l1.hits / s.reads)}` : '-')));
  row('database reads', ...shown.map((s) => String(s.recordReads)));
  row('writes', ...shown.map((s) => String(s.writes)));
  row('write ms p50 / p99', ...shown.map((s) => latency(s.writeLatency)));
  row('retries', ...shown.map((s) => String(s.retries)));
  row('conflicts', ...shown.map((s) => String(s.conflicts)));
  row('batches (rows)', ...shown.map((s) => `${s.batches} (${s.batchedRows})`));
  row(
    'response cache',
    `${final.responses.hits} hits, ${final.responses.misses} misses, ${final.responses.stale} stale`,
  );
  const ms = performance.now() - started;
  print(`\n   tour done in ${(ms / 1000).toFixed(1)} s`);

  return {
    writeThrough: { created: put.status, reads, notModified: cond.status, summary },
    retry: {
      status: retried.status,
      retries: retryEvents.length,
      failedStatus: failed.status,
      retryAfter: failed.headers.get('retry-after'),
      readBack: back.body,
    },
    conflict: {
      statuses: [a!.status, b!.status],
      loserEtag: loser.headers.get('etag'),
      winnerEtag: winner.headers.get('etag'),
      patchStatus: patch.status,
    },
    batch: {
      writes: ids.length,
      created,
      batches,
      batchedRows,
      readBackL1Hits: afterRead.l1.hits - after.l1.hits,
    },
    ms,
  };
}

function heading(print: (line: string) => void, title: string): void {
  print('');
  print(title);
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    204: 'No Content',
    304: 'Not Modified',
    404: 'Not Found',
    412: 'Precondition Failed',
    503: 'Service Unavailable',
  };
  return texts[status] ?? String(status);
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function latency(l: CacheStats['writeLatency']): string {
  return l.count === 0 ? '-' : `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}`;
}
