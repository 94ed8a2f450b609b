import type { OnApplicationShutdown } from '@nestjs/common';
import { createCache, InvalidArgumentError, type WriteThroughCache } from '@writethrough/core';
import type { PrincipalResolver, WriteThroughModuleOptions } from './options.js';

/** Something with an optional `close()`. */
interface Closable {
  close?(): Promise<void>;
}

/** The default principal: `req.user.id`, else `req.user.sub`. */
export const defaultPrincipal: PrincipalResolver = (req) => {
  const user = req?.user as { id?: unknown; sub?: unknown } | undefined;
  const id = user?.id ?? user?.sub;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
};

/**
 * The module's caches by name. Creates the caches defined by options, and closes them (and their
 * stores, unless `closeStores: false`) on application shutdown; caches you passed in are left alone.
 */
export class CacheRegistry implements OnApplicationShutdown {
  // biome-ignore lint/suspicious/noExplicitAny: a registry holds caches of any value type.
  readonly #caches = new Map<string, WriteThroughCache<any>>();
  readonly #owned: Closable[] = [];
  readonly #ownedStores = new Set<Closable>();
  #closed: Promise<void> | undefined;
  /** Finds the principal of a request for decorators with `principal: true`. */
  readonly principal: PrincipalResolver;

  /** Throws `InvalidArgumentError` for a missing or duplicate name, or invalid cache options. */
  constructor(options: WriteThroughModuleOptions) {
    if (options === null || typeof options !== 'object' || !Array.isArray(options.caches)) {
      throw new InvalidArgumentError(
        'WriteThroughModule: options must be an object with a caches array, e.g. { caches: [{ name: "users", options: { records } }] }',
      );
    }
    this.principal = options.principal ?? defaultPrincipal;
    try {
      for (const definition of options.caches) {
        const name = definition?.name;
        if (typeof name !== 'string' || name === '') {
          throw new InvalidArgumentError('WriteThroughModule: every cache needs a non-empty string name');
        }
        if (this.#caches.has(name)) {
          throw new InvalidArgumentError(
            `WriteThroughModule: the cache name ${JSON.stringify(name)} is used twice`,
          );
        }
        if ('cache' in definition && definition.cache !== undefined) {
          this.#caches.set(name, definition.cache);
          continue;
        }
        if (!('options' in definition) || definition.options === undefined) {
          throw new InvalidArgumentError(
            `WriteThroughModule: the cache ${JSON.stringify(name)} needs either options (the module creates and closes it) or cache (yours)`,
          );
        }
        const cache = createCache({ name, ...definition.options });
        this.#caches.set(name, cache);
        this.#owned.push(cache);
        if (definition.closeStores !== false) {
          for (const store of [definition.options.l2, definition.options.bus, definition.options.records]) {
            if (store && typeof (store as Closable).close === 'function')
              this.#ownedStores.add(store as Closable);
          }
        }
      }
    } catch (error) {
      // A bootstrap that fails here never reaches shutdown: release what was already created.
      void this.close();
      throw error;
    }
  }

  /** The names of the caches. */
  get names(): string[] {
    return [...this.#caches.keys()];
  }

  /** The cache of that name. Throws `InvalidArgumentError` naming the known caches when there is none. */
  // biome-ignore lint/suspicious/noExplicitAny: callers choose the value type.
  get<V = any>(name: string): WriteThroughCache<V> {
    const cache = this.#caches.get(name);
    if (cache === undefined) {
      const known = this.names.map((n) => JSON.stringify(n)).join(', ') || 'none';
      throw new InvalidArgumentError(
        `WriteThroughModule has no cache named ${JSON.stringify(name)} (known: ${known}). ` +
          `Add { name: ${JSON.stringify(name)}, options: { … } } to the caches of WriteThroughModule.forRoot, or fix the name.`,
      );
    }
    return cache;
  }

  /** Closes what the module created: its caches first (pending batches are flushed), then their stores. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled(this.#owned.map((c) => c.close?.()));
      await Promise.allSettled([...this.#ownedStores].map((s) => s.close?.()));
    })();
    return this.#closed;
  }

  /** Nest calls this on `app.close()` (and on signals after `enableShutdownHooks()`). */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}
