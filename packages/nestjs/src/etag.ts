/**
 * The conditional headers the interceptor evaluates (RFC 9110 §13.1): `If-None-Match` with weak
 * comparison, `If-Match` with strong comparison. ETags are versions: `"<version>"`.
 */

/** A parsed conditional header: `*`, or the versions its tags name (weak and foreign tags dropped where they cannot match). */
export type Condition =
  | { readonly any: true }
  | {
      readonly any: false;
      /** Versions named by strong tags. */
      readonly strong: ReadonlySet<number>;
      /** Versions named by any tag, weak or strong (for weak comparison). */
      readonly all: ReadonlySet<number>;
    };

const MEMBER = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;
/** Longest header evaluated; a longer one matches nothing. */
const MAX_HEADER_LENGTH = 8_192;

/** The ETag of a version. */
export function versionTag(version: number): string {
  return `"${version}"`;
}

function tagVersion(opaque: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(opaque)) return undefined;
  const n = Number(opaque);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parses `If-Match` / `If-None-Match`; undefined when absent. A malformed member matches nothing. */
export function parseCondition(header: string | string[] | undefined): Condition | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return { any: true };
  const strong = new Set<number>();
  const all = new Set<number>();
  if (value.length <= MAX_HEADER_LENGTH) {
    for (const raw of value.split(',')) {
      const member = raw.trim();
      if (member === '') continue;
      const m = MEMBER.exec(member);
      if (m === null) continue;
      const version = tagVersion(m[2]!);
      if (version === undefined) continue;
      all.add(version);
      if (m[1] === undefined) strong.add(version);
    }
  }
  return { any: false, strong, all };
}

/** `If-None-Match` (weak comparison) against the current version (undefined: absent). */
export function noneMatchHits(condition: Condition, version: number | undefined): boolean {
  if (version === undefined) return false;
  return condition.any || condition.all.has(version);
}

/** `If-Match` (strong comparison) against the current version (undefined: absent). */
export function matchHits(condition: Condition, version: number | undefined): boolean {
  if (version === undefined) return false;
  return condition.any || condition.strong.has(version);
}
