/**
 * The nemesis: every fault a schedule can inject, each one injected, held, healed and confirmed
 * with evidence (a fault that did not take effect is reported unconfirmed, and fails the run).
 *
 * Proxy faults hit one instance's Redis data, Redis bus or Postgres connections; the others hit
 * the test-owned redis-server, the run's Postgres sessions, or an instance process.
 */
import { readFileSync } from 'node:fs';
import type { RedisServer } from '@writethrough/testing/tools';
import { type Rng, redisCommand, sleep } from '@writethrough/testing/tools';
import type pg from 'pg';
import type { InstanceHandle } from './instance-handle.js';
import type { InstanceStats } from './ipc.js';
import type { FaultProxy, ProxyMode, ProxyStats } from './proxy.js';

/** The three proxies of one instance. */
export interface InstanceProxies {
  readonly data: FaultProxy;
  readonly bus: FaultProxy;
  readonly pg: FaultProxy;
}

/** What a fault can act on. */
export interface FaultContext {
  readonly rng: Rng;
  readonly redis: RedisServer;
  readonly proxies: readonly InstanceProxies[];
  /** The running instances (replaced in place when one is restarted). */
  readonly instances: InstanceHandle[];
  /** The orchestrator's own Postgres pool (not proxied). */
  readonly admin: pg.Pool;
  /** Every session of the run's instances has an application_name starting with this. */
  readonly applicationPrefix: string;
  /** A snapshot file of the test-owned Redis, taken early in the fault phase. */
  snapshot: { file: string; keys: number } | undefined;
  /** Kills nothing: starts instance `i` again (incarnation + 1) and its clients. */
  restartInstance(i: number): Promise<InstanceHandle>;
  /** Every live instance's counters (also kept by the orchestrator for the verdict). */
  stats(): Promise<InstanceStats[]>;
  log(message: string): void;
}

/** The result of one fault. */
export interface FaultResult {
  readonly confirmed: boolean;
  readonly evidence: string;
}

/** One fault of a schedule. */
export interface Fault {
  /** The fault kind (`proxy-pg-blackhole`, `redis-pause`, `instance-kill`, ...). */
  readonly name: string;
  /** What it hits (`instance 1`, `redis`, ...). */
  readonly target: string;
  /** Injects, holds, heals; resolves with the evidence once healed. */
  run(ctx: FaultContext): Promise<FaultResult>;
}

/** The kinds every CI run injects at least once. */
export const PROXY_TARGETS = ['data', 'bus', 'pg'] as const;
export const PROXY_MODES = ['down', 'latency', 'blackhole', 'reset'] as const;
export const OTHER_KINDS = [
  'instance-kill',
  'instance-kill-cut',
  'redis-pause',
  'redis-restart-empty',
  'redis-restart-snapshot',
  'redis-flushall',
  'redis-client-kill-pubsub',
  'pg-terminate',
  'redis-maxmemory',
] as const;

export type ProxyTarget = (typeof PROXY_TARGETS)[number];
export type ProxyFaultMode = (typeof PROXY_MODES)[number];

/** Every fault kind's name. */
export function allFaultKinds(): string[] {
  const kinds: string[] = [];
  for (const target of PROXY_TARGETS) for (const mode of PROXY_MODES) kinds.push(`proxy-${target}-${mode}`);
  return [...kinds, ...OTHER_KINDS];
}

/** The fault of a kind, on a target instance (ignored by faults of the shared servers). */
export function makeFault(kind: string, instance: number, holdMs: number): Fault {
  const proxy = /^proxy-(data|bus|pg)-(down|latency|blackhole|reset)$/.exec(kind);
  if (proxy) return proxyFault(proxy[1] as ProxyTarget, proxy[2] as ProxyFaultMode, instance, holdMs);
  switch (kind) {
    case 'instance-kill':
      return instanceKill(instance, false);
    case 'instance-kill-cut':
      return instanceKill(instance, true);
    case 'redis-pause':
      return redisPause(holdMs);
    case 'redis-restart-empty':
      return redisRestart(false);
    case 'redis-restart-snapshot':
      return redisRestart(true);
    case 'redis-flushall':
      return redisFlushAll();
    case 'redis-client-kill-pubsub':
      return clientKillPubsub();
    case 'pg-terminate':
      return pgTerminate();
    case 'redis-maxmemory':
      return redisMaxmemory(holdMs);
    default:
      throw new Error(`unknown fault kind ${JSON.stringify(kind)}`);
  }
}

