/**
 * `pnpm --filter express-demo load [-- --url http://127.0.0.1:3000 --seconds 20 --concurrency 8 --read-ratio 0.9]`
 * drives traffic at a running demo for a bounded time, so the stats page has something to draw:
 * mostly GETs of a small hot set of users and products (hits), some misses, PUTs, a few stale
 * If-Match writes (412) and reports. Loopback addresses only; at most 600 s and 64 workers.
 */
import { pathToFileURL } from 'node:url';

/** Options of `runLoad`. */
export interface LoadOptions {
  /** The app, on a loopback address. */
  readonly url: string;
  /** How long to run, s (1..600). Default 10. */
  readonly seconds?: number;
  /** Requests in flight (1..64). Default 8. */
  readonly concurrency?: number;
  /** Share of reads (0..1). Default 0.9. */
  readonly readRatio?: number;
  /** Told once a second. */
  readonly progress?: (line: string) => void;
}

/** What the load did. */
export interface LoadResult {
  readonly requests: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly failed: number;
  readonly seconds: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Throws unless `url` is http(s) on a loopback host. */
export function checkLoopback(url: string): URL {
  const u = new URL(url);
  const host = u.hostname;
  if (!(u.protocol === 'http:' || u.protocol === 'https:') || !(LOOPBACK.has(host) || /^127\./.test(host))) {
    throw new Error(
      `the load script only targets loopback addresses (127.0.0.0/8, localhost, [::1]), not ${url}`,
    );
  }
  return u;
}

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max)
    throw new Error(`${name} must be in ${min}..${max}`);
  return value;
}

/** Sends traffic to `url` for `seconds`; resolves with the counts. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const base = checkLoopback(options.url).toString().replace(/\/$/, '');
  const seconds = bounded('seconds', options.seconds ?? 10, 0.1, 600);
  const concurrency = Math.floor(bounded('concurrency', options.concurrency ?? 8, 1, 64));
  const readRatio = bounded('readRatio', options.readRatio ?? 0.9, 0, 1);
  const byStatus: Record<string, number> = {};
  let requests = 0;
  let failed = 0;
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const users = Array.from({ length: 20 }, (_, i) => `load-user-${i}`);
  const products = Array.from({ length: 20 }, (_, i) => `load-product-${i}`);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() ** 2 * list.length)]!;

  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    try {
      const res = await fetch(base + path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      return res;
    } catch {
      failed++;
      return undefined;
    } finally {
      requests++;
    }
  };
  const userBody = (id: string) => ({ name: `User ${id} ${Date.now() % 1000}` });
  const productBody = () => ({
    name: 'Load item',
    price: Math.round(Math.random() * 10_000) / 100,
    stock: 5,
  });

  // Every hot key exists before the reads start, so reads are hits after their first miss.
  await Promise.all(users.map((id) => send('PUT', `/users/${id}`, userBody(id))));
  await Promise.all(products.map((id) => send('PUT', `/products/${id}`, productBody())));

  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const r = Math.random();
      if (r < readRatio) {
        const roll = Math.random();
        if (roll < 0.45) await send('GET', `/users/${pick(users)}`);
        else if (roll < 0.9) await send('GET', `/products/${pick(products)}`);
        else if (roll < 0.95) await send('GET', `/users/absent-${Math.floor(Math.random() * 50)}`);
        else await send('GET', '/reports/summary');
      } else {
        const roll = Math.random();
        if (roll < 0.5) {
          const id = pick(users);
          await send('PUT', `/users/${id}`, userBody(id));
        } else if (roll < 0.9) await send('PUT', `/products/${pick(products)}`, productBody());
        else {
          // A stale If-Match: the version 1 is long gone, so the database refuses it (412).
          const id = pick(users);
          await send('PUT', `/users/${id}`, userBody(id), { 'if-match': '"1"' });
        }
      }
    }
  };
  const timer = options.progress
    ? setInterval(() => {
        const elapsed = (Date.now() - started) / 1000;
        options.progress?.(
          `   ${elapsed.toFixed(0)} s: ${requests} requests (${(requests / elapsed).toFixed(0)}/s)`,
        );
      }, 1_000)
    : undefined;
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    if (timer) clearInterval(timer);
  }
  return { requests, byStatus, failed, seconds: (Date.now() - started) / 1000 };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = arg('url') ?? process.env.EXPRESS_DEMO_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
  const seconds = Number(arg('seconds') ?? 20);
  const concurrency = Number(arg('concurrency') ?? 8);
  const readRatio = Number(arg('read-ratio') ?? 0.9);
  try {
    const ping = await fetch(`${checkLoopback(url).toString().replace(/\/$/, '')}/api/stats`).catch(
      () => undefined,
    );
    if (ping === undefined || !ping.ok) {
      console.error(
        `Nothing answers at ${url}. Start the app first (pnpm demo, or pnpm --filter express-demo start), or pass --url.`,
      );
      process.exit(1);
    }
    console.log(
      `load: ${seconds} s, ${concurrency} in flight, ${Math.round(readRatio * 100)}% reads, against ${url} (watch ${url}/)`,
    );
    const result = await runLoad({
      url,
      seconds,
      concurrency,
      readRatio,
      progress: (line) => console.log(line),
    });
    console.log(
      `done: ${result.requests} requests in ${result.seconds.toFixed(1)} s (${(result.requests / result.seconds).toFixed(0)}/s); ` +
        `statuses ${JSON.stringify(result.byStatus)}${result.failed ? `, ${result.failed} failed` : ''}`,
    );
  } catch (error) {
    console.error(`load: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
