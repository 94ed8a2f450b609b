import { describe, expect, it } from 'vitest';
import {
  memoryRaceEnv,
  RACE_GUARDS,
  type Race,
  type RaceGuards,
  RaceHarnessError,
  type RaceName,
  races,
} from '../src/races.js';

/** Runs `race` with guards off and expects a violation (an assertion), not a harness failure. */
async function expectKilled(race: Race, guards: RaceGuards): Promise<void> {
  let caught: unknown;
  try {
    await race(memoryRaceEnv, { ...guards, iterations: 20 });
  } catch (error) {
    caught = error;
  }
  expect(caught, 'the race passed with the guard off').toBeInstanceOf(Error);
  expect(caught, 'the race failed in the harness, not on a violation').not.toBeInstanceOf(RaceHarnessError);
  expect((caught as Error).message).toMatch(/older than version|to be an instance of|to be 'b'|greater than/);
}

function label(guards: RaceGuards): string {
  return [
    ...(guards.engineGuardsOff ?? []).map((g) => `engine '${g}'`),
    ...(guards.storeGuardsOff ?? []).map((g) => `store '${g}'`),
  ].join(' + ');
}

describe('each race fails with its guard off', () => {
  for (const name of Object.keys(races) as RaceName[]) {
    for (const guards of RACE_GUARDS[name].killedBy) {
      it(`${name} without ${label(guards)}`, async () => {
        await expectKilled(races[name], guards);
      });
    }
  }
});

describe('guards another mechanism covers (as the model found)', () => {
  it('first writer out: the in-flight set alone is covered by the floor', async () => {
    await races['model-first-writer-out'](memoryRaceEnv, { storeGuardsOff: ['inflight-set'], iterations: 5 });
  });
  it('first writer out: the floor alone is covered by the in-flight set', async () => {
    await races['model-first-writer-out'](memoryRaceEnv, { storeGuardsOff: ['floor'], iterations: 5 });
  });
  it("store 'versions' alone is killed by no race (fills need the lease, installs need the floor)", async () => {
    for (const name of Object.keys(races) as RaceName[]) {
      await races[name](memoryRaceEnv, { storeGuardsOff: ['versions'], iterations: 3 });
    }
  });
});
