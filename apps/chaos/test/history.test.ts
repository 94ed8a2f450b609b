import { describe, expect, it } from 'vitest';
import { type HistoryLine, parseHistory } from '../src/history.js';

const ndjson = (...lines: (HistoryLine | string)[]) =>
  `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;

const who = (instance: number, client = 0) => ({ instance, incarnation: 0, client });

describe('parseHistory', () => {
  it('merges the files of two instances into operations sorted by invoke', () => {
    const a = ndjson(
      { ev: 'invoke', id: 'i0.0.c0.1', type: 'write', kind: 'set', key: 'k', invoke: 10, ...who(0) },
      { ev: 'invoke', id: 'i0.0.c1.1', type: 'read', tier: 'other', key: 'k', invoke: 30, ...who(0, 1) },
      { ev: 'complete', id: 'i0.0.c0.1', complete: 20, outcome: 'ok', version: 1 },
      {
        ev: 'complete',
        id: 'i0.0.c1.1',
        complete: 40,
        outcome: 'ok',
        value: 'i0.0.c0.1',
        version: 1,
        tier: 'l1',
      },
    );
    const b = ndjson(
      { ev: 'invoke', id: 'i1.0.c0.1', type: 'write', kind: 'delete', key: 'k', invoke: 15, ...who(1) },
      {
        ev: 'complete',
        id: 'i1.0.c0.1',
        complete: 25,
        outcome: 'fail',
        error: 'VersionConflictError',
      },
    );
    const { ops, loads, faults } = parseHistory([a, b]);
    expect(ops).toEqual([
      {
        id: 'i0.0.c0.1',
        type: 'write',
        kind: 'set',
        key: 'k',
        invoke: 10,
        ...who(0),
        complete: 20,
        outcome: 'ok',
        version: 1,
      },
      {
        id: 'i1.0.c0.1',
        type: 'write',
        kind: 'delete',
        key: 'k',
        invoke: 15,
        ...who(1),
        complete: 25,
        outcome: 'fail',
        error: 'VersionConflictError',
      },
      {
        id: 'i0.0.c1.1',
        type: 'read',
        tier: 'l1',
        key: 'k',
        invoke: 30,
        ...who(0, 1),
        complete: 40,
        outcome: 'ok',
        value: 'i0.0.c0.1',
        version: 1,
      },
    ]);
    expect(loads).toEqual([]);
    expect(faults).toEqual([]);
  });

  it('skips a torn last line, and a write cut off by it becomes info', () => {
    const text =
      ndjson({ ev: 'invoke', id: 'w', type: 'write', kind: 'set', key: 'k', invoke: 1, ...who(0) }) +
      '{"ev":"complete","id":"w","compl';
    const { ops } = parseHistory([text]);
    expect(ops).toEqual([
      {
        id: 'w',
        type: 'write',
        kind: 'set',
        key: 'k',
        invoke: 1,
        ...who(0),
        complete: Number.POSITIVE_INFINITY,
        outcome: 'info',
      },
    ]);
  });

  it('turns a write with no complete into info (complete Infinity) and drops such a read', () => {
    const text = ndjson(
      { ev: 'invoke', id: 'w', type: 'write', kind: 'many', txn: 't', key: 'k', invoke: 1, ...who(2) },
      { ev: 'invoke', id: 'r', type: 'read', tier: 'other', key: 'k', invoke: 2, ...who(2) },
    );
    const { ops } = parseHistory([text]);
    expect(ops).toEqual([
      {
        id: 'w',
        type: 'write',
        kind: 'many',
        txn: 't',
        key: 'k',
        invoke: 1,
        ...who(2),
        complete: Number.POSITIVE_INFINITY,
        outcome: 'info',
      },
    ]);
  });

  it('reads loads (a load with no end ends at Infinity) and faults sorted by start', () => {
    const instance = ndjson(
      { ev: 'load-start', id: 'l1', instance: 0, incarnation: 1, key: 'a', start: 5 },
      { ev: 'load-start', id: 'l2', instance: 0, incarnation: 1, key: 'b', start: 6 },
      { ev: 'load-end', id: 'l1', end: 9 },
    );
    const orchestrator = ndjson(
      {
        ev: 'fault',
        name: 'kill',
        target: 'instance 1',
        start: 50,
        end: 60,
        confirmed: true,
        evidence: 'exit by signal',
      },
      {
        ev: 'fault',
        name: 'partition',
        target: 'redis',
        start: 20,
        end: 40,
        confirmed: false,
        evidence: 'none',
      },
    );
    const { ops, loads, faults } = parseHistory([orchestrator, instance]);
    expect(ops).toEqual([]);
    expect(loads).toEqual([
      { instance: 0, incarnation: 1, key: 'a', start: 5, end: 9 },
      { instance: 0, incarnation: 1, key: 'b', start: 6, end: Number.POSITIVE_INFINITY },
    ]);
    expect(faults).toEqual([
      { name: 'partition', target: 'redis', start: 20, end: 40, confirmed: false, evidence: 'none' },
      { name: 'kill', target: 'instance 1', start: 50, end: 60, confirmed: true, evidence: 'exit by signal' },
    ]);
  });

  it('accepts empty files and blank lines', () => {
    expect(parseHistory(['', '\n\n'])).toEqual({ ops: [], loads: [], faults: [] });
  });
});
