/** Test helpers: an Express app on the real engine over `memoryRecords`, and a paused record store. */
import {
  type CacheOptions,
  createCache,
  type MemoryRecords,
  memoryRecords,
  type RecordStore,
  type WriteThroughCache,
} from '@writethrough/core';
import { type Deferred, deferred } from '@writethrough/testing';
import express, { type Express, type Request } from 'express';
import { type WriteThroughRouterOptions, writeThroughRouter } from '../src/index.ts';

/** A user as the tests store it. */
export interface User {
  name: string;
  email?: string;
  tags?: string[];
  profile?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** Errors the router reported through `onError`, with the status it answered. */
export type Reported = { error: unknown; status: number; url: string }[];

/** A cache on `records` with retries off (a failure is answered at once). */
export function newCache<V = User>(
  records: RecordStore<V>,
  extra: Partial<CacheOptions<V>> = {},
): WriteThroughCache<V> {
  return createCache<V>({ name: 'users', records, retry: false, ...extra });
}

/** An app with the router on `/users`, and what it reported. */
export function routerApp<V = User>(
  cache: WriteThroughCache<V>,
  options: WriteThroughRouterOptions<V> = {},
): { app: Express; reported: Reported } {
  const reported: Reported = [];
  const app = express();
  app.use(
    '/users',
    writeThroughRouter(cache, {
      onError: (error: unknown, req: Request, status: number) =>
        reported.push({ error, status, url: req.originalUrl }),
      ...options,
    }),
  );
  return { app, reported };
}

/** A fresh memory record store and a cache on it. */
export function memoryCache(extra: Partial<CacheOptions<User>> = {}): {
  records: MemoryRecords<User>;
  cache: WriteThroughCache<User>;
} {
  const records = memoryRecords<User>();
  return { records, cache: newCache(records, extra) };
}

/**
 * A record store whose next `set` (or `delete`) pauses until the test releases it: `reached`
 * settles when the call arrived (before it touches the database), `release()` lets it go on.
 */
export function pausingRecords<V>(inner: RecordStore<V>): {
  records: RecordStore<V>;
  pauseNextWrite(): { reached: Promise<void>; release(): void };
} {
  let pending: { reached: Deferred<void>; go: Deferred<void> } | undefined;
  const hold = async (): Promise<void> => {
    const p = pending;
    if (p === undefined) return;
    pending = undefined;
    p.reached.resolve();
    await p.go.promise;
  };
  const records: RecordStore<V> = {
    get: (key, options) => inner.get(key, options),
    getMany: (keys, options) => inner.getMany(keys, options),
    setMany: (entries, options) => inner.setMany(entries, options),
    set: async (key, value, options) => {
      await hold();
      return inner.set(key, value, options);
    },
    delete: async (key, options) => {
      await hold();
      return inner.delete(key, options);
    },
    ...(inner.classifyError === undefined ? {} : { classifyError: (e: unknown) => inner.classifyError!(e) }),
  };
  return {
    records,
    pauseNextWrite() {
      const reached = deferred<void>();
      const go = deferred<void>();
      pending = { reached, go };
      return { reached: reached.promise, release: () => go.resolve() };
    },
  };
}
