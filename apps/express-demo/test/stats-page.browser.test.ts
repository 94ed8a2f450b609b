/**
 * The stats page in real headless Chromium (Debian's, driven by playwright-core): the charts redraw
 * as traffic arrives, and the page's own buttons send requests that move them.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningDemo, startDemo } from '../src/server.ts';
import { chromiumPath } from './servers.ts';

let running: RunningDemo;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  running = await startDemo({ port: 0, faults: true, sampleMs: 250 });
  browser = await chromium.launch({
    executablePath: chromiumPath()!,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
});

/** What the page shows now: a chart's series paths and sample count, and a tile. */
async function snapshot(): Promise<{
  points: number;
  reads: string;
  readPath: string;
  writePath: string;
  reads$: string;
}> {
  return page.evaluate(() => {
    const svg = document.getElementById('chart-rate')!;
    const path = (name: string) => svg.querySelector(`path[data-series="${name}"]`)?.getAttribute('d') ?? '';
    return {
      points: Number(svg.dataset.points ?? 0),
      reads: document.getElementById('t-reads')!.textContent ?? '',
      readPath: path('reads/s'),
      writePath: path('writes/s'),
      reads$: document.querySelector('.legend[data-for="chart-rate"]')?.textContent ?? '',
    };
  });
}

it('draws the charts, and they change after traffic', async () => {
  await page.goto(`${running.url}/`);
  await page.waitForFunction(() => Number(document.getElementById('chart-rate')?.dataset.points ?? 0) >= 2);
  expect(await page.textContent('#mode')).toContain('PGlite (in memory)');
  const before = await snapshot();

  for (let i = 0; i < 20; i++) {
    await fetch(`${running.url}/users/browser-${i % 4}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `B${i}` }),
    });
    await fetch(`${running.url}/users/browser-${i % 4}`);
  }
  // Once the page has polled past the traffic: every write counted, and the throughput chart redrawn.
  await page.waitForFunction(
    (old) => {
      const svg = document.getElementById('chart-rate')!;
      const d = svg.querySelector('path[data-series="writes/s"]')?.getAttribute('d') ?? '';
      const writes = Number((document.getElementById('t-writes')!.textContent ?? '').replace(/\D/g, ''));
      return d !== old && /L/.test(d) && writes >= 20;
    },
    before.writePath,
    { timeout: 10_000 },
  );
  const after = await snapshot();
  expect(after.points).toBeGreaterThan(before.points);
  expect(after.writePath).not.toBe(before.writePath);

  // The hit-ratio chart got a line for L1 once reads arrived.
  const l1 = await page.getAttribute('#chart-hits path[data-series="L1"]', 'd');
  expect(l1).toMatch(/^M[\d.]+,[\d.]+/);
});

it('the page’s buttons send requests, and the read counter moves', async () => {
  const readsBefore = Number((await page.textContent('#t-reads'))!.replace(/\D/g, ''));
  await page.click('button[data-action="put"]');
  await page.waitForFunction(() =>
    /PUT \/users\/ada → 20[01]/.test(document.getElementById('answer')!.textContent ?? ''),
  );
  await page.click('button[data-action="burst"]');
  await page.waitForFunction(() => /×50/.test(document.getElementById('answer')!.textContent ?? ''));
  await page.waitForFunction(
    (n) => Number((document.getElementById('t-reads')!.textContent ?? '').replace(/\D/g, '')) >= n + 50,
    readsBefore,
    { timeout: 10_000 },
  );
  // A stale If-Match: the page remembers the first ETag it saw, which the next PUT makes stale.
  await page.click('button[data-action="put"]');
  await page.waitForFunction(() => /→ 200/.test(document.getElementById('answer')!.textContent ?? ''));
  await page.click('button[data-action="put-stale"]');
  await page.waitForFunction(() => /→ 412/.test(document.getElementById('answer')!.textContent ?? ''));
  await page.waitForFunction(() => document.getElementById('t-conflicts')!.textContent === '1', undefined, {
    timeout: 10_000,
  });
  await page.click('button[data-action="report"]');
  await page.waitForFunction(() =>
    /x-cache: (MISS|HIT)/.test(document.getElementById('answer')!.textContent ?? ''),
  );
});
