import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTour, type TourFacts } from '../src/tour.js';

async function tour(seed?: number): Promise<{ facts: TourFacts; lines: string[] }> {
  const lines: string[] = [];
  const facts = await runTour({ print: (line) => lines.push(line), ...(seed === undefined ? {} : { seed }) });
  return { facts, lines };
}

/** The output with every measured duration (3 decimals) masked and the padding squeezed: what must replay. */
function masked(lines: string[]): string {
  return lines
    .join('\n')
    .replace(/\d+\.\d{3}/g, '#')
    .replace(/ +/g, ' ');
}

describe('the demo tour', () => {
  it('shows the four behaviours with the facts they promise', async () => {
    const { facts, lines } = await tour();

    // 1. Basic write-through: written keys hit L1, a database-only row and an absent key miss once.
    expect(facts.basic.reads.map((r) => `${r.key}:${r.source}:${r.found}`)).toEqual([
      'user:1:l1:true',
      'user:1:l1:true',
      'user:2:l1:true',
      'user:3:database:true',
      'user:3:l1:true',
      'user:4:database:false',
      'user:4:l1:false',
    ]);
    expect(facts.basic.versions).toEqual([1, 2]);

    // 2. Retry: two transient failures, two backoff sleeps within the full-jitter ceilings.
    expect(facts.retry.retries.map((r) => r.attempt)).toEqual([1, 2]);
    for (const r of facts.retry.retries) {
      expect(r.delayMs).toBeGreaterThanOrEqual(0);
      expect(r.delayMs).toBeLessThanOrEqual(r.capMs);
    }
    expect(facts.retry.retries.map((r) => r.capMs)).toEqual([10, 20]);
    expect(facts.retry.randomRun.committed).toBe(20);
    expect(facts.retry.randomRun.retries).toBeGreaterThan(0);
    expect(facts.retry.permanent).toEqual({
      code: 'WT_RECORD_STORE',
      attempts: 1,
      readBack: { total: 99.99, items: 3 },
      readBackSource: 'database',
      newKeyAbsent: true,
    });

    // 3. Versioned writes: one conflict carrying the current version; an unknown outcome that committed.
    const v = facts.versioned;
    expect(v.conflict).toEqual({
      code: 'WT_VERSION_CONFLICT',
      expectedVersion: v.readVersion,
      currentVersion: v.writerAVersion,
    });
    expect(v.writerAVersion).toBeGreaterThan(v.readVersion);
    expect(v.unknown.code).toBe('WT_WRITE_OUTCOME_UNKNOWN');
    expect(v.unknown.readBack).toEqual(v.unknown.attempted);
    expect(v.unknown.readBackVersion).toBeGreaterThan(v.writerAVersion);
    expect(v.unknown.readBackSource).toBe('database');

    // 4. Batching: 64 concurrent sets in one setMany; the poison row isolated, the 15 others committed.
    const b = facts.batch;
    expect(b.setManyCalls).toBe(1);
    expect(b.batchSizes).toEqual([64]);
    expect(b.committed).toBe(64);
    expect(b.poisonCode).toBe('WT_RECORD_STORE');
    expect(b.poisonAbsent).toBe(true);
    expect(b.othersCommitted).toBe(15);
    expect(b.split[0]).toEqual({ rows: 16, ok: false });
    expect(b.split.filter((c) => c.rows === 1 && !c.ok)).toHaveLength(1);
    expect(b.split.filter((c) => c.ok).reduce((n, c) => n + c.rows, 0)).toBe(15);

    // The closing stats.
    const { users, events } = facts.stats;
    expect(users.conflicts).toBe(1);
    expect(users.unknownOutcomes).toBe(1);
    expect(users.retries).toBe(2 + facts.retry.randomRun.retries);
    expect(users.l1.hits).toBeGreaterThan(0);
    expect(users.readLatency.count).toBeGreaterThan(0);
    expect(users.readLatency.p50).toBeGreaterThan(0);
    expect(users.writeLatency.p99).toBeGreaterThanOrEqual(users.writeLatency.p50);
    expect(events.batches).toBe(2);
    expect(events.batchedRows).toBe(80);
    expect(events.writes).toBe(64 + 15);
    expect(facts.checkedReads).toBeGreaterThanOrEqual(20);

    const text = lines.join('\n');
    for (const heading of [
      '1. Basic write-through',
      '2. Retry',
      '3. Versioned writes',
      '4. Batched writes',
      'Stats',
    ]) {
      expect(text).toContain(heading);
    }
    expect(text).not.toMatch(/undefined|NaN/);
  });

  it('replays the same way from the same seed', async () => {
    const first = await tour(7);
    const second = await tour(7);
    expect(masked(second.lines)).toBe(masked(first.lines));
  });

  it('runs as `pnpm start` does and exits 0 on its own', () => {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Done.');
  });
});
