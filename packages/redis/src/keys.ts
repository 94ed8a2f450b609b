/**
 * The Redis keys of one cache key, and the checks a key and a namespace must pass.
 *
 * A cache key `k` of namespace `ns` lives in three Redis keys:
 * `ns{e}:v` (the value), `ns{e}:l` (the fill lease) and `ns{e}:m` (the write mark), where `e` is
 * `k` escaped: `\` → `\\`, `{` → `\(`, `}` → `\)`. The escaping is injective (distinct keys give
 * distinct Redis keys) and leaves no brace in `e`; the namespace has none either, so the first `{`
 * of every Redis key opens the hash tag and the first `}` closes it around `e`, which is never empty
 * (empty keys are refused). The three keys of a cache key thus share one Cluster hash slot, and every
 * protocol script touches a single slot.
 */

import { InvalidArgumentError, SizeLimitError } from '@writethrough/core';

/** The three Redis keys of one cache key: value, lease, mark. */
export interface KeyTriple {
  readonly value: string;
  readonly lease: string;
  readonly mark: string;
}

const BRACE_OR_BACKSLASH = /[\\{}]/;
const BRACE_OR_BACKSLASH_ALL = /[\\{}]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '{': '\\(', '}': '\\)' };

/** Escapes `key` for the hash tag: no `{` or `}` left, injective. */
export function escapeKey(key: string): string {
  return BRACE_OR_BACKSLASH.test(key) ? key.replace(BRACE_OR_BACKSLASH_ALL, (c) => ESCAPES[c]!) : key;
}

/** The Redis keys of `key` in `namespace` (the namespace already checked). */
export function redisKeys(namespace: string, key: string): KeyTriple {
  const base = `${namespace}{${escapeKey(key)}}:`;
  return { value: `${base}v`, lease: `${base}l`, mark: `${base}m` };
}

/** The Redis value key of `key` (the hit path needs only this one). */
export function valueKey(namespace: string, key: string): string {
  return `${namespace}{${escapeKey(key)}}:v`;
}

/** A SCAN MATCH pattern for every key of `namespace`: the namespace with glob characters escaped, then `{*`. */
export function namespacePattern(namespace: string): string {
  return `${namespace.replace(/[\\*?[\]^-]/g, (c) => `\\${c}`)}{*`;
}

/** Checks a namespace: a non-empty string without `{` or `}`. */
export function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace.length === 0) {
    throw new InvalidArgumentError(`namespace must be a non-empty string, got ${describe(namespace)}`);
  }
  if (namespace.includes('{') || namespace.includes('}')) {
    throw new InvalidArgumentError(
      `namespace must not contain "{" or "}" (they would break the keys' hash tags), got ${JSON.stringify(namespace)}`,
    );
  }
  if (!isWellFormed(namespace)) {
    throw new InvalidArgumentError('namespace must be well-formed UTF-16 (no lone surrogates)');
  }
  return namespace;
}

/**
 * Checks a cache key: a non-empty, well-formed string (a lone surrogate would become U+FFFD in
 * UTF-8, so two keys would collide) of at most `maxKeyBytes` UTF-8 bytes.
 */
export function checkKey(key: unknown, maxKeyBytes: number): asserts key is string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`a key must be a string, got ${describe(key)}`);
  if (key.length === 0) throw new InvalidArgumentError('a key must not be empty');
  // A UTF-16 code unit is at most 3 UTF-8 bytes: the byte count is needed only for long keys.
  if (key.length * 3 > maxKeyBytes) {
    const size = Buffer.byteLength(key, 'utf8');
    if (size > maxKeyBytes) {
      throw new SizeLimitError(
        `a key of ${size} bytes is over the limit of ${maxKeyBytes} (maxKeyBytes)`,
        size,
        maxKeyBytes,
        { key: key.slice(0, 64) },
      );
    }
  }
  if (!isWellFormed(key)) {
    throw new InvalidArgumentError(
      'a key must be well-formed UTF-16: a lone surrogate would collide with U+FFFD once encoded as UTF-8',
      { key },
    );
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `String.prototype.isWellFormed` (Node 20), with a fallback. */
export function isWellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return native === undefined ? !LONE_SURROGATE.test(text) : native.call(text);
}

export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Cluster hash slots (CRC16/XMODEM of the hash tag, mod 16384), to group getMany by slot.
// ---------------------------------------------------------------------------------------------

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** The Cluster hash slot of a Redis key (as `CLUSTER KEYSLOT` computes it). */
export function keySlot(redisKey: string): number {
  let bytes = Buffer.from(redisKey, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc & 0x3fff;
}
