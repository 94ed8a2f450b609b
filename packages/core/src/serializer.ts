import { SerializationError } from './errors.js';

/** Turns values into the text a shared tier (Redis) stores, and back. */
export interface Serializer {
  /** Encodes a value; throws when it cannot. */
  serialize(value: unknown): string;
  /** Decodes what `serialize` produced. */
  deserialize(text: string): unknown;
}

/**
 * The default serializer: JSON. Refuses what JSON cannot carry at all (functions, symbols,
 * `undefined`, BigInt, cycles); note that JSON turns a `Date` into a string and a `Map` into `{}`:
 * plug in a richer serializer (superjson, devalue…) for such values.
 */
export const jsonSerializer: Serializer = {
  serialize(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`JSON cannot encode a value of type ${typeof value}`);
    return text;
  },
  deserialize(text) {
    return JSON.parse(text);
  },
};

/** Serializes with `serializer`, turning any failure into a `SerializationError` for `key`. */
export function encode(serializer: Serializer, key: string, value: unknown): string {
  try {
    const text = serializer.serialize(value);
    if (typeof text !== 'string') throw new TypeError('the serializer must return a string');
    return text;
  } catch (cause) {
    throw new SerializationError(
      `cannot serialize the value of key ${JSON.stringify(key)}: ${(cause as Error)?.message ?? cause}`,
      { key, cause },
    );
  }
}

/** Deserializes with `serializer`, turning any failure into a `SerializationError` for `key`. */
export function decode(serializer: Serializer, key: string, text: string): unknown {
  try {
    return serializer.deserialize(text);
  } catch (cause) {
    throw new SerializationError(
      `cannot deserialize the cached value of key ${JSON.stringify(key)}: ${(cause as Error)?.message ?? cause}`,
      { key, cause },
    );
  }
}

/** Freezes a value and everything reachable from it, so a cached value cannot be mutated by a caller. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}
