/**
 * K5: record-store loads per key (research/semantics.md §3.2, P10). Report only: loads of one key
 * whose [start, end] intervals overlap on one instance incarnation are counted as data (the engine
 * coalesces concurrent misses, but a load after an invalidation may legitimately overlap one in
 * flight), never as violations.
 */
import type { History, LoadEvent } from '../history.js';
import type { K5Result } from './types.js';

/** How many top keys `perKeyTop` lists. */
const TOP = 5;

/** K5 over a whole history's loads. */
export function checkLoads(history: History): K5Result {
  const perKey = new Map<string, number>();
  const groups = new Map<string, LoadEvent[]>();
  for (const load of history.loads) {
    perKey.set(load.key, (perKey.get(load.key) ?? 0) + 1);
    const group = `${load.instance}.${load.incarnation}\u0000${load.key}`;
    const list = groups.get(group);
    if (list === undefined) groups.set(group, [load]);
    else list.push(load);
  }
  let overlapping = 0;
  for (const list of groups.values()) {
    list.sort((a, b) => a.start - b.start);
    let end = Number.NEGATIVE_INFINITY;
    for (const load of list) {
      if (load.start <= end) overlapping++;
      end = Math.max(end, load.end);
    }
  }
  const ranked = [...perKey].map(([key, loads]) => ({ key, loads }));
  ranked.sort((a, b) => b.loads - a.loads || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    loads: history.loads.length,
    keysLoaded: perKey.size,
    maxLoadsPerKey: ranked[0]?.loads ?? 0,
    overlapping,
    perKeyTop: ranked.slice(0, TOP),
  };
}
