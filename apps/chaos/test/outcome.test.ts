import {
  CacheTierError,
  RecordStoreError,
  VersionConflictError,
  WriteOutcomeUnknownError,
} from '@writethrough/core';
import { describe, expect, it } from 'vitest';
import { setManyOutcome, writeOutcome } from '../src/outcome.ts';

describe('writeOutcome', () => {
  it('calls a write refused before the database (onCacheError fail-writes) fail', () => {
    const refused = new CacheTierError('beginWrite failed on the l2 tier; the write was not sent', 'l2', {
      key: 'k',
    });
    expect(writeOutcome(refused)).toBe('fail');
    const unavailable = new CacheTierError('the l2 tier is unavailable; the write was not sent', 'l2');
    expect(writeOutcome(unavailable)).toBe('fail');
  });

  it('calls a tier error after the commit info', () => {
    const after = new CacheTierError(
      'the write committed at version 3, but the l2 tier failed; the key is queued for repair',
      'l2',
    );
    expect(writeOutcome(after)).toBe('info');
  });

  it('keeps conflicts fail and unknown outcomes info', () => {
    expect(writeOutcome(new VersionConflictError(2, 3, { key: 'k' }))).toBe('fail');
    expect(writeOutcome(new WriteOutcomeUnknownError('unknown'))).toBe('info');
    expect(writeOutcome(new Error('anything'))).toBe('info');
  });
});

describe('setManyOutcome', () => {
  it('fails only the refused key; the others may have committed', () => {
    const refused = new CacheTierError('beginWrite failed on the l2 tier; the write was not sent', 'l2', {
      key: 'a',
    });
    expect(setManyOutcome(refused, 'a')).toBe('fail');
    expect(setManyOutcome(refused, 'b')).toBe('info');
  });

  it('gives every key the outcome of a transaction error', () => {
    const unknown = new WriteOutcomeUnknownError('unknown', { key: 'a' });
    expect(setManyOutcome(unknown, 'b')).toBe('info');
    const failed = new RecordStoreError('refused', { key: 'a', outcome: 'failed' });
    expect(setManyOutcome(failed, 'b')).toBe('fail');
  });
});
