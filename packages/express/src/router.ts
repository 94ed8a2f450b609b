/**
 * `writeThroughRouter`: a REST resource on a writethrough cache, with HTTP's validators mapped onto
 * the versions the database assigns — a strong `ETag` per version, `If-None-Match` → 304,
 * `If-Match` → a compare-and-set in the database → 412.
 */
import { createHash } from 'node:crypto';
import type { Versioned, WriteThroughCache } from '@writethrough/core';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { BodyError, readJsonBody } from './body.js';
import { noneMatchHits, parseTagCondition, strongVersions, type TagCondition, versionTag } from './etag.js';
import { mergePatch } from './merge-patch.js';
import { defaultOnError, errorCode, type Problem, problemFor, sendProblem } from './problem.js';
import { hasControl, isWellFormed, utf8Length } from './text.js';
import { type BodyValidator, toChecker } from './validate.js';

/** The cache calls the router makes (every `WriteThroughCache` has them). */
export type ResourceCache<V> = Pick<
  WriteThroughCache<V>,
  'getEntry' | 'getManyEntries' | 'set' | 'delete' | 'invalidate'
>;

/** Something whose tags a write invalidates: `cacheResponses(...)` or any `{ invalidateTags }`. */
export interface TagInvalidator {
  /** Gives the tags new versions; resolves once every instance will see them. */
  invalidateTags(tags: readonly string[]): Promise<void>;
}

/** Options of `writeThroughRouter`. */
export interface WriteThroughRouterOptions<V> {
  /** The cache key of an id (already checked). Default: the id itself. */
  readonly key?: (id: string, req: Request) => string;
  /**
   * An extra check of ids, after the built-in ones (non-empty, at most `maxIdBytes`, well-formed
   * Unicode, no control characters). Default: refuses `/`, `\`, `.` and `..`. Return false for 400.
   */
  readonly validateId?: (id: string) => boolean;
  /** Longest id, in UTF-8 bytes. Keep it within the cache's `maxKeyBytes`. Default 256. */
  readonly maxIdBytes?: number;
  /** Checks PUT bodies and PATCH results before they are written: a zod schema as it is, `{ parse }` or a function. */
  readonly validate?: BodyValidator<V>;
  /** Largest request body, in bytes (413 beyond). Default 102,400. */
  readonly maxBodyBytes?: number;
  /** Writes without `If-Match` (or `If-None-Match: *` on PUT) get 428. Default false. */
  readonly requireIfMatch?: boolean;
  /** Most ids in one `GET /?ids=` (400 beyond). Default 100. */
  readonly maxIds?: number;
  /** `Retry-After` of a 503, in seconds. Default 1. */
  readonly retryAfterSeconds?: number;
  /** `Cache-Control` of GET answers; `false` for none. Default `no-cache` (clients revalidate with the ETag). */
  readonly cacheControl?: string | false;
  /** How many times a PATCH without `If-Match` re-reads and merges again after a concurrent write, before 409. Default 5. */
  readonly patchAttempts?: number;
  /** Invalidated after each acknowledged write, with the tags of `tags`. */
  readonly responseCache?: TagInvalidator;
  /** The tags a write to an id invalidates (with `responseCache`). */
  readonly tags?: readonly string[] | ((id: string, req: Request) => readonly string[]);
  /** Told of every answer with a 5xx (the client gets no detail). Default: 500s to `console.error`. */
  readonly onError?: (error: unknown, req: Request, status: number) => void;
}

/** The default id check: ids that would read as paths are refused. */
function defaultValidateId(id: string): boolean {
  return !id.includes('/') && !id.includes('\\') && id !== '.' && id !== '..';
}

/** A write's precondition, resolved: the `ifVersion` to send, or a failure to answer 412. */
type Precondition = { readonly ifVersion: number | undefined } | { readonly failed: number };

/** A problem thrown inside a handler and answered as it is. */
class Answer extends Error {
  readonly problem: Problem;
  constructor(problem: Problem, cause?: unknown) {
    super(problem.title, cause === undefined ? undefined : { cause });
    this.problem = problem;
  }
}