// ---------------------------------------------------------------------------------------------

function delta(after: ProxyStats, before: ProxyStats, field: keyof ProxyStats): number {
  return after[field] - before[field];
}

function proxyFault(target: ProxyTarget, mode: ProxyFaultMode, instance: number, holdMs: number): Fault {
  const what = { data: 'Redis data', bus: 'Redis bus', pg: 'Postgres' }[target];
  return {
    name: `proxy-${target}-${mode}`,
    target: `${what} proxy of instance ${instance}`,
    async run(ctx) {
      const proxy = ctx.proxies[instance]![target];
      const before = proxy.stats();
      const m: ProxyMode =
        mode === 'latency'
          ? { kind: 'latency', ms: 40 + Math.floor(ctx.rng.nextDouble() * 120), jitterMs: 30 }
          : { kind: mode };
      proxy.set(m);
      await sleep(holdMs);
      const held = proxy.stats();
      proxy.set({ kind: 'up' });
      const label = mode === 'latency' ? `latency ${(m as { ms: number }).ms}±30 ms` : mode;
      switch (mode) {
        case 'down': {
          const closed = delta(held, before, 'closed');
          const refused = delta(held, before, 'refused');
          return {
            confirmed: closed + refused > 0,
            evidence: `${label} ${holdMs} ms: ${closed} open connections closed, ${refused} new ones refused`,
          };
        }
        case 'reset': {
          const reset = delta(held, before, 'reset');
          return {
            confirmed: reset > 0,
            evidence: `${label} ${holdMs} ms: ${reset} connections reset (RST)`,
          };
        }
        case 'blackhole': {
          const dropped = delta(held, before, 'droppedBytes');
          return { confirmed: dropped > 0, evidence: `${label} ${holdMs} ms: ${dropped} bytes dropped` };
        }
        case 'latency': {
          const chunks = delta(held, before, 'delayedChunks');
          return { confirmed: chunks > 0, evidence: `${label} ${holdMs} ms: ${chunks} chunks delayed` };
        }
      }
    },
  };
}

/** The `crash` line the instance wrote before killing itself, if any. */
function crashLine(file: string): { key: string; version: number; op?: string; cut?: boolean } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"ev":"crash"')) continue;
    try {
      return JSON.parse(line) as { key: string; version: number; op?: string; cut?: boolean };
    } catch {}
  }
  return undefined;
}

