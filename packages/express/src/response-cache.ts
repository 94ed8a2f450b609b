/**
 * `cacheResponses`: caches GET responses in a cache tier, keyed by path, an allow-list of query
 * parameters and (for requests with credentials) the principal; validated on every hit against
 * the current versions of the response's tags, which live in a writethrough cache.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { type CacheStore, memoryStore } from '@writethrough/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { type Captured, captureResponse } from './capture.js';
import { noneMatchHits, parseTagCondition } from './etag.js';
import type { TagInvalidator } from './router.js';
import { bumpTags, checkTags, processTagCache, readTagVersions, type TagCache } from './tags.js';
import { utf8Length } from './text.js';

/** What to do with query parameters that are not in `query`. */
export type UnlistedQuery =
  /** Remove them from `req.url` before the handler runs: the handler sees only what the key holds. */
  | 'strip'
  /** Send the request past the cache (not read, not stored). */
  | 'bypass';

/** Options of `cacheResponses`. Durations in milliseconds, sizes in bytes. */
export interface CacheResponsesOptions {
  /** Where tag versions live. Give every instance the same writethrough cache (shared record store, L2, bus). Default: one cache in this process. */
  readonly tagCache?: TagCache;
  /** Where responses are stored: a cache tier (`redisStore` to share them). Default: a `memoryStore` of `maxEntries`. */
  readonly store?: CacheStore<unknown>;
  /** Entries of the default store. Default 1,000. */
  readonly maxEntries?: number;
  /** Tags of the response, known before the handler runs (their versions are read first). */
  readonly tags?: readonly string[] | ((req: Request) => readonly string[]);
  /** Query parameters that are part of the key. Default none. */
  readonly query?: readonly string[];
  /** The other query parameters: `strip` (default) or `bypass`. */
  readonly unlistedQuery?: UnlistedQuery;
  /** The principal of a request with credentials (a user or tenant id), put in its key; undefined sends it past the cache. */
  readonly principal?: (req: Request) => string | undefined;
  /** Request headers that carry credentials. Default `authorization`, `cookie`. */
  readonly credentialHeaders?: readonly string[];
  /** Time to live of a stored response. Default 60,000. */
  readonly ttlMs?: number;
  /** Largest body stored; a larger response is sent but not stored. Default 1,048,576. */
  readonly maxBodyBytes?: number;
  /** Statuses stored. Default 200, 203, 204, 300, 301, 308, 404, 410. */
  readonly statuses?: readonly number[];
  /** Response headers stored besides the built-in list (Content-Type, ETag, Vary, Cache-Control…). */
  readonly headers?: readonly string[];
  /** Longest path (with the mount path) that is cached. Default 2,048. */
  readonly maxPathBytes?: number;
  /** Longest value of a listed query parameter that is cached. Default 256. */
  readonly maxQueryValueBytes?: number;
  /** Most values of one listed query parameter that are cached. Default 8. */
  readonly maxQueryValues?: number;
  /** How long a request waits for the identical request before it to finish, then runs the handler itself. Default 10,000. */
  readonly waitMs?: number;
  /** Lease on the store while a response is rendered; must outlast a render. Default 10,000. */
  readonly leaseTtlMs?: number;
  /** The header that tells HIT, MISS or BYPASS; `false` for none. Default `X-Cache`. */
  readonly statusHeader?: string | false;
  /** A prefix of this middleware's keys, when several share one store. Default ''. */
  readonly namespace?: string;
  /** Told of background failures (store, tag cache, a throwing option). Default: ignored (the request is served without the cache). */
  readonly onError?: (error: unknown, req: Request | undefined) => void;
}

/** Counters of a response cache. */
export interface ResponseCacheStats {
  /** Requests answered from a stored response. */
  hits: number;
  /** Requests that ran the handler while the cache applied. */
  misses: number;
  /** Responses stored. */
  stored: number;
  /** Responses the cache applied to but did not store (status, cookies, no-store, Vary: *, size…). */
  notStored: number;
  /** Stored responses found older than one of their tags. */
  stale: number;
  /** Requests that waited for an identical request instead of running the handler. */
  coalesced: number;
  /** Requests sent past the cache (method, credentials, query, Cache-Control…). */
  bypassed: number;
  /** Store or tag-cache failures (the request was served without the cache). */
  errors: number;
}

