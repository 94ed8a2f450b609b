/** `pnpm demo`'s tour, run against the app on a free port over HTTP: the facts it must keep showing. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningDemo, startDemo } from '../src/server.ts';
import { runTour, type TourFacts } from '../src/tour.ts';

let running: RunningDemo;
let facts: TourFacts;
const lines: string[] = [];

beforeAll(async () => {
  running = await startDemo({ port: 0, faults: true, sampleMs: 60_000 });
  facts = await runTour({ baseUrl: running.url, print: (l) => lines.push(l) });
});

afterAll(async () => {
  await running?.close();
});

it('1: write-through, then hits and misses as the stats tell them', () => {
  expect(facts.writeThrough.created).toBe(201);
  expect(facts.writeThrough.reads.map((r) => `${r.path} ${r.status} ${r.source}`)).toEqual([
    '/users/ada 200 L1 hit',
    '/users/grace 200 miss, database',
    '/users/grace 200 L1 hit',
    '/users/nobody 404 miss, database',
    '/users/nobody 404 L1 hit',
  ]);
  expect(facts.writeThrough.notModified).toBe(304);
  expect(facts.writeThrough.summary).toEqual(['MISS', 'HIT', 'MISS']);
});

it('2: retries against injected failures, then 503 with Retry-After and the last committed value', () => {
  expect(facts.retry.status).toBe(200);
  expect(facts.retry.retries).toBe(2);
  expect(facts.retry.failedStatus).toBe(503);
  expect(facts.retry.retryAfter).toBe('1');
  expect(facts.retry.readBack).toEqual({ name: 'Ada King', email: 'ada@example.com' });
});

it('3: a race on one If-Match: one 200, one 412 with the winner’s ETag, then a PATCH on it', () => {
  expect([...facts.conflict.statuses].sort()).toEqual([200, 412]);
  expect(facts.conflict.loserEtag).toBe(facts.conflict.winnerEtag);
  expect(facts.conflict.patchStatus).toBe(200);
});

it('4: 40 concurrent writes committed in one statement, read back from L1', () => {
  expect(facts.batch.created).toBe(facts.batch.writes);
  expect(facts.batch.batchedRows).toBe(facts.batch.writes);
  expect(facts.batch.batches).toBe(1);
  expect(facts.batch.readBackL1Hits).toBe(facts.batch.writes);
});

it('prints every section and stays fast', () => {
  const text = lines.join('\n');
  for (const heading of ['1. Write-through', '2. Retry', '3. Versioned writes', '4. Batched writes', 'Stats'])
    expect(text).toContain(heading);
  expect(facts.ms).toBeLessThan(15_000);
});
