/**
 * The parts of `@writethrough/core` the benchmarks use, loaded once and checked by name, so a
 * benchmark whose factory is not exported yet is reported as "not available" instead of failing
 * the whole run. The shapes below are the few methods the benchmarks call.
 */
import type { Lookup, RecordStore, TierEntry } from '@writethrough/core';

export interface BenchTier {
  getSync(key: string, options: { leaseTtlMs: number }): Lookup<unknown>;
  fill(key: string, token: string, entry: TierEntry<unknown>, ttlMs: number): Promise<boolean>;
  fillSync?(key: string, token: string, entry: TierEntry<unknown>, ttlMs: number): boolean;
  clear(): Promise<void>;
  close(): Promise<void>;
}

export interface BenchCache<V> {
  get(key: string): Promise<V | undefined>;
  set(key: string, value: V): Promise<unknown>;
  close?(): Promise<void>;
}

export interface BenchRecords<V> extends RecordStore<V> {
  setFaults?(patch: { latencyMs?: number }): void;
  /** Calls that reached the store, per operation (memoryRecords counts them). */
  readonly calls?: { readonly get: number; readonly set: number; readonly setMany: number };
}

export interface CacheConfig<V> {
  readonly name: string;
  readonly records: RecordStore<V>;
  readonly l1: BenchTier;
  readonly batch?: { readonly maxSize: number; readonly maxWaitMs: number } | false;
}

export interface Core {
  readonly memoryStore?: ((options: { maxEntries: number; maxLeases?: number }) => BenchTier) | undefined;
  readonly memoryRecords?:
    | (<V>(options?: { latencyMs?: number; seed?: number }) => BenchRecords<V>)
    | undefined;
  readonly createCache?: (<V>(options: CacheConfig<V>) => BenchCache<V>) | undefined;
  /** The export names found, for the report. */
  readonly exports: readonly string[];
}

let loaded: Core | undefined;

export async function loadCore(): Promise<Core> {
  if (loaded !== undefined) return loaded;
  const mod = (await import('@writethrough/core')) as unknown as Record<string, unknown>;
  const pick = <T>(name: string): T | undefined =>
    typeof mod[name] === 'function' ? (mod[name] as T) : undefined;
  const core: Core = {
    memoryStore: pick('memoryStore'),
    memoryRecords: pick('memoryRecords'),
    createCache: pick('createCache'),
    exports: Object.keys(mod).sort(),
  };
  loaded = core;
  return core;
}

/** A sentence naming what is missing from core, or undefined when everything is there. */
export function missing(core: Core, ...names: ('memoryStore' | 'memoryRecords' | 'createCache')[]) {
  const absent = names.filter((name) => core[name] === undefined);
  if (absent.length === 0) return undefined;
  return `not measured: @writethrough/core does not export ${absent.map((n) => `\`${n}\``).join(', ')} yet`;
}

/** The lease options of every `getSync` (one frozen object, so no contender pays for allocating it). */
export const LEASE = Object.freeze({ leaseTtlMs: 5_000 });

/** A TTL long enough that nothing expires during a run. */
export const LONG_TTL_MS = 3_600_000;

/**
 * Installs many entries through the protocol, leasing a group of keys before filling them (as
 * concurrent readers would), so warming does not depend on what emptying the lease map costs.
 */
export async function fillTierBulk(
  tier: BenchTier,
  count: number,
  entryOf: (i: number) => { key: string; payload: unknown },
  group = 1_000,
): Promise<number> {
  let installed = 0;
  for (let from = 0; from < count; from += group) {
    const leased: { key: string; token: string; payload: unknown; version: number }[] = [];
    for (let i = from; i < Math.min(count, from + group); i++) {
      const { key, payload } = entryOf(i);
      const lookup = tier.getSync(key, LEASE);
      if (lookup.kind === 'lease') leased.push({ key, token: lookup.token, payload, version: i + 1 });
    }
    for (const { key, token, payload, version } of leased) {
      const entry: TierEntry<unknown> = { kind: 'value', payload, version };
      const ok =
        tier.fillSync !== undefined
          ? tier.fillSync(key, token, entry, LONG_TTL_MS)
          : await tier.fill(key, token, entry, LONG_TTL_MS);
      if (ok) installed++;
    }
  }
  return installed;
}
