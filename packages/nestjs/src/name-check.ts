import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { InvalidArgumentError } from '@writethrough/core';
import type { CacheRegistry } from './registry.js';
import { CACHE_READ_METADATA, CACHE_WRITE_METADATA, WRITE_THROUGH_REGISTRY } from './tokens.js';

/**
 * Fails the bootstrap when a `@CacheRead` / `@CacheWrite` of a controller names a cache the module
 * does not have (rather than answering `500` on the first request).
 */
@Injectable()
export class CacheNameCheck implements OnModuleInit {
  constructor(
    @Inject(WRITE_THROUGH_REGISTRY) private readonly registry: CacheRegistry,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    const known = new Set(this.registry.names);
    for (const wrapper of this.discovery.getControllers()) {
      const type = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
      if (typeof type !== 'function') continue;
      const targets: [object, string][] = [[type, type.name]];
      for (const method of this.scanner.getAllMethodNames(type.prototype)) {
        const fn = (type.prototype as Record<string, unknown>)[method];
        if (typeof fn === 'function') targets.push([fn, `${type.name}.${method}`]);
      }
      for (const [target, where] of targets) {
        for (const key of [CACHE_READ_METADATA, CACHE_WRITE_METADATA]) {
          const meta = Reflect.getMetadata(key, target) as { cache?: string } | undefined;
          if (meta?.cache !== undefined && !known.has(meta.cache)) {
            const decorator = key === CACHE_READ_METADATA ? '@CacheRead' : '@CacheWrite';
            throw new InvalidArgumentError(
              `${decorator}(${JSON.stringify(meta.cache)}) on ${where}: WriteThroughModule has no cache of that name ` +
                `(known: ${[...known].map((n) => JSON.stringify(n)).join(', ') || 'none'})`,
            );
          }
        }
      }
    }
  }
}
