import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  type NestInterceptor,
  PreconditionFailedException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { VersionConflictError, WriteThroughCache } from '@writethrough/core';
import { defer, from, type Observable, of, switchMap } from 'rxjs';
import type { CacheReadMetadata, CacheWriteMetadata, CacheWriteOp, KeyOptions } from './decorators.js';
import { type Condition, matchHits, noneMatchHits, parseCondition, versionTag } from './etag.js';
import type { HttpRequest } from './options.js';
import type { CacheRegistry } from './registry.js';
import { CACHE_READ_METADATA, CACHE_WRITE_METADATA, WRITE_THROUGH_REGISTRY } from './tokens.js';

// biome-ignore lint/suspicious/noExplicitAny: the response type belongs to the HTTP platform.
type HttpResponse = any;

function setHeader(res: HttpResponse, name: string, value: string): void {
  if (typeof res?.setHeader === 'function') res.setHeader(name, value);
  else if (typeof res?.header === 'function') res.header(name, value);
}

function header(req: HttpRequest, name: string): string | string[] | undefined {
  return req?.headers?.[name];
}

/** `412`, with the current version's ETag when there is one. */
function preconditionFailed(res: HttpResponse, current: number | undefined): never {
  if (current !== undefined && current > 0) setHeader(res, 'ETag', versionTag(current));
  throw new PreconditionFailedException(
    'the resource has another version: read it again (GET) and retry with its ETag',
  );
}

/** What a write sends to the database as `ifVersion`, after `If-Match` / `If-None-Match`. */
interface Precondition {
  readonly ifVersion: number | undefined;
  /** `If-Match` that may be evaluated again against the version the database reports (lists and `*`). */
  readonly retry: Condition | undefined;
}

/**
 * Serves `@CacheRead` handlers from their cache and writes `@CacheWrite` handlers through it, with
 * ETags from versions. Bind it with `@UseInterceptors(WriteThroughInterceptor)` or as
 * `APP_INTERCEPTOR`; handlers without those decorators (and non-HTTP contexts) pass through.
 */
@Injectable()
export class WriteThroughInterceptor implements NestInterceptor {
  constructor(
    @Inject(WRITE_THROUGH_REGISTRY) private readonly registry: CacheRegistry,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const targets = [context.getHandler(), context.getClass()];
    const http = context.switchToHttp();
    const req = http.getRequest();
    const res = http.getResponse();
    const method = String(req?.method ?? '').toUpperCase();
    if (method === 'GET' || method === 'HEAD') {
      const read = this.reflector.getAllAndOverride<CacheReadMetadata | undefined>(
        CACHE_READ_METADATA,
        targets,
      );
      if (read !== undefined) return defer(() => this.#read(read, req, res, next)).pipe(switchMap((o) => o));
      return next.handle();
    }
    const write = this.reflector.getAllAndOverride<CacheWriteMetadata | undefined>(
      CACHE_WRITE_METADATA,
      targets,
    );
    if (write !== undefined) {
      const op: CacheWriteOp = write.op ?? (method === 'DELETE' ? 'delete' : 'set');
      return defer(() => this.#write(write, op, req, res, next)).pipe(switchMap((o) => o));
    }
    return next.handle();
  }

  /** The key of a request, with the principal when asked; undefined when the key parameter is missing. */
  #key(meta: KeyOptions, req: HttpRequest): string | undefined {
    const key =
      typeof meta.key === 'function' ? meta.key(req) : (meta.key ?? req?.params?.[meta.param ?? 'id']);
    if (typeof key !== 'string' || key === '') return undefined;
    if (meta.principal === undefined || meta.principal === false) return key;
    const resolve = typeof meta.principal === 'function' ? meta.principal : this.registry.principal;
    const principal = resolve(req);
    if (typeof principal !== 'string' || principal === '') {
      throw new UnauthorizedException('this resource belongs to a principal, and the request has none');
    }
    // Encoded, so that no principal can contain the separator and reach another principal's keys.
    return `${encodeURIComponent(principal)}/${key}`;
  }

  async #read(
    meta: CacheReadMetadata,
    req: HttpRequest,
    res: HttpResponse,
    next: CallHandler,
  ): Promise<Observable<unknown>> {
    const cache = this.registry.get(meta.cache);
    const key = this.#key(meta, req);
    if (key === undefined) return next.handle();
    const entry = await guard(() => cache.getEntry(key));
    if (entry !== undefined) return of(this.#answer(meta, req, res, entry.value, entry.version));
    return next.handle().pipe(
      switchMap(async (value) => {
        if (meta.fill !== true || value === undefined || value === null) return value;
        try {
          const { version } = await guard(() =>
            cache.set(
              key,
              value,
              meta.ttlMs === undefined ? { ifVersion: 0 } : { ifVersion: 0, ttlMs: meta.ttlMs },
            ),
          );
          return this.#answer(meta, req, res, value, version);
        } catch (error) {
          if (!(error instanceof PreconditionFailedException)) throw error;
          // Another writer created the key since the read: its value wins.
          const now = await guard(() => cache.getEntry(key));
          return now === undefined ? value : this.#answer(meta, req, res, now.value, now.version);
        }
      }),
    );
  }

  /** Headers of a found value; `304` when `If-None-Match` names its version. */
  #answer(
    meta: CacheReadMetadata,
    req: HttpRequest,
    res: HttpResponse,
    value: unknown,
    version: number,
  ): unknown {
    setHeader(res, 'ETag', versionTag(version));
    if (meta.cacheControl !== false) setHeader(res, 'Cache-Control', meta.cacheControl ?? 'no-cache');
    const condition = parseCondition(header(req, 'if-none-match'));
    if (condition !== undefined && noneMatchHits(condition, version)) {
      throw new HttpException('Not Modified', HttpStatus.NOT_MODIFIED);
    }
    return value;
  }