/**
 * An Express Router for a REST resource stored in `cache`: `GET /:id`, `PUT /:id`, `PATCH /:id`
 * (JSON merge patch), `DELETE /:id`, and `GET /?ids=a,b` (through `getManyEntries`). Mount it
 * where the resource lives: `app.use('/users', writeThroughRouter(users))`. Every status it answers
 * is listed in the package README. Throws `TypeError` for invalid options.
 */
export function writeThroughRouter<V>(
  cache: ResourceCache<V>,
  options: WriteThroughRouterOptions<V> = {},
): Router {
  for (const method of ['getEntry', 'getManyEntries', 'set', 'delete'] as const) {
    if (typeof cache?.[method] !== 'function') {
      throw new TypeError(`writeThroughRouter needs a writethrough cache (no ${method}() found)`);
    }
  }
  const keyOf = options.key ?? ((id: string) => id);
  const validateId = options.validateId ?? defaultValidateId;
  const maxIdBytes = positiveInteger('maxIdBytes', options.maxIdBytes, 256);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, 102_400);
  const maxIds = positiveInteger('maxIds', options.maxIds, 100);
  const patchAttempts = positiveInteger('patchAttempts', options.patchAttempts, 5);
  const retryAfterSeconds = positiveInteger('retryAfterSeconds', options.retryAfterSeconds, 1);
  const cacheControl = options.cacheControl === undefined ? 'no-cache' : options.cacheControl;
  const check = toChecker(options.validate);
  const onError = options.onError ?? defaultOnError;
  const requireIfMatch = options.requireIfMatch === true;
  const tagsOf =
    options.tags === undefined
      ? undefined
      : typeof options.tags === 'function'
        ? options.tags
        : () => options.tags as readonly string[];
  if (tagsOf !== undefined && options.responseCache === undefined) {
    throw new TypeError('writeThroughRouter: tags need a responseCache to invalidate');
  }

  const fail = (req: Request, res: Response, error: unknown, phase: 'read' | 'write'): void => {
    const problem =
      error instanceof Answer
        ? error.problem
        : error instanceof BodyError
          ? error.problem
          : problemFor(error, { phase, retryAfterSeconds });
    if (problem.status >= 500) {
      try {
        onError(
          error instanceof Answer && error.cause !== undefined ? error.cause : error,
          req,
          problem.status,
        );
      } catch {
        // A failing logger must not turn the answer into another error.
      }
    }
    sendProblem(res, problem);
  };

  /** The checked id of the request, or an `Answer` (400). */
  const idOf = (raw: string | undefined): string => {
    const id = raw ?? '';
    let reason: string | undefined;
    if (id.length === 0) reason = 'the id is empty';
    else if (utf8Length(id) > maxIdBytes) reason = `the id is longer than ${maxIdBytes} bytes`;
    else if (!isWellFormed(id) || hasControl(id)) reason = 'the id holds characters that are not allowed';
    else if (!validateId(id)) reason = 'the id is not valid';
    if (reason !== undefined) throw new Answer({ status: 400, title: 'Bad Request', detail: reason });
    return id;
  };

  const keyFor = (id: string, req: Request): string => {
    const key = keyOf(id, req);
    if (typeof key !== 'string' || key.length === 0) {
      throw new Error('writeThroughRouter: options.key returned an empty or non-string key');
    }
    return key;
  };

  /** Whether the write may go on without a precondition (428 when `requireIfMatch`). */
  const requirePrecondition = (req: Request, allowCreate: boolean): void => {
    if (!requireIfMatch) return;
    if (req.headers['if-match'] !== undefined) return;
    if (allowCreate && parseTagCondition(req.headers['if-none-match'])?.any === true) return;
    throw new Answer({
      status: 428,
      title: 'Precondition Required',
      detail: allowCreate
        ? 'send If-Match with the ETag you read (or If-None-Match: * to create)'
        : 'send If-Match with the ETag you read',
    });
  };

  /**
   * Resolves `If-Match` / `If-None-Match` into the `ifVersion` of one atomic write (RFC 9110
   * §13.2.2: If-Match first). A single strong version needs no read; `*` and lists are evaluated
   * against `current` (the database's version when known, else a read).
   */
  const precondition = (
    ifMatch: TagCondition | undefined,
    ifNoneMatch: TagCondition | undefined,
    current: number | undefined,
  ): Precondition | 'read' => {
    if (ifMatch === undefined && ifNoneMatch === undefined) return { ifVersion: undefined };
    if (ifMatch !== undefined && !ifMatch.any && ifNoneMatch === undefined) {
      const versions = strongVersions(ifMatch);
      if (versions.size === 1 && current === undefined) return { ifVersion: [...versions][0]! };
    }
    if (ifMatch === undefined && ifNoneMatch?.any === true) {
      return current === undefined || current === 0 ? { ifVersion: 0 } : { failed: current };
    }
    if (current === undefined) return 'read';
    if (ifMatch !== undefined) {
      const ok = ifMatch.any ? current > 0 : current > 0 && strongVersions(ifMatch).has(current);
      if (!ok) return { failed: current };
    }
    if (ifNoneMatch !== undefined) {
      const hit = ifNoneMatch.any
        ? current > 0
        : current > 0 && noneMatchHits(ifNoneMatch, versionTag(current));
      if (hit) return { failed: current };
    }
    return { ifVersion: current };
  };

  /** Runs `write` under the request's preconditions, re-evaluating them once against the database's version after a conflict. */
  const conditionalWrite = async <R>(
    req: Request,
    key: string,
    write: (ifVersion: number | undefined) => Promise<R>,
  ): Promise<R> => {
    const ifMatch = parseTagCondition(req.headers['if-match']);
    const ifNoneMatch = parseTagCondition(req.headers['if-none-match']);
    let current: number | undefined;
    for (let attempt = 0; ; attempt++) {
      let resolved = precondition(ifMatch, ifNoneMatch, current);
      if (resolved === 'read') {
        current = (await cache.getEntry(key))?.version ?? 0;
        resolved = precondition(ifMatch, ifNoneMatch, current) as Precondition;
      }
      if ('failed' in resolved) throw preconditionFailed(resolved.failed);
      try {
        return await write(resolved.ifVersion);
      } catch (error) {
        // The version we derived from a cached read may be behind the database: evaluate the
        // headers again against the version the database reported, once.
        const derived = !(ifMatch !== undefined && !ifMatch.any && strongVersions(ifMatch).size === 1);
        if (errorCode(error) !== 'WT_VERSION_CONFLICT' || !derived || attempt > 0) throw error;
        current = (error as { currentVersion: number }).currentVersion;
      }
    }
  };

  const afterWrite = async (req: Request, id: string, version: number): Promise<void> => {
    if (tagsOf === undefined) return;
    try {
      await options.responseCache!.invalidateTags(tagsOf(id, req));
    } catch (error) {
      throw new Answer(
        {
          status: 503,
          title: 'Service Unavailable',
          detail:
            'the write was committed, but cached responses could not be invalidated; repeat the request ' +
            'to invalidate them',
          headers: { 'Retry-After': String(retryAfterSeconds), ETag: versionTag(version) },
          extras: { committed: true, cause: 'tag-invalidation' },
        },
        error,
      );
    }
  };

  const router = express.Router({ mergeParams: true });

  router.get('/', async (req, res) => {
    try {
      const ids = listIds(req.query.ids, maxIds).map(idOf);
      const unique = [...new Set(ids)];
      const keys = unique.map((id) => keyFor(id, req));
      const entries = await cache.getManyEntries(keys);
      const items: { id: string; version: number; value: V }[] = [];
      const missing: string[] = [];
      const versions: [string, number][] = [];
      unique.forEach((id, i) => {
        const entry = entries.get(keys[i]!);
        if (entry === undefined) missing.push(id);
        else items.push({ id, version: entry.version, value: entry.value });
        versions.push([id, entry?.version ?? 0]);
      });
      // A version names one value, so the list's representation is fixed by its ids and their
      // versions: a strong validator.
      const etag = `"l${createHash('sha256').update(JSON.stringify(versions)).digest('base64url').slice(0, 27)}"`;
      sendJson(req, res, 200, { items, missing }, etag, cacheControl);
    } catch (error) {
      fail(req, res, error, 'read');
    }
  });

  router.get('/:id', async (req, res) => {
    try {
      const id = idOf(req.params.id);
      const entry = await cache.getEntry(keyFor(id, req));
      if (entry === undefined) throw notFound();
      sendJson(req, res, 200, entry.value, versionTag(entry.version), cacheControl);
    } catch (error) {
      fail(req, res, error, 'read');
    }
  });

  router.put('/:id', async (req, res) => {
    let phase: 'read' | 'write' = 'read';
    try {
      const id = idOf(req.params.id);
      const key = keyFor(id, req);
      requirePrecondition(req, true);
      const value = checked(check(await readJsonBody(req, maxBodyBytes)));
      // Whether this PUT creates the resource (201) or replaces it (200): known from an atomic
      // ifVersion 0; otherwise from a read, which only picks the status.
      let created: boolean | undefined;
      phase = 'write';
      const { version } = await conditionalWrite(req, key, async (ifVersion) => {
        if (ifVersion === undefined) created ??= (await cache.getEntry(key)) === undefined;
        else created = ifVersion === 0;
        return cache.set(key, value, ifVersion === undefined ? undefined : { ifVersion });
      });
      await afterWrite(req, id, version);
      if (created) res.setHeader('Location', `${req.baseUrl}/${encodeURIComponent(id)}`);
      sendJson(req, res, created ? 201 : 200, value, versionTag(version));
    } catch (error) {
      fail(req, res, error, phase);
    }
  });

  router.patch('/:id', async (req, res) => {
    let phase: 'read' | 'write' = 'read';
    try {
      const id = idOf(req.params.id);
      const key = keyFor(id, req);
      requirePrecondition(req, false);
      const patch = await readJsonBody(req, maxBodyBytes);
      const ifMatch = parseTagCondition(req.headers['if-match']);
      const ifNoneMatch = parseTagCondition(req.headers['if-none-match']);
      const named = ifMatch === undefined || ifMatch.any ? 0 : Math.max(0, ...strongVersions(ifMatch));
      let probed = false;
      for (let attempt = 1; ; attempt++) {
        phase = 'read';
        const current: Versioned<V> | undefined = await cache.getEntry(key);
        if (named > (current?.version ?? 0) && !probed) {
          // The client has seen a newer version than this instance's copy (another instance wrote
          // it and the bus has not arrived yet): drop the older copies from every tier and raise the
          // key's floor to that version, so the next read finds it (in L2, or in the database).
          probed = true;
          await cache.invalidate(key, named).catch((error: unknown) => {
            // A tier that cannot be reached: the key is queued for repair and read from the database.
            if (errorCode(error) !== 'WT_CACHE_TIER') throw error;
          });
          continue;
        }
        if (current === undefined) {
          throw ifMatch === undefined ? notFound() : preconditionFailed(0);
        }
        const decided = precondition(ifMatch, ifNoneMatch, current.version) as Precondition;
        if ('failed' in decided) throw preconditionFailed(decided.failed);
        const value = checked(check(mergePatch(current.value, patch)));
        phase = 'write';
        try {
          const { version } = await cache.set(key, value, { ifVersion: current.version });
          await afterWrite(req, id, version);
          sendJson(req, res, 200, value, versionTag(version));
          return;
        } catch (error) {
          if (errorCode(error) !== 'WT_VERSION_CONFLICT') throw error;
          // Someone wrote in between. With an explicit version the client must decide (412); with
          // none (or `*`), merge again into what is there now.
          if (ifMatch !== undefined && !ifMatch.any) throw error;
          if (attempt >= patchAttempts) {
            throw new Answer({
              status: 409,
              title: 'Conflict',
              detail: 'the resource kept changing while the patch was applied; retry',
            });
          }
        }
      }
    } catch (error) {
      fail(req, res, error, phase);
    }
  });

  router.delete('/:id', async (req, res) => {
    try {
      const id = idOf(req.params.id);
      const key = keyFor(id, req);
      requirePrecondition(req, false);
      const result = await conditionalWrite(req, key, (ifVersion) =>
        cache.delete(key, ifVersion === undefined ? undefined : { ifVersion }),
      );
      if (!result.deleted) {
        throw req.headers['if-match'] === undefined ? notFound() : preconditionFailed(0);
      }
      await afterWrite(req, id, result.version);
      res.statusCode = 204;
      res.end();
    } catch (error) {
      fail(req, res, error, 'write');
    }
  });

  router.all('/', methodNotAllowed('GET, HEAD'));
  router.all('/:id', methodNotAllowed('GET, HEAD, PUT, PATCH, DELETE'));

  // Errors raised by Express itself inside this router (a path that does not decode).
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendProblem(res, {
        status,
        title: status === 400 ? 'Bad Request' : 'Client Error',
        detail: 'the request could not be read',
      });
      return;
    }
    fail(req, res, error, 'read');
  });

  return router;
}

