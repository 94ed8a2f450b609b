/**
 * JSON Merge Patch (RFC 7396): objects merge member by member, `null` removes a member, anything
 * else replaces. The target is never modified (cached values are frozen); `__proto__` members are
 * kept as data, never as a prototype.
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The result of applying `patch` to `target`. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = {};
  if (isObject(target)) {
    for (const key of Object.keys(target)) put(out, key, target[key]);
  }
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete out[key];
    } else {
      put(out, key, mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value));
    }
  }
  return out;
}
