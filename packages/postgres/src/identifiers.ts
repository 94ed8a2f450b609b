/**
 * SQL identifiers (schema, table, sequence): validated when the store is built, then always used
 * double-quoted, so they are matched exactly (case-sensitive) and can never carry SQL.
 */
import { InvalidArgumentError } from '@writethrough/core';

/** Letters, digits and underscores, not starting with a digit; at most 63 bytes (Postgres's NAMEDATALEN - 1). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_IDENTIFIER_BYTES = 63;

/** Checks an identifier and answers it double-quoted; throws `InvalidArgumentError` for anything else. */
export function quoteIdentifier(name: unknown, what: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new InvalidArgumentError(
      `${what} must be letters, digits and underscores, not starting with a digit; got ${JSON.stringify(name)}`,
    );
  }
  if (name.length > MAX_IDENTIFIER_BYTES) {
    throw new InvalidArgumentError(
      `${what} must be at most ${MAX_IDENTIFIER_BYTES} characters (Postgres would truncate it), got ${name.length}: ${name}`,
    );
  }
  return `"${name}"`;
}

/** A SQL string literal (single quotes doubled). Only used for validated identifiers. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * A Postgres array literal of text (`{"a","b\"c"}`): every element double-quoted, with `\` and `"`
 * escaped. Sent as one text bind parameter cast to `text[]` or `jsonb[]`, so the driver's own array
 * encoding (which differs between pg and PGlite) is never involved.
 */
export function arrayLiteral(items: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    out += `"${items[i]!.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}
