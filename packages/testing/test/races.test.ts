import { describe, expect, it } from 'vitest';
import { chaosRecordStore } from '../src/chaos.js';
import { describeEngineRaces, findings, memoryRaceEnv, RaceHarnessError, races } from '../src/races.js';

describeEngineRaces('memory tiers', memoryRaceEnv);

describe('race environments', () => {
  it('R8-commit-then-error on a record store without failAfterCommitNext (the chaos wrapper injects it)', async () => {
    await races['R8-commit-then-error']((guards) => {
      const env = memoryRaceEnv(guards);
      return { ...env, records: chaosRecordStore(env.records).store };
    });
  });
});

/** Runs a finding and expects today's violation (not a harness failure). */
async function expectStillBroken(run: Promise<void>, violation: RegExp): Promise<void> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the finding passes now: the engine was fixed, move it to the races').toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(RaceHarnessError);
  expect((error as Error).message).toMatch(violation);
}

// Engine problems the race suite found: each breaks the promise with every guard on. These tests
// pass while the problem is there and fail once it is fixed (then make the finding a race).
describe('engine findings (known violations, every guard on)', () => {
  it('R8: an unknown outcome followed by a failed retry is reported as a definite failure and leaves L1 stale', async () => {
    await expectStillBroken(
      findings['R8-retry-then-definite-failure'](memoryRaceEnv, { iterations: 1 }),
      /read on B after the write that did commit: returned version 1/,
    );
  });
  it('R8: another instance refills its L1 with the old value before the late commit lands', async () => {
    await expectStillBroken(
      findings['R8-remote-l1-refilled-before-late-commit'](memoryRaceEnv, { iterations: 1 }),
      /read on B after the late commit: returned version 1/,
    );
  });
});