/** The middleware, with its invalidation and counters. */
export interface ResponseCache extends RequestHandler, TagInvalidator {
  /** Gives `tags` new versions (every instance sharing the tag cache stops serving what they named). */
  invalidateTags(tags: readonly string[]): Promise<void>;
  /** Counters, updated in place. */
  readonly stats: Readonly<ResponseCacheStats>;
  /** Closes the store when this middleware created it. */
  close(): Promise<void>;
}

/** A render in flight that identical requests can wait for. */
interface Flight {
  /** The response, or undefined when it could not be shared. */
  readonly result: Promise<StoredResponse | undefined>;
  /** The tag versions read before the render started. */
  readonly tags: Promise<Map<string, number>>;
}

/** A stored response. */
interface StoredResponse {
  /** Format version. */
  readonly f: 1;
  readonly status: number;
  readonly headers: [string, string | string[]][];
  /** Body, base64. */
  readonly body: string;
  /** Request header names of the response's Vary, lowercased, and the values they had. */
  readonly vary: [string, string | null][];
  /** Tag versions read before the handler ran. */
  readonly tags: [string, number][];
}

const DEFAULT_STATUSES = [200, 203, 204, 300, 301, 308, 404, 410];
const STORED_HEADERS = [
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
  'etag',
  'expires',
  'last-modified',
  'link',
  'location',
  'vary',
  'x-content-type-options',
];
/** Headers a 304 keeps (RFC 9110 §15.4.5). */
const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'etag', 'expires', 'vary'];
/** Request headers that make a GET conditional in ways a replay does not evaluate: such requests bypass. */
const UNHANDLED_CONDITIONALS = ['if-match', 'if-unmodified-since', 'if-range', 'range'];
const MAX_VARY_NAMES = 16;
const MAX_VARY_VALUE = 1_024;
const LEASE_WAITS = [10, 20, 40];

/**
 * Middleware that caches GET (and answers HEAD from the GET entry) responses, for routes whose
 * output depends only on the path, the listed query parameters, the principal and the request
 * headers the response names in `Vary`. See the package README for the safety rules.
 */
