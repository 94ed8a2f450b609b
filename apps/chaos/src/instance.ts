/**
 * One app instance of a chaos run, as its own Node process (forked by the orchestrator): memory
 * L1, Redis L2 and the Redis bus (each through its own fault proxy), Postgres with an outbox
 * (through a third proxy), the outbox relay, and `clients` Jepsen-style clients, each one
 * operation at a time. Every operation is an `invoke` and a `complete` line of this process's
 * history; record-store reads are `load-start`/`load-end` lines, shadow-verifier findings
 * `verify` lines. The orchestrator drives it over IPC (`ipc.ts`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  createCache,
  type DebugOptions,
  type EngineGuard,
  memoryStore,
  type RecordStore,
  type WriteThroughCache,
} from '@writethrough/core';
import { outboxRelay, postgresRecords } from '@writethrough/postgres';
import { redisBus, redisStore } from '@writethrough/redis';
import { Rng, sleep, ZipfSampler } from '@writethrough/testing/tools';
import pg from 'pg';
import type { TierEntryDump } from './check/index.js';
import { type ChaosValue, clock, type Outcome } from './history.js';
import { type HistoryWriter, openHistory } from './history-writer.js';
import type {
  CutDone,
  InstanceStats,
  L1Dump,
  Notice,
  PauseResult,
  PoisonResult,
  Reply,
  Request,
  RequestMessage,
} from './ipc.js';
import { errorMessage, errorName, setManyOutcome, writeOutcome } from './outcome.js';
import type { InstanceConfig } from './settings.js';

/** The context of one read: its op id (for `verify` lines and loads) and whether L1 answered it. */
interface OpContext {
  readonly id: string;
  l1Hit: boolean;
}

const config = JSON.parse(process.env.WT_CHAOS_CONFIG ?? 'null') as InstanceConfig | null;
if (config === null || process.send === undefined) {
  console.error('instance.ts is started by the chaos orchestrator (WT_CHAOS_CONFIG and IPC)');
  process.exit(2);
}
const send = (message: Reply | Notice): void => {
  process.send?.(message);
};
// The orchestrator is gone (it crashed or was interrupted): nobody will stop us.
process.on('disconnect', () => process.exit(1));

const { instance, incarnation, settings } = config;
const now = clock(BigInt(config.base));
const history: HistoryWriter = openHistory(config.historyFile);
const als = new AsyncLocalStorage<OpContext>();
const prefix = `i${instance}.${incarnation}`;

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

const pgConfig = {
  host: config.pg.host,
  port: config.pg.port,
  database: config.pg.database,
  user: config.pg.user,
  ...(config.pg.password === undefined ? {} : { password: config.pg.password }),
  application_name: config.applicationName,
  connectionTimeoutMillis: settings.pgConnectTimeoutMs,
  query_timeout: settings.pgQueryTimeoutMs,
  statement_timeout: settings.pgStatementTimeoutMs,
};
const pool = new pg.Pool({ ...pgConfig, max: settings.pgPoolMax });
pool.on('error', () => undefined);
const records = postgresRecords<ChaosValue>({
  client: pool,
  schema: config.schema,
  table: config.table,
  outbox: true,
});

let loadSeq = 0;
/** The record store the cache reads through: each read is logged per key (K5). */
function loggedRecords(inner: RecordStore<ChaosValue>): RecordStore<ChaosValue> {
  const logged = async <T>(keys: readonly string[], call: () => Promise<T>): Promise<T> => {
    const op = als.getStore()?.id;
    const ids = keys.map((key) => {
      const id = `${prefix}.L${++loadSeq}`;
      history.line({ ev: 'load-start', id, instance, incarnation, key, start: now(), ...(op ? { op } : {}) });
      return id;
    });
    let ok = false;
    try {
      const result = await call();
      ok = true;
      return result;
    } finally {
      const end = now();
      for (const id of ids) history.line({ ev: 'load-end', id, end, ok });
    }
  };
  const store: RecordStore<ChaosValue> = {
    get: (key, options) => logged([key], () => inner.get(key, options)),
    getMany: (keys, options) => logged(keys, () => inner.getMany(keys, options)),
    set: (key, value, options) => inner.set(key, value, options),
    setMany: (entries, options) => inner.setMany(entries, options),
    delete: (key, options) => inner.delete(key, options),
  };
  if (inner.settled) store.settled = inner.settled.bind(inner);
  if (inner.classifyError) store.classifyError = inner.classifyError.bind(inner);
  return store;
}