async function withTimeout<T>(what: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      what,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `instance-kill`: the next commit of the instance kills it. `instance-kill-cut`: the next plain
 * `set` of the instance, once its `beginWrite` reached L2, has the instance's Redis data proxy cut
 * (down or blackhole, drawn from the seed) at its request, then its commit kills it: the write's
 * mark is left in L2 (reads go to the database until it expires) and only its outbox row is left
 * for another instance's relay (R3).
 */
function instanceKill(instance: number, cut: boolean): Fault {
  return {
    name: cut ? 'instance-kill-cut' : 'instance-kill',
    target: `instance ${instance}`,
    async run(ctx) {
      const handle = ctx.instances[instance]!;
      const data = ctx.proxies[instance]!.data;
      const mode: 'down' | 'blackhole' = cut && ctx.rng.nextDouble() >= 0.5 ? 'blackhole' : 'down';
      let before: ProxyStats | undefined;
      let cutKey: string | undefined;
      if (cut) {
        handle.onCutRedis = async (key) => {
          before = data.stats();
          cutKey = key;
          data.set({ kind: mode });
        };
      }
      await ctx.stats(); // the counters of the incarnation about to die
      await handle.request({ type: 'arm-crash', ...(cut ? { cut: true } : {}) });
      const exit = await withTimeout(handle.exited, 10_000);
      // Held until the process is gone: a dead writer's connections stay cut.
      const held = data.stats();
      let cutNote = '';
      let cutTookEffect = !cut;
      if (cut) {
        data.set({ kind: 'up' });
        handle.onCutRedis = undefined;
        if (before === undefined) {
          cutNote = ', Redis data never cut (no plain set began)';
        } else {
          // The process may die before it sends another byte to Redis: a blackhole is confirmed by
          // the open connections it swallowed at the cut (before the commit, which waited for it).
          const closed = delta(held, before, 'closed') + delta(held, before, 'refused');
          const dropped = delta(held, before, 'droppedBytes');
          cutTookEffect = mode === 'down' ? closed > 0 : before.open > 0;
          cutNote = `, Redis data proxy ${mode} after the beginWrite of ${cutKey} (${
            mode === 'down'
              ? `${closed} connections closed or refused`
              : `${before.open} open connections blackholed, ${dropped} bytes dropped`
          })`;
        }
      }
      let evidence: string;
      let confirmed = false;
      if (exit === undefined) {
        handle.kill('SIGKILL');
        await withTimeout(handle.exited, 5_000);
        evidence = 'no write committed within 10 s of arming: killed without a commit';
      } else {
        const crash = crashLine(handle.config.historyFile);
        confirmed = exit.signal === 'SIGKILL' && crash !== undefined;
        if (cut) confirmed &&= cutTookEffect && crash?.cut === true && crash.key === cutKey;
        evidence =
          crash === undefined
            ? `exited ${exit.code ?? exit.signal} without the crash line`
            : `SIGKILL after the commit of ${crash.key} v${crash.version}${crash.op ? ` (${crash.op})` : ''}, before its tier steps; exit signal ${exit.signal}`;
      }
      const next = await ctx.restartInstance(instance);
      return { confirmed, evidence: `${evidence}${cutNote}; restarted as incarnation ${next.incarnation}` };
    },
  };
}

function procState(pid: number | undefined): string {
  if (pid === undefined) return '?';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
  } catch {
    return '?';
  }
}

function redisPause(holdMs: number): Fault {
  return {
    name: 'redis-pause',
    target: 'redis',
    async run(ctx) {
      ctx.redis.pause();
      await sleep(100);
      const state = procState(ctx.redis.pid);
      const ping = await redisCommand(ctx.redis.port, ['PING'], { timeoutMs: 300 }).then(
        () => 'answered',
        () => 'no answer',
      );
      await sleep(Math.max(0, holdMs - 400));
      ctx.redis.resume();
      return {
        confirmed: state === 'T' && ping === 'no answer',
        evidence: `SIGSTOP ${holdMs} ms: process state ${state}, PING ${ping}; SIGCONT`,
      };
    },
  };
}

async function runId(redis: RedisServer): Promise<string> {
  const info = await redis.command('INFO', 'server');
  return /run_id:(\w+)/.exec(String(info))?.[1] ?? '?';
}

function instanceStats(ctx: FaultContext): Promise<InstanceStats[]> {
  return ctx.stats();
}

function sum(stats: readonly InstanceStats[], pick: (s: InstanceStats) => number | undefined): number {
  return stats.reduce((n, s) => n + (pick(s) ?? 0), 0);
}

function redisRestart(fromSnapshot: boolean): Fault {
  return {
    name: fromSnapshot ? 'redis-restart-snapshot' : 'redis-restart-empty',
    target: 'redis',
    async run(ctx) {
      const snapshot = ctx.snapshot;
      if (fromSnapshot && snapshot === undefined)
        return { confirmed: false, evidence: 'no snapshot was taken' };
      const restartsBefore = sum(await instanceStats(ctx), (s) => s.redisStore.restarts);
      const oldId = await runId(ctx.redis);
      const oldPid = ctx.redis.pid;
      await ctx.redis.kill();
      await sleep(300);
      await ctx.redis.restart(fromSnapshot ? { snapshot: snapshot!.file } : {});
      const newId = await runId(ctx.redis);
      const size = Number(await ctx.redis.command('DBSIZE'));
      // Every instance's store notices the new run_id when it reconnects, and clears the namespace.
      let restarts = 0;
      for (let i = 0; i < 40; i++) {
        await sleep(100);
        restarts = sum(await instanceStats(ctx), (s) => s.redisStore.restarts) - restartsBefore;
        if (restarts >= ctx.instances.length) break;
      }
      const killed = `SIGKILL pid ${oldPid} (run_id ${oldId.slice(0, 8)}), restarted ${fromSnapshot ? `from a snapshot of ${snapshot!.keys} keys` : 'empty'} (run_id ${newId.slice(0, 8)}, ${size} keys at start)`;
      const loaded = fromSnapshot ? size > 0 : true;
      return {
        confirmed: newId !== oldId && loaded && restarts > 0,
        evidence: `${killed}; ${restarts} stores detected the restart`,
      };
    },
  };
}

