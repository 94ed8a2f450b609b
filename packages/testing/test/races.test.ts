import { describe, it } from 'vitest';
import { chaosRecordStore } from '../src/chaos.js';
import { describeEngineRaces, memoryRaceEnv, races } from '../src/races.js';

describeEngineRaces('memory tiers', memoryRaceEnv);

describe('race environments', () => {
  it('R8-commit-then-error on a record store without failAfterCommitNext (the chaos wrapper injects it)', async () => {
    await races['R8-commit-then-error']((guards) => {
      const env = memoryRaceEnv(guards);
      return { ...env, records: chaosRecordStore(env.records).store };
    });
  });
});
