/**
 * Entity tags (RFC 9110 §8.8.3) and the two conditional headers this package evaluates:
 * `If-None-Match` with weak comparison, `If-Match` with strong comparison (§13.1.1, §13.1.2).
 */

/** One entity tag of a conditional header. */
export interface EntityTag {
  /** `W/` prefix. */
  readonly weak: boolean;
  /** The opaque tag, without the quotes. */
  readonly opaque: string;
}

/** A parsed `If-Match` / `If-None-Match`: `*`, or a list of tags (malformed members are dropped). */
export type TagCondition =
  | { readonly any: true }
  | { readonly any: false; readonly tags: readonly EntityTag[] };

const MEMBER = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y;
/** Longest header value evaluated; a longer one is treated as matching nothing. */
const MAX_HEADER_LENGTH = 8_192;

/** Parses a conditional header; undefined when it is absent. */
export function parseTagCondition(header: string | string[] | undefined): TagCondition | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return { any: true };
  const tags: EntityTag[] = [];
  if (value.length > MAX_HEADER_LENGTH) return { any: false, tags };
  // Empty list members (", ,") are allowed by the list syntax; a malformed member ends the parse.
  let at = 0;
  while (at < value.length) {
    while (at < value.length && (value[at] === ',' || value[at] === ' ' || value[at] === '\t')) at++;
    if (at >= value.length) break;
    MEMBER.lastIndex = at;
    const m = MEMBER.exec(value);
    if (m === null) break;
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
    at = MEMBER.lastIndex;
  }
  return { any: false, tags };
}

/** The strong ETag of a version: `"<version>"`. */
export function versionTag(version: number): string {
  return `"${version}"`;
}

/** The version a strong tag names, or undefined (weak tags and other opaque tags name none). */
export function tagVersion(tag: EntityTag): number | undefined {
  if (tag.weak || !/^[1-9][0-9]{0,15}$/.test(tag.opaque)) return undefined;
  const n = Number(tag.opaque);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Weak comparison of `etag` (a full header value such as `W/"x"` or `"x"`) with the condition. */
export function noneMatchHits(condition: TagCondition, etag: string | undefined): boolean {
  if (etag === undefined) return false;
  if (condition.any) return true;
  const current = parseTagCondition(etag);
  if (current === undefined || current.any || current.tags.length !== 1) return false;
  const opaque = current.tags[0]!.opaque;
  return condition.tags.some((t) => t.opaque === opaque);
}

/** The versions an `If-Match` list names with strong tags (weak tags never match, RFC 9110 §13.1.1). */
export function strongVersions(condition: TagCondition & { any: false }): Set<number> {
  const out = new Set<number>();
  for (const tag of condition.tags) {
    const v = tagVersion(tag);
    if (v !== undefined) out.add(v);
  }
  return out;
}
