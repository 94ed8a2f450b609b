import 'reflect-metadata';
import { HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { type CacheStore, memoryRecords, memoryStore } from '@writethrough/core';
import { chaosCacheStore } from '@writethrough/testing';
import { describe, expect, it } from 'vitest';
import { WriteThroughHealthIndicator, WriteThroughModule } from '../src/index.ts';

describe('WriteThroughHealthIndicator with @nestjs/terminus', () => {
  it('is up with healthy caches, and down with a failing probe, cache by cache', async () => {
    const failing = chaosCacheStore(memoryStore() as CacheStore<unknown>);
    const l2 = failing.store;
    const moduleRef = await Test.createTestingModule({
      imports: [
        TerminusModule,
        WriteThroughModule.forRoot({
          caches: [
            { name: 'users', options: { records: memoryRecords() } },
            { name: 'flaky', options: { records: memoryRecords(), l1: false, l2, onCacheError: 'fail' } },
          ],
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    try {
      const health = moduleRef.get(HealthCheckService);
      const indicators = moduleRef.get(HealthIndicatorService);
      const writeThrough = moduleRef.get(WriteThroughHealthIndicator);
      const up = await health.check([
        () => writeThrough.isHealthy('writethrough', indicators, { probeKey: 'health' }),
      ]);
      expect(up.status).toBe('ok');
      expect(up.info?.writethrough).toMatchObject({
        status: 'up',
        users: { status: 'up', l1: true, pendingRepairs: 0 },
        flaky: { status: 'up', l1: false },
      });

      failing.chaos.throwAlways();
      const down = await health
        .check([() => writeThrough.isHealthy('writethrough', indicators, { probeKey: 'health' })])
        .catch((error: { response?: unknown }) => error.response);
      expect(down).toMatchObject({
        status: 'error',
        error: { writethrough: { status: 'down', flaky: { status: 'down' }, users: { status: 'up' } } },
      });
      // Only the caches asked for.
      const some = await writeThrough.isHealthy('users-only', indicators, { caches: ['users'] });
      expect(some).toEqual({
        'users-only': { status: 'up', users: { status: 'up', l1: true, pendingRepairs: 0 } },
      });
    } finally {
      await moduleRef.close();
    }
  });
});