export function cacheResponses(options: CacheResponsesOptions = {}): ResponseCache {
  const tagCache = options.tagCache ?? processTagCache();
  const ownStore = options.store === undefined;
  const store =
    options.store ?? memoryStore<unknown>({ maxEntries: positive('maxEntries', options.maxEntries, 1_000) });
  const ttlMs = positive('ttlMs', options.ttlMs, 60_000);
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 1_048_576);
  const maxPathBytes = positive('maxPathBytes', options.maxPathBytes, 2_048);
  const maxQueryValueBytes = positive('maxQueryValueBytes', options.maxQueryValueBytes, 256);
  const maxQueryValues = positive('maxQueryValues', options.maxQueryValues, 8);
  const waitMs = positive('waitMs', options.waitMs, 10_000);
  const leaseTtlMs = positive('leaseTtlMs', options.leaseTtlMs, 10_000);
  const statuses = new Set(options.statuses ?? DEFAULT_STATUSES);
  const storedHeaders = new Set([...STORED_HEADERS, ...(options.headers ?? []).map((h) => h.toLowerCase())]);
  if (storedHeaders.has('set-cookie')) throw new TypeError('cacheResponses: set-cookie is never stored');
  const allowed = [...new Set(options.query ?? [])].sort();
  const allowedSet = new Set(allowed);
  const unlisted = options.unlistedQuery ?? 'strip';
  if (unlisted !== 'strip' && unlisted !== 'bypass') {
    throw new TypeError(`cacheResponses: unlistedQuery must be 'strip' or 'bypass'`);
  }
  const credentialHeaders = (options.credentialHeaders ?? ['authorization', 'cookie']).map((h) =>
    h.toLowerCase(),
  );
  const statusHeader = options.statusHeader === undefined ? 'X-Cache' : options.statusHeader;
  const namespace = options.namespace ?? '';
  const onError = options.onError ?? (() => {});
  const tagsOf =
    typeof options.tags === 'function'
      ? options.tags
      : (() => {
          const fixed = checkTags(options.tags ?? []);
          return () => fixed;
        })();
  /** Renders in flight, by key: their response and the tag versions they were started under. */
  const inflight = new Map<string, Flight>();
  const stats: ResponseCacheStats = {
    hits: 0,
    misses: 0,
    stored: 0,
    notStored: 0,
    stale: 0,
    coalesced: 0,
    bypassed: 0,
    errors: 0,
  };

  const reportError = (error: unknown, req: Request | undefined): void => {
    stats.errors++;
    try {
      onError(error, req);
    } catch {
      // A failing logger must not fail the request.
    }
  };

  const mark = (res: Response, value: 'HIT' | 'MISS' | 'BYPASS'): void => {
    if (statusHeader !== false && !res.headersSent) res.setHeader(statusHeader, value);
  };

  const bypass = (res: Response, next: NextFunction): void => {
    stats.bypassed++;
    mark(res, 'BYPASS');
    next();
  };

  /** The request's key and tags, or undefined to bypass; rewrites `req.url` under `strip`. */
  const plan = (req: Request): { key: string; tags: string[] } | undefined => {
    const headers = req.headers;
    for (const name of UNHANDLED_CONDITIONALS) if (headers[name] !== undefined) return undefined;
    let principal: string | null = null;
    if (credentialHeaders.some((name) => headers[name] !== undefined) || options.principal !== undefined) {
      const found = options.principal?.(req);
      if (typeof found === 'string' && found.length > 0) principal = found;
      else if (credentialHeaders.some((name) => headers[name] !== undefined)) return undefined;
    }
    const [urlPath = '', urlQuery = ''] = splitUrl(req.url);
    const [originalPath = ''] = splitUrl(req.originalUrl);
    const routePath = req.baseUrl + urlPath;
    if (utf8Length(originalPath) > maxPathBytes || utf8Length(routePath) > maxPathBytes) return undefined;
    const params = new URLSearchParams(urlQuery);
    const kept: [string, string][] = [];
    let dropped = false;
    for (const name of new Set(params.keys())) {
      if (!allowedSet.has(name)) {
        if (unlisted === 'bypass') return undefined;
        dropped = true;
      }
    }
    for (const name of allowed) {
      const values = params.getAll(name);
      if (values.length > maxQueryValues) return undefined;
      for (const value of values) {
        if (utf8Length(value) > maxQueryValueBytes) return undefined;
        kept.push([name, value]);
      }
    }
    const tags = checkTags(tagsOf(req));
    const canonical = new URLSearchParams(kept).toString();
    if (dropped || canonical !== urlQuery) {
      // The handler must see exactly the inputs the key holds.
      req.url = canonical === '' ? urlPath : `${urlPath}?${canonical}`;
    }
    const key = `r:${namespace}${createHash('sha256')
      .update(JSON.stringify([originalPath, routePath, canonical, principal]))
      .digest('base64url')}`;
    return { key, tags };
  };

  /**
   * Whether `entry` may answer `req`: rendered under the same tags at versions no older than the
   * ones read now (a newer one was rendered after writes this instance has not heard of yet, which
   * is fine to serve), and with the same values of the request headers its Vary names.
   */
  const fits = (entry: StoredResponse, req: Request, tagsNow: Map<string, number>): boolean => {
    if (!covers(new Map(entry.tags), tagsNow)) return false;
    for (const [name, value] of entry.vary) if (headerValue(req.headers, name) !== value) return false;
    return true;
  };

  /** A stored response for `captured`, or undefined when it must not be stored. */
  const toStored = (
    captured: Captured,
    req: Request,
    tagsNow: Map<string, number>,
  ): StoredResponse | undefined => {
    if (!statuses.has(captured.status)) return undefined;
    const both = [captured.headers, captured.finalHeaders];
    if (both.some((h) => h['set-cookie'] !== undefined || h['content-range'] !== undefined)) return undefined;
    for (const h of both) {
      const directives = cacheDirectives(h['cache-control']);
      if (directives.has('no-store') || directives.has('private')) return undefined;
    }
    const varyNames = new Set<string>();
    for (const h of both) for (const name of listHeader(h.vary)) varyNames.add(name.toLowerCase());
    if (varyNames.has('*') || varyNames.size > MAX_VARY_NAMES) return undefined;
    const vary: [string, string | null][] = [];
    for (const name of [...varyNames].sort()) {
      const value = headerValue(req.headers, name);
      if (value !== null && value.length > MAX_VARY_VALUE) return undefined;
      vary.push([name, value]);
    }
    const headers: [string, string | string[]][] = [];
    for (const [name, value] of Object.entries(captured.headers)) {
      if (!storedHeaders.has(name) || value === undefined) continue;
      headers.push([name, typeof value === 'number' ? String(value) : value]);
    }
    return {
      f: 1,
      status: captured.status,
      headers,
      body: captured.body.toString('base64'),
      vary,
      tags: [...tagsNow],
    };
  };

  /** Reads the store: a fitting entry, or the lease to fill (undefined when another holds it). */
  const lookup = async (
    key: string,
    req: Request,
    tagsNow: Map<string, number>,
  ): Promise<{ entry: StoredResponse } | { token: string | undefined }> => {
    for (let attempt = 0; ; attempt++) {
      const look = await store.get(key, { leaseTtlMs });
      if (look.kind === 'hit') {
        const entry = look.entry.kind === 'value' ? decode(look.entry.payload) : undefined;
        if (entry !== undefined && fits(entry, req, tagsNow)) return { entry };
        if (entry?.tags.some(([t, v]) => (tagsNow.get(t) ?? 0) > v)) stats.stale++;
        // Older than a tag, or another variant: removed (which also frees the lease), then leased again.
        await store.invalidate(key);
        if (attempt >= 1) return { token: undefined };
        continue;
      }
      if (look.kind === 'lease') return { token: look.token };
      // Another instance is rendering this response: look again shortly, then render without storing.
      const delay = LEASE_WAITS[attempt];
      if (look.kind === 'writing' || delay === undefined) return { token: undefined };
      await sleep(delay);
    }
  };

  const replay = (req: Request, res: Response, entry: StoredResponse): void => {
    stats.hits++;
    res.statusCode = entry.status;
    mark(res, 'HIT');
    const get = (name: string) => entry.headers.find(([n]) => n === name)?.[1];
    if (entry.status === 200 && isNotModified(req, get('etag'), get('last-modified'))) {
      res.statusCode = 304;
      for (const [name, value] of entry.headers)
        if (NOT_MODIFIED_HEADERS.includes(name)) res.setHeader(name, value);
      res.end();
      return;
    }
    for (const [name, value] of entry.headers) res.setHeader(name, value);
    const body = Buffer.from(entry.body, 'base64');
    res.setHeader('Content-Length', body.length);
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  };

  const middleware = (async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    let planned: { key: string; tags: string[] } | undefined;
    try {
      planned = plan(req);
    } catch (error) {
      reportError(error, req);
      planned = undefined;
    }
    if (planned === undefined) {
      bypass(res, next);
      return;
    }
    const { key, tags } = planned;
    const noStore = cacheDirectives(req.headers['cache-control']).has('no-store');
    const tagsNowP = readTagVersions(tagCache, tags);
    tagsNowP.catch(() => {});

    const existing = req.method === 'GET' ? inflight.get(key) : undefined;
    if (existing !== undefined) {
      let tagsNow: Map<string, number> | undefined;
      let current = false;
      try {
        const [now, started] = await Promise.all([tagsNowP, existing.tags]);
        tagsNow = now;
        current = covers(started, now);
      } catch (error) {
        reportError(error, req);
      }
      // A render started before a write this request must see (older tag versions) is not waited
      // for: this request renders itself, and identical requests after it wait for this one.
      if (current && tagsNow !== undefined) {
        stats.coalesced++;
        let entry: StoredResponse | undefined;
        try {
          entry = await withTimeout(existing.result, waitMs);
        } catch (error) {
          reportError(error, req);
        }
        // When the first request failed, or its response could not be shared (cookies, status,
        // another Vary variant), this request runs the handler itself.
        if (entry !== undefined && fits(entry, req, tagsNow)) {
          replay(req, res, entry);
          return;
        }
        stats.misses++;
        mark(res, 'MISS');
        next();
        return;
      }
    }

    let settle: ((entry: StoredResponse | undefined) => void) | undefined;
    if (req.method === 'GET' && !noStore) {
      const result = new Promise<StoredResponse | undefined>((resolve) => {
        settle = (entry) => {
          if (inflight.get(key) === flight) inflight.delete(key);
          resolve(entry);
        };
      });
      const flight: Flight = { result, tags: tagsNowP };
      inflight.set(key, flight);
    }
    let tagsNow: Map<string, number>;
    let token: string | undefined;
    try {
      tagsNow = await tagsNowP;
      const found = await lookup(key, req, tagsNow);
      if ('entry' in found) {
        settle?.(found.entry);
        replay(req, res, found.entry);
        return;
      }
      token = found.token;
    } catch (error) {
      reportError(error, req);
      settle?.(undefined);
      stats.misses++;
      mark(res, 'MISS');
      next();
      return;
    }
    stats.misses++;
    mark(res, 'MISS');
    if (settle === undefined) {
      // HEAD, or a request that asked for no-store: served by the handler, nothing stored.
      if (token !== undefined) store.invalidate(key).catch((error) => reportError(error, req));
      next();
      return;
    }
    const resolve = settle;
    // The stored response must be complete: this request's validators are evaluated by Express
    // against the full response rather than turning it into a 304 that could not be shared.
    delete req.headers['if-none-match'];
    delete req.headers['if-modified-since'];
    captureResponse(res, maxBodyBytes, (captured) => {
      const entry = captured === undefined ? undefined : toStored(captured, req, tagsNow);
      resolve(entry);
      if (entry === undefined) {
        stats.notStored++;
        if (token !== undefined) store.invalidate(key).catch((error) => reportError(error, req));
        return;
      }
      if (token === undefined) return;
      store
        .fill(key, token, { kind: 'value', payload: JSON.stringify(entry), version: 1 }, ttlMs)
        .then((installed) => {
          if (installed) stats.stored++;
        })
        .catch((error) => reportError(error, req));
    });
    next();
  }) as ResponseCache;

  Object.defineProperties(middleware, {
    invalidateTags: { value: (list: readonly string[]) => bumpTags(tagCache, list) },
    stats: { value: stats },
    close: { value: async () => (ownStore ? store.close() : undefined) },
  });
  return middleware;
}

