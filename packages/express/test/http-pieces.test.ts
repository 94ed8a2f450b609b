/** The small pieces: entity-tag parsing and comparison, and JSON merge patch. */
import { describe, expect, it } from 'vitest';
import { noneMatchHits, parseTagCondition, strongVersions, tagVersion } from '../src/etag.ts';
import { mergePatch } from '../src/index.ts';

describe('entity tags', () => {
  it('parses lists, weak tags and *; drops what follows a malformed member', () => {
    expect(parseTagCondition(undefined)).toBeUndefined();
    expect(parseTagCondition(' * ')).toEqual({ any: true });
    expect(parseTagCondition('"1", W/"2" ,,"x"')).toEqual({
      any: false,
      tags: [
        { weak: false, opaque: '1' },
        { weak: true, opaque: '2' },
        { weak: false, opaque: 'x' },
      ],
    });
    expect(parseTagCondition('"1", bad, "2"')).toEqual({ any: false, tags: [{ weak: false, opaque: '1' }] });
    expect(parseTagCondition(`"${'9'.repeat(9_000)}"`)).toEqual({ any: false, tags: [] });
  });

  it('weak comparison for If-None-Match, strong versions only for If-Match', () => {
    const condition = parseTagCondition('W/"7", "8"')!;
    expect(noneMatchHits(condition, '"7"')).toBe(true);
    expect(noneMatchHits(condition, 'W/"8"')).toBe(true);
    expect(noneMatchHits(condition, '"9"')).toBe(false);
    expect(noneMatchHits(condition, undefined)).toBe(false);
    if (condition.any) throw new Error('unexpected *');
    expect([...strongVersions(condition)]).toEqual([8]);
    expect(tagVersion({ weak: false, opaque: '007' })).toBeUndefined();
    expect(tagVersion({ weak: false, opaque: '99999999999999999' })).toBeUndefined();
    expect(tagVersion({ weak: false, opaque: '12' })).toBe(12);
  });
});

describe('mergePatch (RFC 7396 appendix A)', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(cases)('%j + %j', (target, patch, expected) => {
    const frozen = Object.freeze(structuredClone(target));
    expect(mergePatch(frozen, patch)).toEqual(expected);
  });
});
