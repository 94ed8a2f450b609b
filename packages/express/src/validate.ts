/**
 * Body validators: a zod schema (or anything with `safeParse`), anything with `parse`, or a
 * function. Each returns the value to store or a refusal with a reason for the client.
 */

/** What a `safeParse` answers (zod's shape). */
export type SafeParseResult<V> =
  | { readonly success: true; readonly data: V }
  | { readonly success: false; readonly error: unknown };

/**
 * Checks a request body (PUT) or a merged value (PATCH) before it is written: a zod schema as it
 * is (`safeParse`), an object with `parse` that throws, or a function that returns the value to
 * store or throws. The thrown error's message (or zod's issues) is the reason given with the 400.
 */
export type BodyValidator<V> =
  | { safeParse(value: unknown): SafeParseResult<V> }
  | { parse(value: unknown): V }
  | ((value: unknown) => V);

/** One problem found by a validator: where (a dotted path) and what. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** The outcome of a validator. */
export type Checked<V> =
  | { readonly ok: true; readonly value: V }
  | { readonly ok: false; readonly reason: string; readonly issues: readonly ValidationIssue[] };

/** Normalizes a validator into one function; throws `TypeError` for something that is none. */
export function toChecker<V>(validator: BodyValidator<V> | undefined): (value: unknown) => Checked<V> {
  if (validator === undefined) return (value) => ({ ok: true, value: value as V });
  if (typeof validator === 'function') {
    return (value) => {
      try {
        return { ok: true, value: validator(value) };
      } catch (error) {
        return refusal(error);
      }
    };
  }
  if (validator !== null && typeof validator === 'object') {
    if ('safeParse' in validator && typeof validator.safeParse === 'function') {
      return (value) => {
        const result = validator.safeParse(value);
        return result.success ? { ok: true, value: result.data } : refusal(result.error);
      };
    }
    if ('parse' in validator && typeof validator.parse === 'function') {
      return (value) => {
        try {
          return { ok: true, value: validator.parse(value) };
        } catch (error) {
          return refusal(error);
        }
      };
    }
  }
  throw new TypeError('validate must be a function, or an object with safeParse() or parse() (a zod schema)');
}

const MAX_ISSUES = 20;

/** The reason and issues of a refusal: zod-style `issues` when present, else the message. */
function refusal(error: unknown): Checked<never> {
  const raw = (error as { issues?: unknown } | null)?.issues;
  if (Array.isArray(raw) && raw.length > 0) {
    const issues: ValidationIssue[] = raw.slice(0, MAX_ISSUES).map((issue) => {
      const path = Array.isArray(issue?.path) ? issue.path.map((p: unknown) => String(p)).join('.') : '';
      const message = typeof issue?.message === 'string' ? issue.message : 'invalid';
      return { path, message };
    });
    const first = issues[0]!;
    const reason = first.path === '' ? first.message : `${first.path}: ${first.message}`;
    return { ok: false, reason, issues };
  }
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'invalid';
  return { ok: false, reason: message, issues: [] };
}