/**
 * Gives `tags` new versions in `tagCache` (default: this process's), without a middleware at hand.
 * Resolves once the write is acknowledged.
 */
export function invalidateTags(
  tags: readonly string[],
  tagCache: TagCache = processTagCache(),
): Promise<void> {
  return bumpTags(tagCache, tags);
}

/** Whether `rendered` holds the same tags as `now`, each at a version at least as new. */
function covers(rendered: Map<string, number>, now: Map<string, number>): boolean {
  if (rendered.size !== now.size) return false;
  for (const [tag, version] of now) {
    const seen = rendered.get(tag);
    if (seen === undefined || seen < version) return false;
  }
  return true;
}

function decode(payload: unknown): StoredResponse | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const entry = JSON.parse(payload) as StoredResponse;
    return entry?.f === 1 ? entry : undefined;
  } catch {
    return undefined;
  }
}

function splitUrl(url: string): [string, string] {
  const at = url.indexOf('?');
  return at < 0 ? [url, ''] : [url.slice(0, at), url.slice(at + 1)];
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

function listHeader(value: OutgoingHttpHeaders[string]): string[] {
  if (value === undefined) return [];
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The directive names of a Cache-Control header, lowercased. */
function cacheDirectives(value: OutgoingHttpHeaders[string] | string | string[] | undefined): Set<string> {
  return new Set(listHeader(value).map((d) => d.split('=')[0]!.trim().toLowerCase()));
}

/** RFC 9110 §13.2.2 for a replayed 200: If-None-Match (weak comparison), else If-Modified-Since. */
function isNotModified(
  req: Request,
  etag: string | string[] | undefined,
  lastModified: string | string[] | undefined,
): boolean {
  const ifNoneMatch = parseTagCondition(req.headers['if-none-match']);
  if (ifNoneMatch !== undefined) return typeof etag === 'string' && noneMatchHits(ifNoneMatch, etag);
  const since = req.headers['if-modified-since'];
  if (since === undefined || typeof lastModified !== 'string') return false;
  const sinceMs = Date.parse(since);
  const modifiedMs = Date.parse(lastModified);
  return Number.isFinite(sinceMs) && Number.isFinite(modifiedMs) && modifiedMs <= sinceMs;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw new TypeError(`cacheResponses: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}
