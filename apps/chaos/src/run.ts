/**
 * The orchestrator: `runSchedule(options)` sets up a run (a Postgres schema, a test-owned
 * redis-server, three fault proxies per instance, the instance processes), drives the load and
 * the schedule's faults, heals and quiesces, probes failed writes (K6) and dumps every tier (K4),
 * stops everything, checks the merged history (K1-K6 and the shadow verifier) and returns the
 * verdict. Everything it starts is stopped on the way out, also on SIGINT.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '@writethrough/postgres';
import { type RedisServer, Rng, sleep, startRedisServer } from '@writethrough/testing/tools';
import pg from 'pg';
import {
  checkConvergence,
  checkDurability,
  checkFailedWrites,
  checkLinearizability,
  checkLoads,
  checkStaleness,
  type FailedWriteProbe,
  type TierEntryDump,
  type TierSnapshot,
} from './check/index.js';
import { type FaultContext, type InstanceProxies, makeFault } from './faults.js';
import { clock, type FaultEvent, parseHistory, type WriteOp } from './history.js';
import { type HistoryWriter, openHistory } from './history-writer.js';
import { InstanceHandle } from './instance-handle.js';
import type { InstanceStats, L1Dump, PauseResult, PoisonResult } from './ipc.js';
import { startFaultProxy } from './proxy.js';
import { buildSchedule, type ScheduleName } from './schedules.js';
import { ENGINE_SETTINGS, type InstanceConfig, keySpace, type PgTarget } from './settings.js';
import { dumpPostgres, dumpRedis } from './tiers.js';
import { type ClockCheck, countOps, judge, type Verdict } from './verdict.js';
import { parseVerifier, verifierAgreement } from './verifier.js';

/** Options of `runSchedule`. */
export interface RunOptions {
  readonly schedule: ScheduleName;
  /** Drives the fault order and timing and every client's op choices; random when absent. */
  readonly seed?: number;
  /** Soak length (default 10). */
  readonly minutes?: number;
  /** Calm length (default 20). */
  readonly seconds?: number;
  /** The run directory (default a new one under the OS temp directory). */
  readonly out?: string;
  /** Keep the Postgres schema after the run. */
  readonly keep?: boolean;
  /** The shadow verifier's sample rate (default 0.25; 0 turns it off). */
  readonly verifySampleRate?: number;
  /** Engine guards to turn off in every instance (a mutant run that must fail). */
  readonly unsafeDisable?: readonly string[];
  readonly instances?: number;
  readonly clients?: number;
  /** Mean pause between two ops of a client (default 10 ms). */
  readonly thinkMs?: number;
  /** Postgres (default DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test). */
  readonly databaseUrl?: string;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Stop everything and exit 130 on SIGINT/SIGTERM (the CLI sets it). */
  readonly handleSignals?: boolean;
}

const TABLE = 'records';
const HOT_KEYS = 5;
const ZIPF_KEYS = 200;

