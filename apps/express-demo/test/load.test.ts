/** The load script: bounded, loopback only, and every request answered. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkLoopback, runLoad } from '../src/load.ts';
import { type RunningDemo, startDemo } from '../src/server.ts';

let running: RunningDemo;

beforeAll(async () => {
  running = await startDemo({ port: 0, sampleMs: 60_000 });
});

afterAll(async () => {
  await running?.close();
});

it('drives reads and writes for the time asked, and stops', async () => {
  const result = await runLoad({ url: running.url, seconds: 1, concurrency: 4 });
  expect(result.failed).toBe(0);
  expect(result.seconds).toBeLessThan(5);
  expect(result.byStatus['200']).toBeGreaterThan(10);
  expect(Object.keys(result.byStatus).every((s) => ['200', '201', '404', '412'].includes(s))).toBe(true);
  expect(running.demo.users.stats().l1.hits).toBeGreaterThan(0);
});

it('refuses anything but loopback, and unbounded runs', async () => {
  expect(() => checkLoopback('http://10.0.0.1:3000')).toThrow(/loopback/);
  expect(() => checkLoopback('http://example.com')).toThrow(/loopback/);
  expect(checkLoopback('http://127.0.0.1:3000').hostname).toBe('127.0.0.1');
  expect(checkLoopback('http://[::1]:3000').hostname).toBe('[::1]');
  await expect(runLoad({ url: running.url, seconds: 601 })).rejects.toThrow(/seconds/);
  await expect(runLoad({ url: running.url, concurrency: 1_000 })).rejects.toThrow(/concurrency/);
});
