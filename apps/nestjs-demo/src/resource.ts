/** What the two controllers share: the id check, `404`, and the merge of a `PATCH`. */
import {
  BadRequestException,
  HttpException,
  HttpStatus,
  NotFoundException,
  type PipeTransform,
  PreconditionFailedException,
} from '@nestjs/common';
import type { WriteThroughCache } from '@writethrough/core';
import type { z } from 'zod';
import { ID } from './schemas.js';

/** `400` unless the route's id is 1 to 64 letters, digits, `_` or `-`. */
export class IdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!ID.test(value)) throw new BadRequestException('ids are 1 to 64 letters, digits, _ or -');
    return value;
  }
}

/** The `404` of an id that has no value. */
export function notFound(resource: string, id: string): never {
  throw new NotFoundException(`no ${resource} ${JSON.stringify(id)}`);
}

/**
 * A `PATCH`: merges `patch` into the current value (a JSON merge patch of one level: `null` removes a
 * member) and checks the result. It needs `If-Match` (`428` without): the interceptor writes the
 * result with that version as `ifVersion`, so the database refuses it (`412`) if the value changed
 * since the version that was merged into.
 */
export async function mergePatch<S extends z.ZodType>(
  cache: WriteThroughCache<z.infer<S>>,
  resource: string,
  id: string,
  ifMatch: string | undefined,
  patch: unknown,
  schema: S,
): Promise<z.infer<S>> {
  if (ifMatch === undefined) {
    throw new HttpException(
      `PATCH needs If-Match: the ETag of the ${resource} the patch applies to (GET it first)`,
      HttpStatus.PRECONDITION_REQUIRED,
    );
  }
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new BadRequestException('a PATCH body is a JSON object of the members to change');
  }
  const entry = await cache.getEntry(id);
  if (entry === undefined) notFound(resource, id);
  const tags = ifMatch.split(',').map((t) => t.trim());
  // The interceptor checked If-Match against the cache; this is the value the patch is merged into.
  if (!tags.includes('*') && !tags.includes(`"${entry.version}"`)) {
    throw new PreconditionFailedException('the resource has another version');
  }
  const merged: Record<string, unknown> = { ...(entry.value as Record<string, unknown>) };
  for (const [member, value] of Object.entries(patch)) {
    if (value === null) delete merged[member];
    else merged[member] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    throw new BadRequestException({
      title: 'Bad Request',
      status: 400,
      problems: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return parsed.data;
}