function redisFlushAll(): Fault {
  return {
    name: 'redis-flushall',
    target: 'redis',
    async run(ctx) {
      const before = sum(await instanceStats(ctx), (s) => s.bus.flushes);
      const size = Number(await ctx.redis.command('DBSIZE'));
      const reply = await ctx.redis.command('FLUSHALL');
      let flushes = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(100);
        flushes = sum(await instanceStats(ctx), (s) => s.bus.flushes) - before;
        if (flushes >= ctx.instances.length) break;
      }
      return {
        confirmed: reply === 'OK' && flushes > 0,
        evidence: `FLUSHALL of ${size} keys: ${String(reply)}; ${flushes} buses saw the epoch change`,
      };
    },
  };
}

function clientKillPubsub(): Fault {
  return {
    name: 'redis-client-kill-pubsub',
    target: 'redis',
    async run(ctx) {
      const before = sum(await instanceStats(ctx), (s) => s.bus.disconnects);
      const reply = await ctx.redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
      let disconnects = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(100);
        disconnects = sum(await instanceStats(ctx), (s) => s.bus.disconnects) - before;
        if (disconnects >= ctx.instances.length) break;
      }
      return {
        confirmed: typeof reply === 'number' && reply > 0 && disconnects > 0,
        evidence: `CLIENT KILL TYPE pubsub killed ${String(reply)} connections; ${disconnects} bus disconnects`,
      };
    },
  };
}

function pgTerminate(): Fault {
  return {
    name: 'pg-terminate',
    target: 'postgres sessions of the run',
    async run(ctx) {
      const result = await ctx.admin.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
        [`${ctx.applicationPrefix}%`],
      );
      const terminated = result.rows.filter((r) => r.ok).length;
      await sleep(500);
      return {
        confirmed: terminated > 0,
        evidence: `pg_terminate_backend on ${terminated} backends named ${ctx.applicationPrefix}*`,
      };
    },
  };
}

function infoField(info: unknown, field: string): number {
  return Number(new RegExp(`${field}:(\\d+)`).exec(String(info))?.[1] ?? Number.NaN);
}

function redisMaxmemory(holdMs: number): Fault {
  return {
    name: 'redis-maxmemory',
    target: 'redis',
    async run(ctx) {
      const memory = await ctx.redis.command('INFO', 'memory');
      const used = infoField(memory, 'used_memory');
      const dataset = infoField(memory, 'used_memory_dataset');
      const evictedBefore = infoField(await ctx.redis.command('INFO', 'stats'), 'evicted_keys');
      // Below what is used by half the dataset: every write now evicts (allkeys-lru).
      const limit = Math.max(used - Math.max(Math.floor(dataset / 2), 16_384), 65_536);
      const policy = await ctx.redis.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
      const set = await ctx.redis.command('CONFIG', 'SET', 'maxmemory', limit);
      await sleep(holdMs);
      const evicted = infoField(await ctx.redis.command('INFO', 'stats'), 'evicted_keys') - evictedBefore;
      await ctx.redis.command('CONFIG', 'SET', 'maxmemory', 0);
      return {
        confirmed: set === 'OK' && policy === 'OK' && evicted > 0,
        evidence: `maxmemory ${limit} B (used ${used} B) allkeys-lru for ${holdMs} ms: evicted_keys +${evicted}; restored to 0`,
      };
    },
  };
}
