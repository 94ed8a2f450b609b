/**
 * Captures a response while it goes to the client: status, headers and body bytes, without
 * changing what the client receives.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Response } from 'express';

/** A response as it was sent. */
export interface Captured {
  /** The status. */
  readonly status: number;
  /** The headers as the handler set them, at its first write (before outer middleware's header hooks ran). */
  readonly headers: OutgoingHttpHeaders;
  /** The headers as they finally went out (outer middleware may have added some at writeHead). */
  readonly finalHeaders: OutgoingHttpHeaders;
  /** The body bytes. */
  readonly body: Buffer;
}

function lower(headers: OutgoingHttpHeaders | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined;
  if (typeof chunk === 'string') {
    const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8';
    return Buffer.from(chunk, enc);
  }
  // A copy: the caller may reuse its buffer after write() returns.
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  return undefined;
}

/**
 * Wraps `res.writeHead`, `res.write` and `res.end` to record the response. `done` is called once:
 * with the capture after `finish`, or with undefined when the body passed `maxBytes`, the headers
 * could not be read, or the connection closed before the response was complete.
 */
export function captureResponse(
  res: Response,
  maxBytes: number,
  done: (captured: Captured | undefined) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let usable = true;
  let snapshot: { status: number; headers: OutgoingHttpHeaders } | undefined;
  let called = false;
  const finish = (captured: Captured | undefined): void => {
    if (called) return;
    called = true;
    done(captured);
  };
  const take = (status?: number, extra?: unknown): void => {
    if (snapshot !== undefined) return;
    if (extra !== undefined && (extra === null || typeof extra !== 'object' || Array.isArray(extra))) {
      usable = false;
    }
    snapshot = {
      status: status ?? res.statusCode,
      headers: { ...lower(res.getHeaders()), ...lower(usable ? (extra as OutgoingHttpHeaders) : undefined) },
    };
  };
  const add = (chunk: unknown, encoding: unknown): void => {
    if (!usable) return;
    const bytes = toBuffer(chunk, encoding);
    if (bytes === undefined) return;
    size += bytes.length;
    if (size > maxBytes) {
      usable = false;
      chunks.length = 0;
      return;
    }
    chunks.push(bytes);
  };

  const writeHead = res.writeHead;
  const write = res.write;
  const end = res.end;
  res.writeHead = function (this: Response, statusCode: number, ...rest: unknown[]) {
    take(statusCode, typeof rest[0] === 'string' ? rest[1] : rest[0]);
    return (writeHead as (...args: unknown[]) => Response).call(this, statusCode, ...rest);
  } as Response['writeHead'];
  res.write = function (this: Response, chunk: unknown, ...rest: unknown[]) {
    take();
    add(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Response['write'];
  res.end = function (this: Response, chunk?: unknown, ...rest: unknown[]) {
    take();
    add(chunk, rest[0]);
    return (end as (...args: unknown[]) => Response).call(this, chunk, ...rest);
  } as Response['end'];

  res.once('finish', () => {
    if (!usable || snapshot === undefined) {
      finish(undefined);
      return;
    }
    finish({
      status: snapshot.status,
      headers: snapshot.headers,
      finalHeaders: lower(res.getHeaders()),
      body: Buffer.concat(chunks),
    });
  });
  res.once('close', () => {
    if (!res.writableFinished) finish(undefined);
  });
}
