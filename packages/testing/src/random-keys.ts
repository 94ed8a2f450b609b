/**
 * Keys for conformance tests: unique per call, so tests never see each other's data even on a
 * shared server, and hostile ones that break naive escaping, hashing or key building.
 */

import { randomUUID } from 'node:crypto';

/** A fresh unique key, `prefix:` followed by a random id. */
export function randomKey(prefix = 'wt-test'): string {
  return `${prefix}:${randomUUID()}`;
}

/** One hostile key and what makes it hostile. */
export interface HostileKey {
  /** What it tests, for test titles and failure messages. */
  readonly label: string;
  /** The key (unique per call of `hostileKeys`). */
  readonly key: string;
}

/** Length of the long hostile key, in UTF-16 code units. */
export const LONG_KEY_LENGTH = 1000;

/**
 * Hostile keys, each made unique with a fresh random id: spaces, newlines, braces (Redis Cluster
 * hash tags), glob and LIKE wildcards, quotes and SQL or Lua injection, unicode (emoji, CJK,
 * right-to-left, combining marks; no lone surrogates and no NUL, which no UTF-8 server stores),
 * near-duplicates (trailing space, other case) and a 1000-character key.
 */
export function hostileKeys(): HostileKey[] {
  const id = randomUUID().slice(0, 8);
  const keys: [string, string][] = [
    ['plain', `wt ${id}`],
    ['trailing space (near-duplicate of plain)', `wt ${id} `],
    ['other case (near-duplicate of plain)', `WT ${id}`],
    ['spaces and tabs', `  wt\t${id}  spaced  `],
    ['newlines', `wt\n${id}\r\nline`],
    ['hash tag braces', `{wt}:${id}:{}`],
    ['unbalanced braces', `}{wt${id}{`],
    ['glob and LIKE wildcards', `wt*${id}?[a-z]%_\\`],
    ['quotes', `wt'${id}"\`quoted\``],
    ['SQL injection', `wt${id}'); DROP TABLE records; --`],
    ['Lua injection', `wt${id}]]..redis.call('FLUSHALL')..[[`],
    ['JSON-looking', `{"key":"wt${id}","version":1}`],
    ['separators', `wt:${id}::/\\|;,`],
    ['unicode', `wt-${id}-ключ-鍵-🔑-ñ-é-e\u0301-\u05e9\u05dc\u05d5\u05dd`],
    ['precomposed é', `wt-${id}-caf\u00e9`],
    ['decomposed é (near-duplicate of precomposed)', `wt-${id}-cafe\u0301`],
    ['emoji only', `🗝️${id}🧪👩‍👩‍👧‍👦`],
    ['control characters', `wt${id}\u0001\u001b[0m\u007f`],
  ];
  const long = `wt-long-${id}-`;
  keys.push(['1000 characters', long + 'x'.repeat(LONG_KEY_LENGTH - long.length)]);
  return keys.map(([label, key]) => ({ label, key }));
}