function checked<V>(result: ReturnType<ReturnType<typeof toChecker<V>>>): V {
  if (result.ok) return result.value;
  throw new Answer({
    status: 400,
    title: 'Bad Request',
    detail: `the body was refused: ${result.reason}`,
    extras: { issues: result.issues },
  });
}

function notFound(): Answer {
  return new Answer({ status: 404, title: 'Not Found', detail: 'no resource has this id' });
}

function preconditionFailed(current: number): Answer {
  return new Answer({
    status: 412,
    title: 'Precondition Failed',
    detail:
      current > 0
        ? 'the resource has another version: read it again and retry with its ETag'
        : 'the resource does not exist',
    ...(current > 0 ? { headers: { ETag: versionTag(current) } } : {}),
  });
}

function methodNotAllowed(allow: string) {
  return (req: Request, res: Response): void => {
    res.setHeader('Allow', allow);
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.end();
      return;
    }
    sendProblem(res, {
      status: 405,
      title: 'Method Not Allowed',
      detail: `this resource accepts ${allow}`,
    });
  };
}

/** The ids of `?ids=a,b` (also `?ids=a&ids=b`), or an `Answer` (400). */
function listIds(raw: unknown, maxIds: number): string[] {
  const parts = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
  if (parts === undefined || parts.length === 0 || parts.some((p) => typeof p !== 'string')) {
    throw new Answer({
      status: 400,
      title: 'Bad Request',
      detail: 'give the ids to read as ?ids=a,b',
    });
  }
  const ids: string[] = [];
  for (const part of parts as string[]) {
    // Counted while splitting, so a flood of commas costs no more than maxIds ids.
    for (const id of part.split(',', maxIds + 1 - ids.length)) {
      ids.push(id);
      if (ids.length > maxIds) {
        throw new Answer({
          status: 400,
          title: 'Bad Request',
          detail: `at most ${maxIds} ids per request`,
        });
      }
    }
  }
  return ids;
}

/** Answers JSON with a strong ETag, or 304 when `If-None-Match` matches it (weak comparison). */
function sendJson(
  req: Request,
  res: Response,
  status: number,
  body: unknown,
  etag: string,
  cacheControl: string | false = false,
): void {
  res.setHeader('ETag', etag);
  if (cacheControl !== false) res.setHeader('Cache-Control', cacheControl);
  if (req.method === 'GET' || req.method === 'HEAD') {
    const ifNoneMatch = parseTagCondition(req.headers['if-none-match']);
    if (ifNoneMatch !== undefined && noneMatchHits(ifNoneMatch, etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
  }
  const text = JSON.stringify(body) ?? 'null';
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(text);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`writeThroughRouter: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