const l1 = memoryStore<ChaosValue>({ maxEntries: 10_000 });
const l2 = redisStore({
  url: `redis://127.0.0.1:${config.redisDataPort}`,
  namespace: config.namespace,
  timeoutMs: settings.redisTimeoutMs,
});
const bus = redisBus({
  url: `redis://127.0.0.1:${config.redisBusPort}`,
  namespace: config.namespace,
  heartbeatMs: settings.busHeartbeatMs,
  timeoutMs: settings.busTimeoutMs,
});

/** The op id of the plain `set` running in this async context (the cut kill picks one). */
const plainSet = new AsyncLocalStorage<string>();
/** `arm-crash`: the next commit kills the process. */
let crashArmed = false;
/** `arm-crash` with `cut`: the next plain set has Redis cut after its beginWrite. */
let cutArmed = false;
/** That set, once its cut is done: its commit kills the process. */
let cutOp: string | undefined;
let cutSeq = 0;
const cutWaiters = new Map<number, (done: CutDone) => void>();

/** Asks the orchestrator to cut this instance's Redis data proxy; resolves when it is cut. */
function requestCut(key: string): Promise<CutDone> {
  const cid = ++cutSeq;
  return new Promise<CutDone>((resolve) => {
    cutWaiters.set(cid, resolve);
    send({ type: 'cut-redis', cid, key });
  });
}

const debug: DebugOptions = {
  hooks: {
    afterBegin: async (info) => {
      const op = plainSet.getStore();
      if (!cutArmed || op === undefined) return;
      cutArmed = false;
      // beginWrite reached L2 (with 'fail-writes' a write that cannot is refused before the
      // database), so the cut leaves this write's mark there: the R3 case once the writer dies.
      const done = await bounded(requestCut(info.key), 5_000);
      if (done?.ok) cutOp = op;
    },
    afterCommit: (info) => {
      const op = plainSet.getStore();
      const cut = cutOp !== undefined && op === cutOp;
      if (!crashArmed && !cut) return;
      // Written synchronously before the kill: the orchestrator's evidence that the kill came
      // after this commit and before any tier step of it.
      history.line({
        ev: 'crash',
        instance,
        incarnation,
        key: info.key,
        version: info.version,
        at: now(),
        ...(cut ? { op, cut: true } : {}),
      });
      process.kill(process.pid, 'SIGKILL');
      return new Promise<void>(() => undefined);
    },
  },
  unsafeDisable: config.unsafeDisable as EngineGuard[],
};

const cacheOptions = {
  name: 'chaos',
  records: loggedRecords(records),
  l1,
  l2,
  bus,
  ttlMs: settings.ttlMs,
  l1TtlMs: settings.l1TtlMs,
  leaseTtlMs: settings.leaseTtlMs,
  markTtlMs: settings.markTtlMs,
  repairIntervalMs: settings.repairIntervalMs,
  breakerFailures: settings.breakerFailures,
  breakerOpenMs: settings.breakerOpenMs,
  retry: settings.retry,
  onCacheError: settings.onCacheError,
  instanceId: `${prefix}.${process.pid}`,
  debug,
};

/** The cache, with the shadow verifier when this core has it (an unknown option is refused at construction). */
function buildCache(): { cache: WriteThroughCache<ChaosValue>; verifyAvailable: boolean } {
  if (config!.verifySampleRate > 0) {
    try {
      const cache = createCache<ChaosValue>({
        ...cacheOptions,
        verify: { sampleRate: config!.verifySampleRate },
      } as Parameters<typeof createCache<ChaosValue>>[0]);
      return { cache, verifyAvailable: true };
    } catch (error) {
      if (!errorMessage(error).includes('verify')) throw error;
    }
  }
  return { cache: createCache<ChaosValue>(cacheOptions), verifyAvailable: false };
}
const { cache, verifyAvailable } = buildCache();

let tierErrors = 0;
cache.on('error', () => {
  tierErrors++;
});
cache.on('hit', (event) => {
  if (event.tier !== 'l1') return;
  const context = als.getStore();
  if (context !== undefined) context.l1Hit = true;
});
// The shadow verifier's finding, inside the read's async context (so the read's op id is known).
cache.on('stale', (event) => {
  history.line({
    ev: 'verify',
    id: als.getStore()?.id ?? null,
    instance,
    incarnation,
    key: event.key,
    returned: event.returned,
    current: event.current,
    reason: event.reason,
    tier: event.tier,
    at: now(),
  });
});

const relay = outboxRelay({
  records,
  cache,
  connect: () => new pg.Client(pgConfig),
  intervalMs: settings.relayIntervalMs,
  graceMs: settings.relayGraceMs,
  timeoutMs: settings.relayTimeoutMs,
  onError: () => undefined,
});

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