function pgTargetOf(url: string): PgTarget {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
    user: decodeURIComponent(u.username) || 'postgres',
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

async function bounded<T>(what: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      what,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a schedule end to end and returns its verdict (never throws for a failed check; throws when the harness itself cannot run). */
export async function runSchedule(options: RunOptions): Promise<Verdict> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = options.log ?? (() => undefined);
  const instances = options.instances ?? 3;
  const clients = options.clients ?? 8;
  const sampleRate = options.verifySampleRate ?? 0.25;
  const unsafeDisable = options.unsafeDisable ?? [];
  const settings = ENGINE_SETTINGS;
  const started = Date.now();
  const base = process.hrtime.bigint();
  const now = clock(base);
  const rng = new Rng(seed);
  const schedule = buildSchedule(options.schedule, {
    instances,
    ...(options.seconds === undefined ? {} : { seconds: options.seconds }),
    ...(options.minutes === undefined ? {} : { minutes: options.minutes }),
  });
  const runDir = options.out ?? (await mkdtemp(join(tmpdir(), `wt-chaos-${options.schedule}-${seed}-`)));
  mkdirSync(runDir, { recursive: true });
  const url = options.databaseUrl ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `wt_chaos_${process.pid}_${seed}`;
  const applicationPrefix = `wtc_${process.pid}_${seed}_i`;
  const namespace = `wtc:${seed}:`;
  const { hotKeys, zipfKeys } = keySpace(HOT_KEYS, ZIPF_KEYS);
  const allKeys = [...hotKeys, ...zipfKeys];
  log(`chaos: schedule ${options.schedule}, seed ${seed}, history in ${runDir}`);
  writeFileSync(
    join(runDir, 'run.json'),
    `${JSON.stringify({ ...options, log: undefined, seed, schema, namespace, settings, base: String(base) }, null, 2)}\n`,
  );

  const cleanups: (() => Promise<unknown>)[] = [];
  const handles: InstanceHandle[] = [];
  const historyFiles: string[] = [];
  const clocks: ClockCheck[] = [];
  const statsByProcess = new Map<string, InstanceStats>();
  const faultsLog: HistoryWriter = openHistory(join(runDir, 'faults.ndjson'));
  historyFiles.push(join(runDir, 'faults.ndjson'));
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    for (const handle of handles) handle.kill('SIGKILL');
    for (const each of cleanups.reverse()) await each().catch(() => undefined);
    faultsLog.close();
  };
  const onSignal = (): void => {
    log('chaos: interrupted, stopping everything');
    void cleanup().finally(() => process.exit(130));
  };
  if (options.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  try {
    // Postgres: the run's schema, table with its outbox, and the trigger that refuses poison values.
    const admin = new pg.Pool({
      connectionString: url,
      max: 2,
      application_name: `wtc_admin_${process.pid}_${seed}`,
      connectionTimeoutMillis: 5_000,
    });
    admin.on('error', () => undefined);
    cleanups.push(() => admin.end());
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.query(`CREATE SCHEMA "${schema}"`);
    if (!options.keep) cleanups.push(() => admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    await migrate(admin, { schema, table: TABLE, outbox: true });
    await admin.query(`
      CREATE FUNCTION "${schema}".refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.value->>'w' LIKE 'poison%' THEN
          RAISE EXCEPTION 'chaos: poison value % refused', NEW.value->>'w' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON "${schema}"."${TABLE}"
        FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse_poison();`);

    // The test-owned Redis: an evicting policy (as the redis README asks) and RDB saves enabled.
    const redis: RedisServer = await startRedisServer({
      args: ['--maxmemory-policy', 'allkeys-lru', '--save', '3600 1'],
    });
    cleanups.push(() => redis.stop());

    const target = pgTargetOf(url);
    const proxies: InstanceProxies[] = [];
    for (let i = 0; i < instances; i++) {
      const redisTarget = { host: '127.0.0.1', port: redis.port };
      const p: InstanceProxies = {
        data: await startFaultProxy(redisTarget, { seed: seed + 3 * i }),
        bus: await startFaultProxy(redisTarget, { seed: seed + 3 * i + 1 }),
        pg: await startFaultProxy({ host: target.host, port: target.port }, { seed: seed + 3 * i + 2 }),
      };
      proxies.push(p);
      cleanups.push(() => Promise.all([p.data.close(), p.bus.close(), p.pg.close()]));
    }

    const incarnations: number[] = Array.from({ length: instances }, () => 0);
    let clientsRunning = false;
    const startInstance = async (i: number): Promise<InstanceHandle> => {
      const incarnation = incarnations[i]!;
      const historyFile = join(runDir, `i${i}.${incarnation}.ndjson`);
      historyFiles.push(historyFile);
      const config: InstanceConfig = {
        instance: i,
        incarnation,
        base: String(base),
        historyFile,
        pg: { ...target, host: '127.0.0.1', port: proxies[i]!.pg.port },
        applicationName: `${applicationPrefix}${i}`,
        schema,
        table: TABLE,
        redisDataPort: proxies[i]!.data.port,
        redisBusPort: proxies[i]!.bus.port,
        namespace,
        seed,
        clients,
        hotKeys,
        zipfKeys,
        zipfS: 0.99,
        hotFraction: 0.5,
        thinkMs: options.thinkMs ?? 10,
        verifySampleRate: sampleRate,
        unsafeDisable,
        settings,
      };
      const handle = await InstanceHandle.start(config, join(runDir, `i${i}.${incarnation}.log`));
      handles[i] = handle;
      // The child's clock must read between our send and our receipt: one monotonic clock for all.
      for (let n = 0; n < 3; n++) {
        const sent = now();
        const child = await handle.request<number>({ type: 'clock' }, 5_000);
        const received = now();
        clocks.push({
          instance: i,
          incarnation,
          sent,
          child,
          received,
          ok: sent <= child && child <= received,
        });
      }
      if (clientsRunning) await handle.request({ type: 'start' });
      return handle;
    };
    const fetchStats = async (): Promise<InstanceStats[]> => {
      const out: InstanceStats[] = [];
      for (const handle of handles) {
        const stats = await handle.request<InstanceStats>({ type: 'stats' }, 5_000).catch(() => undefined);
        if (stats === undefined) continue;
        statsByProcess.set(`${handle.instance}.${handle.incarnation}`, stats);
        out.push(stats);
      }
      return out;
    };

    log(`chaos: starting ${instances} instances (${clients} clients each)`);
    await Promise.all(Array.from({ length: instances }, (_, i) => startInstance(i)));
    clientsRunning = true;
    await Promise.all(handles.map((h) => h.request({ type: 'start' })));
    log(`chaos: load running; ${schedule.warmupMs} ms without faults`);
    await sleep(schedule.warmupMs);

    // The fault phase.
    const ctx: FaultContext = {
      rng,
      redis,
      proxies,
      instances: handles,
      admin,
      applicationPrefix,
      snapshot: undefined,
      restartInstance: async (i) => {
        incarnations[i] = incarnations[i]! + 1;
        return startInstance(i);
      },
      stats: fetchStats,
      log,
    };
    const faults: FaultEvent[] = [];
    const phaseStart = Date.now();
    for (;;) {
      const step = schedule.next(rng, Date.now() - phaseStart);
      if (step === undefined) break;
      if (ctx.snapshot === undefined) {
        const file = await redis.snapshot();
        ctx.snapshot = { file, keys: Number(await redis.command('DBSIZE')) };
      }
      const fault = makeFault(step.kind, step.instance, step.holdMs);
      const start = now();
      let result: { confirmed: boolean; evidence: string };
      try {
        result = await bounded(fault.run(ctx), 60_000, fault.name);
      } catch (error) {
        result = { confirmed: false, evidence: `the fault failed: ${(error as Error).message}` };
      }
      const event: FaultEvent = { name: fault.name, target: fault.target, start, end: now(), ...result };
      faults.push(event);
      faultsLog.line({ ev: 'fault', ...event });
      log(
        `chaos: ${fault.name} on ${fault.target}: ${result.confirmed ? 'confirmed' : 'NOT CONFIRMED'} — ${result.evidence}`,
      );
      await sleep(step.gapMs);
    }

    // Heal everything, let the load run on, then quiesce.
    for (const p of proxies) for (const each of [p.data, p.bus, p.pg]) each.set({ kind: 'up' });
    redis.resume();
    await redis.command('CONFIG', 'SET', 'maxmemory', 0).catch(() => undefined);
    for (let i = 0; i < instances; i++) {
      if (!handles[i]!.alive) {
        incarnations[i] = incarnations[i]! + 1;
        await startInstance(i);
      }
    }
    await sleep(schedule.recoveryMs);
    const pauses = await Promise.all(
      handles.map((h) => h.request<PauseResult>({ type: 'pause', timeoutMs: 10_000 }, 15_000)),
    );
    const hung = pauses.flatMap((p) => p.busyOps);
    const quiesceMs =
      2 * Math.max(settings.l1TtlMs, settings.markTtlMs) + settings.relayGraceMs + settings.relayIntervalMs;
    log(`chaos: clients paused; quiescing ${quiesceMs} ms`);
    await sleep(quiesceMs);

    // K6: a write the database refuses adds and changes no cache entry (it may remove the key's).
    const dumpCaches = async (): Promise<Omit<TierSnapshot, 'postgres'>> => {
      const l1 = new Map<number, Map<string, TierEntryDump>>();
      for (const handle of handles) {
        const dump = await handle.request<L1Dump>({ type: 'dump-l1', keys: [] });
        l1.set(handle.instance, new Map(Object.entries(dump)));
      }
      return { redis: await dumpRedis(redis.port, namespace, allKeys), l1 };
    };
    const probes: FailedWriteProbe[] = [];
    for (let i = 0; i < instances; i++) {
      for (const key of [hotKeys[i % hotKeys.length]!, zipfKeys[i]!]) {
        for (const handle of handles) await handle.request({ type: 'read', keys: [key] });
        const before = await dumpCaches();
        const handle = handles[i]!;
        const id = `poison.i${i}.${handle.incarnation}.${key}`;
        const result = await handle.request<PoisonResult>({ type: 'poison', key, id });
        const after = await dumpCaches();
        const write: WriteOp = {
          type: 'write',
          kind: 'set',
          id,
          instance: i,
          incarnation: handle.incarnation,
          client: clients,
          key,
          invoke: result.invoke,
          complete: result.complete,
          outcome: result.outcome,
          ...(result.error === undefined ? {} : { error: result.error }),
        };
        probes.push({ write, before, after });
      }
    }

    // K4 and K3: every tier, with the clients paused.
    const postgres = await dumpPostgres(admin, schema, TABLE);
    const caches = await dumpCaches();
    const snapshot: TierSnapshot = { postgres, ...caches };
    writeFileSync(
      join(runDir, 'final-tiers.json'),
      `${JSON.stringify(
        {
          postgres: Object.fromEntries(postgres),
          redis: Object.fromEntries(caches.redis),
          l1: Object.fromEntries([...caches.l1].map(([i, m]) => [i, Object.fromEntries(m)])),
        },
        null,
        1,
      )}\n`,
    );
    await fetchStats();
    log('chaos: stopping the instances');
    await Promise.all(handles.map((h) => h.stop()));

    // Check.
    const texts = historyFiles.map((f) => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    });
    const history = parseHistory(texts);
    log(`chaos: checking ${history.ops.length} operations`);
    const k1 = checkLinearizability(history);
    const k2 = checkStaleness(history);
    const k3 = checkDurability(history, postgres);
    const k4 = checkConvergence(snapshot);
    const k5 = checkLoads(history);
    const k6 = checkFailedWrites(probes);
    const stats = [...statsByProcess.values()];
    const verifier = verifierAgreement(parseVerifier(texts), k1.staleReadIds, {
      available: stats.some((s) => s.verifyAvailable),
      sampleRate,
      sampled: stats.reduce((n, s) => n + (s.verify?.sampled ?? 0), 0),
      errors: stats.reduce((n, s) => n + (s.verify?.errors ?? 0), 0),
    });
    const partial = {
      schedule: options.schedule,
      seed,
      runDir,
      durationMs: Date.now() - started,
      clocks,
      ops: countOps(history),
      k1,
      k2,
      k3,
      k4,
      k5,
      k6,
      verifier,
      faults,
      hung,
      unsafeDisable,
      onCacheError: settings.onCacheError,
    };
    const reasons = judge(partial);
    const ok = reasons.length === 0;
    const historyKept = !(ok && options.out === undefined && !options.keep);
    const verdict: Verdict = { ...partial, historyKept, ok, reasons };
    writeFileSync(
      join(runDir, 'verdict.json'),
      `${JSON.stringify(verdict, (_k, v) => (v instanceof Set ? [...v] : v === Number.POSITIVE_INFINITY ? 'Infinity' : v), 1)}\n`,
    );
    if (!historyKept) {
      // A clean run's history is not kept (a failed one always is).
      await rm(runDir, { recursive: true, force: true });
    }
    return verdict;
  } finally {
    await cleanup();
    if (options.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
