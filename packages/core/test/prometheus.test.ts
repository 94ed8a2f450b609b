import { describe, expect, it } from 'vitest';
import { createCache, memoryRecords } from '../src/index.js';
import { cacheMetrics, renderPrometheus } from '../src/prometheus.js';

describe('prometheus metrics', () => {
  it('renders counters, ratios and latency quantiles per cache', async () => {
    const users = createCache({ name: 'users', records: memoryRecords<string>() });
    const orders = createCache({ name: 'orders', records: memoryRecords<string>() });
    await users.set('a', 'x');
    await users.get('a');
    await users.get('a');
    await orders.get('missing');
    const text = await renderPrometheus([users, orders]);
    expect(text).toContain('# TYPE writethrough_reads_total counter');
    expect(text).toContain('writethrough_reads_total{cache="users"} 2');
    expect(text).toContain('writethrough_writes_total{cache="users"} 1');
    expect(text).toContain('writethrough_tier_hits_total{cache="users",tier="l1"} 2');
    expect(text).toContain('writethrough_misses_total{cache="orders"} 1');
    expect(text).toContain('writethrough_hit_ratio{cache="users"} 1');
    expect(text).toMatch(/writethrough_write_latency_seconds\{cache="users",quantile="0.5"\} \d/);
  });

  it('reads fresh values at every scrape', async () => {
    const cache = createCache({ name: 'c', records: memoryRecords<number>() });
    const registry = cacheMetrics([cache], { prefix: 'app_' });
    await cache.set('a', 1);
    expect(await registry.metrics()).toContain('app_writes_total{cache="c"} 1');
    await cache.set('a', 2);
    expect(await registry.metrics()).toContain('app_writes_total{cache="c"} 2');
  });
});