const allKeys = [...config.hotKeys, ...config.zipfKeys];
const zipf = new ZipfSampler(config.zipfKeys.length, config.zipfS);
let running = false;
let stopping = false;
let wake: (() => void) | undefined;
let woken = new Promise<void>((resolve) => {
  wake = resolve;
});
let opsDone = 0;
const busy = new Map<number, string>();

/** The seed of one client: the run's seed, the instance, its incarnation and the client. */
function clientSeed(client: number): number {
  let h = config!.seed >>> 0;
  for (const part of [instance, incarnation, client]) {
    h = Math.imul(h ^ (part + 0x9e3779b9), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}

function pickKey(rng: Rng): string {
  if (rng.nextDouble() < config!.hotFraction) {
    return config!.hotKeys[Math.floor(rng.nextDouble() * config!.hotKeys.length)]!;
  }
  return config!.zipfKeys[zipf.rankOf(rng.nextDouble())]!;
}

/** Writes an operation's invoke line (before the call starts); `at` defaults to now. */
function invoked(id: string, client: number, key: string, op: object, at = now()): void {
  history.line({ ev: 'invoke', id, instance, incarnation, client, key, invoke: at, ...op });
}

function complete(
  id: string,
  outcome: Outcome,
  extra: { value?: string | null; version?: number; tier?: 'l1' | 'other'; error?: unknown } = {},
): void {
  const line: Record<string, unknown> = { ev: 'complete', id, complete: now(), outcome };
  if (extra.value !== undefined) line.value = extra.value;
  if (extra.version !== undefined) line.version = extra.version;
  if (extra.tier !== undefined) line.tier = extra.tier;
  if (extra.error !== undefined) {
    line.error = errorName(extra.error);
    line.message = errorMessage(extra.error).slice(0, 200);
  }
  history.line(line);
}

/** One read through `getEntry`, recorded; returns the version seen (undefined for absent or failed). */
async function doRead(id: string, client: number, key: string): Promise<number | undefined> {
  invoked(id, client, key, { type: 'read', tier: 'other' });
  const context: OpContext = { id, l1Hit: false };
  try {
    const entry = await als.run(context, () => cache.getEntry(key));
    const tier = context.l1Hit ? 'l1' : 'other';
    if (entry === undefined) {
      complete(id, 'ok', { value: null, tier });
      return undefined;
    }
    complete(id, 'ok', { value: entry.value.w, version: entry.version, tier });
    return entry.version;
  } catch (error) {
    complete(id, 'fail', { error });
    return undefined;
  }
}

async function runClient(client: number): Promise<void> {
  const rng = new Rng(clientSeed(client));
  const seen = new Map<string, number>();
  let seq = 0;
  while (!stopping) {
    if (!running) {
      await woken;
      continue;
    }
    const id = `${prefix}.c${client}.${++seq}`;
    const r = rng.nextDouble();
    const key = pickKey(rng);
    busy.set(client, id);
    try {
      if (r < 0.45 || r >= 0.95) {
        const version = await doRead(id, client, key);
        if (version !== undefined) seen.set(key, version);
      } else if (r < 0.75 || (r >= 0.85 && r < 0.9)) {
        const cas = r >= 0.85;
        const ifVersion = cas ? (seen.get(key) ?? 0) : undefined;
        invoked(id, client, key, {
          type: 'write',
          kind: cas ? 'cas' : 'set',
          ...(ifVersion === undefined ? {} : { ifVersion }),
        });
        try {
          const { version } =
            ifVersion === undefined
              ? await plainSet.run(id, () => cache.set(key, { w: id }))
              : await cache.set(key, { w: id }, { ifVersion });
          complete(id, 'ok', { version });
          seen.set(key, version);
        } catch (error) {
          complete(id, writeOutcome(error), { error });
        }
      } else if (r < 0.85) {
        invoked(id, client, key, { type: 'write', kind: 'delete' });
        try {
          const { version, deleted } = await cache.delete(key);
          history.line({ ev: 'complete', id, complete: now(), outcome: 'ok', version, deleted });
          seen.set(key, version);
        } catch (error) {
          complete(id, writeOutcome(error), { error });
        }
      } else {
        // setMany of 2-3 distinct keys: one WriteOp per key, one transaction id.
        const size = 2 + Math.floor(rng.nextDouble() * 2);
        const keys = [key];
        for (let tries = 0; keys.length < size && tries < 20; tries++) {
          const k = pickKey(rng);
          if (!keys.includes(k)) keys.push(k);
        }
        const ids = keys.map((_, i) => `${id}.${i}`);
        const invoke = now();
        keys.forEach((k, i) => {
          invoked(ids[i]!, client, k, { type: 'write', kind: 'many', txn: id }, invoke);
        });
        try {
          const result = await cache.setMany(keys.map((k, i) => ({ key: k, value: { w: ids[i]! } })));
          keys.forEach((k, i) => {
            const version = result.get(k)?.version;
            complete(ids[i]!, 'ok', version === undefined ? {} : { version });
            if (version !== undefined) seen.set(k, version);
          });
        } catch (error) {
          keys.forEach((k, i) => {
            complete(ids[i]!, setManyOutcome(error, k), { error });
          });
        }
      }
    } finally {
      busy.delete(client);
      opsDone++;
    }
    const think = rng.nextDouble() * 2 * config!.thinkMs;
    if (think >= 1) await sleep(think);
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

const clients: Promise<void>[] = [];
function startClients(): void {
  running = true;
  wake?.();
  woken = new Promise<void>((resolve) => {
    wake = resolve;
  });
  if (clients.length === 0) {
    for (let c = 0; c < config!.clients; c++) clients.push(runClient(c));
  }
}

async function pauseClients(timeoutMs: number): Promise<PauseResult> {
  running = false;
  const deadline = Date.now() + timeoutMs;
  while (busy.size > 0 && Date.now() < deadline) await sleep(5);
  return { busy: busy.size, busyOps: [...busy.values()] };
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

let probeSeq = 0;

function dumpEntry(key: string): TierEntryDump | undefined {
  const entry = l1.inspect(key).entry;
  if (entry === undefined) return undefined;
  if (entry.kind === 'absent') return { kind: 'absent', version: entry.version };
  return { kind: 'value', w: entry.payload.w, version: entry.version };
}

async function poison(key: string, id: string): Promise<PoisonResult> {
  const invoke = now();
  invoked(id, config!.clients, key, { type: 'write', kind: 'set' }, invoke);
  try {
    const { version } = await cache.set(key, { w: id });
    const done = now();
    complete(id, 'ok', { version });
    return { outcome: 'ok', invoke, complete: done };
  } catch (error) {
    const outcome = writeOutcome(error);
    const done = now();
    complete(id, outcome, { error });
    return { outcome, error: errorName(error), message: errorMessage(error), invoke, complete: done };
  }
}

function stats(): InstanceStats {
  const s = cache.stats() as ReturnType<typeof cache.stats> & { verify?: InstanceStats['verify'] };
  return {
    ops: opsDone,
    opsInFlight: busy.size,
    ...(s.verify === undefined ? {} : { verify: s.verify }),
    verifyAvailable,
    redisStore: { ...l2.stats },
    bus: { ...bus.stats },
    relay: { ...relay.stats },
    cache: { l1Hits: s.l1.hits, l2Hits: s.l2.hits, busDisconnects: s.busDisconnects },
    tierErrors,
  };
}

async function bounded<T>(what: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([what, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function stop(): Promise<void> {
  stopping = true;
  running = false;
  wake?.();
  await bounded(Promise.all(clients), 5_000);
  await bounded(relay.close(), 3_000).catch(() => undefined);
  await bounded(cache.close(), 3_000).catch(() => undefined);
  await bounded(records.close(), 2_000).catch(() => undefined);
  await bounded(Promise.all([l2.close(), bus.close()]), 2_000).catch(() => undefined);
  await bounded(pool.end(), 2_000).catch(() => undefined);
  history.close();
}

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case 'clock':
      return now();
    case 'start':
      startClients();
      return null;
    case 'pause':
      return pauseClients(request.timeoutMs);
    case 'arm-crash':
      if (request.cut) cutArmed = true;
      else crashArmed = true;
      return null;
    case 'read': {
      const versions: Record<string, number | null> = {};
      for (const key of request.keys) {
        versions[key] =
          (await doRead(`${prefix}.c${config!.clients}.r${++probeSeq}`, config!.clients, key)) ?? null;
      }
      return versions;
    }
    case 'dump-l1': {
      const out: L1Dump = {};
      for (const key of request.keys.length === 0 ? allKeys : request.keys) {
        const entry = dumpEntry(key);
        if (entry !== undefined) out[key] = entry;
      }
      return out;
    }
    case 'poison':
      return poison(request.key, request.id);
    case 'stats':
      return stats();
    case 'stop':
      await stop();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (message: RequestMessage | CutDone) => {
  if (message.type === 'cut-done') {
    cutWaiters.get(message.cid)?.(message);
    cutWaiters.delete(message.cid);
    return;
  }
  handle(message).then(
    (result) => send({ rid: message.rid, ok: true, result }),
    (error: unknown) => send({ rid: message.rid, ok: false, error: errorMessage(error) }),
  );
});

// Ready once the stack answers: a read through every tier of one key.
try {
  await l2.ready();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await cache.getEntry(config.hotKeys[0]!);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'fatal', error: errorMessage(error) });
  process.exit(1);
}
