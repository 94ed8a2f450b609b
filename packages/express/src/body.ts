/**
 * Request bodies: JSON read with a byte limit, without a body-parser dependency (a body that
 * another middleware already parsed is used as it is).
 */
import type { Request } from 'express';
import type { Problem } from './problem.js';

/** A body that could not be read, as the problem to answer. */
export class BodyError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.problem = problem;
  }
}

/** Whether `contentType` is JSON (`application/json` or `application/*+json`) in UTF-8. */
function isJsonMedia(contentType: string): boolean {
  const [essence, ...params] = contentType.split(';');
  const type = essence!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) return false;
  for (const param of params) {
    const [name, raw] = param.split('=');
    if (name?.trim().toLowerCase() !== 'charset') continue;
    const charset = raw
      ?.trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return false;
  }
  return true;
}

function tooLarge(limit: number): BodyError {
  return new BodyError({
    status: 413,
    title: 'Content Too Large',
    detail: `the body is larger than ${limit} bytes`,
    headers: { Connection: 'close' },
  });
}

/**
 * Reads the request's JSON body. Throws `BodyError` with 415 (not JSON in UTF-8, or encoded),
 * 413 (over `limit` bytes: refused from Content-Length before reading, or as soon as the stream
 * passes it) or 400 (empty or invalid JSON).
 */
export async function readJsonBody(req: Request, limit: number): Promise<unknown> {
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined) {
    // Another middleware (express.json()) read it and owns its limits.
    if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) return parseJson(parsed.toString());
    return parsed;
  }
  const contentType = req.headers['content-type'];
  if (contentType === undefined || !isJsonMedia(contentType)) {
    throw new BodyError({
      status: 415,
      title: 'Unsupported Media Type',
      detail: 'send the body as application/json (UTF-8)',
      headers: { 'Accept-Patch': 'application/merge-patch+json, application/json' },
    });
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new BodyError({
      status: 415,
      title: 'Unsupported Media Type',
      detail: 'compressed request bodies are not accepted',
    });
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    throw tooLarge(limit);
  }
  if (req.readableEnded) throw new BodyError({ status: 400, title: 'Bad Request', detail: 'empty body' });
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // The rest is discarded; the answer closes the connection.
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the client closed the connection before the body was read'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
  return parseJson(text);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new BodyError({ status: 400, title: 'Bad Request', detail: 'empty body' });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BodyError({
      status: 400,
      title: 'Bad Request',
      detail: `invalid JSON: ${(error as Error).message}`,
    });
  }
}
