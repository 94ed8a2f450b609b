/**
 * Tag versions: each tag is a key of a writethrough cache, and its version (assigned by that
 * cache's record store) is the tag's version. Invalidating a tag writes the key, so the new version
 * travels the engine's own path: the database, L2, and the bus to every other instance's L1.
 */
import { createCache, InvalidArgumentError, memoryRecords } from '@writethrough/core';
import { isWellFormed } from './text.js';

/** What a tag key holds; only its version matters. */
export interface TagMark {
  /** When the tag was invalidated, epoch ms (for people reading the table). */
  readonly invalidatedAt: number;
}

/**
 * Where tag versions live: a writethrough cache (`createCache`), ideally with a shared record store,
 * an L2 and a bus, so that an invalidation on one instance is seen by all. Only these two methods
 * are used.
 */
export interface TagCache {
  /** Versions of the tag keys that exist. */
  getManyEntries(keys: readonly string[]): Promise<Map<string, { readonly version: number }>>;
  /** Writes the tag keys in one transaction; each gets a new version. */
  setMany(entries: readonly { key: string; value: TagMark }[]): Promise<Map<string, { version: number }>>;
}

/** The prefix of tag keys in the tag cache. */
export const TAG_KEY_PREFIX = 'tag:';
/** Longest tag, in characters. */
export const MAX_TAG_LENGTH = 200;
/** Most tags on one response or one invalidation. */
export const MAX_TAGS = 64;

/** Checks and de-duplicates tags; throws `InvalidArgumentError` for an invalid one. */
export function checkTags(tags: readonly string[]): string[] {
  if (!Array.isArray(tags)) throw new InvalidArgumentError('tags must be an array of strings');
  const unique = [...new Set(tags)];
  if (unique.length > MAX_TAGS) {
    throw new InvalidArgumentError(`at most ${MAX_TAGS} tags, got ${unique.length}`);
  }
  for (const tag of unique) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH || !isWellFormed(tag)) {
      throw new InvalidArgumentError(
        `a tag must be a non-empty well-formed string of at most ${MAX_TAG_LENGTH} characters`,
      );
    }
  }
  return unique;
}

/** The current version of each tag (0 for a tag never invalidated). */
export async function readTagVersions(
  cache: TagCache,
  tags: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (tags.length === 0) return out;
  const entries = await cache.getManyEntries(tags.map((t) => TAG_KEY_PREFIX + t));
  for (const tag of tags) out.set(tag, entries.get(TAG_KEY_PREFIX + tag)?.version ?? 0);
  return out;
}

/** Gives every tag a new version, in one write; resolves once the write is acknowledged. */
export async function bumpTags(cache: TagCache, tags: readonly string[]): Promise<void> {
  const unique = checkTags(tags);
  if (unique.length === 0) return;
  const invalidatedAt = Date.now();
  await cache.setMany(unique.map((t) => ({ key: TAG_KEY_PREFIX + t, value: { invalidatedAt } })));
}

let processTags: TagCache | undefined;

/**
 * The tag cache used when none is given: in this process only (memory records, no L2, no bus).
 * Shared by every `cacheResponses` and `invalidateTags` of the process that was given none.
 */
export function processTagCache(): TagCache {
  processTags ??= createCache<TagMark>({ name: 'wt-express-tags', records: memoryRecords<TagMark>() });
  return processTags;
}
