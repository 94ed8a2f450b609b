/**
 * Error responses as RFC 9457 problem details, and the one place that decides which status an
 * engine error becomes. Errors are recognised by their stable `code`, never by `instanceof`, so a
 * second copy of `@writethrough/core` (ESM next to CJS) is still recognised.
 */
import type { Request, Response } from 'express';

/** Extra members of a problem body. */
export type ProblemExtras = Readonly<Record<string, unknown>>;

/** A response to send for an error. */
export interface Problem {
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly extras?: ProblemExtras;
}

/** Sends `problem` as `application/problem+json`. */
export function sendProblem(res: Response, problem: Problem): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    type: 'about:blank',
    title: problem.title,
    status: problem.status,
    ...(problem.detail === undefined ? {} : { detail: problem.detail }),
    ...problem.extras,
  });
  res.statusCode = problem.status;
  for (const [name, value] of Object.entries(problem.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (problem.status >= 500) res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

/** The code of a writethrough error, or undefined. */
export function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('WT_') ? code : undefined;
}

/** Options of `problemFor`. */
export interface ProblemContext {
  /** Whether the failed call was a read or a write (a size limit means a long id on a read, a large body on a write). */
  readonly phase: 'read' | 'write';
  /** `Retry-After` of a 503, seconds. */
  readonly retryAfterSeconds: number;
}

/**
 * The response for an error thrown by the engine (or anything else): 4xx for what the client sent,
 * 503 with `Retry-After` for what may pass (database down, retries exhausted, unknown outcome,
 * cache closing), 500 for the rest, with a fixed text that reveals nothing about the server.
 */
export function problemFor(error: unknown, context: ProblemContext): Problem {
  const code = errorCode(error);
  const unavailable = (detail: string, extras?: ProblemExtras): Problem => ({
    status: 503,
    title: 'Service Unavailable',
    detail,
    headers: { 'Retry-After': String(context.retryAfterSeconds) },
    ...(extras === undefined ? {} : { extras }),
  });
  switch (code) {
    case 'WT_VERSION_CONFLICT': {
      const current = (error as { currentVersion?: unknown }).currentVersion;
      const version = typeof current === 'number' && current > 0 ? current : undefined;
      return {
        status: 412,
        title: 'Precondition Failed',
        detail:
          version === undefined
            ? 'the resource does not exist'
            : 'the resource has another version: read it again and retry with its ETag',
        ...(version === undefined ? {} : { headers: { ETag: `"${version}"` } }),
      };
    }
    case 'WT_VALIDATION': {
      const cause = (error as { cause?: unknown }).cause;
      return {
        status: 400,
        title: 'Bad Request',
        detail: `the value was refused by the validator: ${messageOf(cause) ?? 'invalid'}`,
      };
    }
    case 'WT_SIZE_LIMIT':
      return context.phase === 'write'
        ? { status: 413, title: 'Content Too Large', detail: 'the value is larger than the limit' }
        : { status: 400, title: 'Bad Request', detail: 'the id is too long' };
    case 'WT_INVALID_ARGUMENT':
      return { status: 400, title: 'Bad Request', detail: 'the id or the value is not acceptable' };
    case 'WT_SERIALIZATION':
      return context.phase === 'write'
        ? { status: 400, title: 'Bad Request', detail: 'the value cannot be serialized' }
        : internal();
    case 'WT_RECORD_STORE':
      return (error as { retryable?: unknown }).retryable === true
        ? unavailable('the database is unavailable; retry later')
        : internal();
    case 'WT_WRITE_OUTCOME_UNKNOWN':
      return unavailable(
        'the write may or may not have been applied: read the resource to learn the outcome before retrying',
        { outcome: 'unknown' },
      );
    case 'WT_ABORTED':
    case 'WT_CACHE_CLOSED':
    case 'WT_CACHE_TIER':
      return unavailable('the service is unavailable; retry later');
    default:
      return internal();
  }
}

function internal(): Problem {
  return { status: 500, title: 'Internal Server Error', detail: 'the request could not be completed' };
}

/** An error's message, when it has one. */
export function messageOf(error: unknown): string | undefined {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  return undefined;
}

/** The default `onError`: unexpected errors (answered 500) go to the console. */
export function defaultOnError(error: unknown, req: Request, status: number): void {
  if (status >= 500 && status !== 503) {
    console.error(`@writethrough/express: ${req.method} ${req.originalUrl} answered ${status}:`, error);
  }
}