  /** Evaluates the request's conditions before the handler runs (RFC 9110 §13.2.2: `If-Match` first). */
  async #precondition(
    cache: WriteThroughCache<unknown>,
    key: string,
    req: HttpRequest,
    res: HttpResponse,
    op: CacheWriteOp,
  ): Promise<Precondition> {
    const ifMatch = parseCondition(header(req, 'if-match'));
    const ifNoneMatch = parseCondition(header(req, 'if-none-match'));
    if (ifMatch === undefined && ifNoneMatch === undefined) return { ifVersion: undefined, retry: undefined };
    const current = (await guard(() => cache.getEntry(key)))?.version;
    if (ifMatch !== undefined) {
      if (!ifMatch.any && ifMatch.strong.size === 1) {
        const [wanted] = ifMatch.strong;
        // Versions only grow: a newer cached version proves the tag stale. An older or absent cached
        // copy may only be behind another instance's write, so the database decides.
        if (current !== undefined && current > wanted!) preconditionFailed(res, current);
        if (op === 'invalidate' && current !== wanted) preconditionFailed(res, current);
        return { ifVersion: op === 'invalidate' ? undefined : wanted, retry: undefined };
      }
      if (!matchHits(ifMatch, current)) preconditionFailed(res, current);
      return { ifVersion: op === 'invalidate' ? undefined : current, retry: ifMatch };
    }
    if (ifNoneMatch!.any) {
      if (current !== undefined) preconditionFailed(res, current);
      return { ifVersion: op === 'invalidate' ? undefined : 0, retry: undefined };
    }
    if (noneMatchHits(ifNoneMatch!, current)) preconditionFailed(res, current);
    return { ifVersion: undefined, retry: undefined };
  }

  async #write(
    meta: CacheWriteMetadata,
    op: CacheWriteOp,
    req: HttpRequest,
    res: HttpResponse,
    next: CallHandler,
  ): Promise<Observable<unknown>> {
    const cache = this.registry.get(meta.cache);
    const key = this.#key(meta, req);
    if (key === undefined) {
      throw new BadRequestException(
        `no cache key: the route parameter ${JSON.stringify(meta.param ?? 'id')} is missing`,
      );
    }
    const pre = await this.#precondition(cache, key, req, res, op);
    return next.handle().pipe(switchMap((value) => from(this.#apply(cache, key, op, meta, pre, value, res))));
  }

  async #apply(
    cache: WriteThroughCache<unknown>,
    key: string,
    op: CacheWriteOp,
    meta: CacheWriteMetadata,
    pre: Precondition,
    value: unknown,
    res: HttpResponse,
  ): Promise<unknown> {
    if (op === 'invalidate') {
      await cache.invalidate(key);
      return value;
    }
    if (op === 'set' && (value === undefined || value === null)) {
      throw new Error(
        `@CacheWrite('${meta.cache}') with op 'set': the handler must return the value to store`,
      );
    }
    let ifVersion = pre.ifVersion;
    for (let attempt = 0; ; attempt++) {
      try {
        if (op === 'delete') {
          await guard(() => cache.delete(key, ifVersion === undefined ? {} : { ifVersion }));
          return value;
        }
        const options = {
          ...(ifVersion === undefined ? {} : { ifVersion }),
          ...(meta.ttlMs === undefined ? {} : { ttlMs: meta.ttlMs }),
        };
        const { version } = await guard(() => cache.set(key, value, options));
        setHeader(res, 'ETag', versionTag(version));
        return value;
      } catch (error) {
        const conflict =
          error instanceof PreconditionFailedException ? (error.cause as VersionConflictError) : undefined;
        if (conflict === undefined) throw error;
        // A list or `*` was evaluated against a cached version that was behind: evaluate it once
        // more against the version the database reported (as the Express router does).
        if (
          attempt === 0 &&
          pre.retry !== undefined &&
          matchHits(pre.retry, conflict.currentVersion || undefined)
        ) {
          ifVersion = conflict.currentVersion;
          continue;
        }
        preconditionFailed(res, conflict.currentVersion);
      }
    }
  }
}

/** Codes of the engine's errors that mean bad input. */
const BAD_INPUT = new Set(['WT_VALIDATION', 'WT_INVALID_ARGUMENT', 'WT_SIZE_LIMIT']);

/**
 * Maps the engine's refusals to HTTP: a conflict to `412` (its cause the `VersionConflictError`),
 * bad input to `400`. By `code` rather than `instanceof`, so that an app that loads core both as
 * ESM and as CJS (two copies of each class) is still mapped.
 */
async function guard<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'WT_VERSION_CONFLICT') {
      throw new PreconditionFailedException('the resource has another version', { cause: error });
    }
    if (typeof code === 'string' && BAD_INPUT.has(code)) {
      throw new BadRequestException((error as Error).message, { cause: error });
    }
    throw error;
  }
}
