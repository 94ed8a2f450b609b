import { memoryBus, memoryRecords, memoryStore } from '@writethrough/core';
import {
  chaosBus,
  chaosCacheStore,
  chaosRecordStore,
  describeBus,
  describeCacheStore,
  describeRecordStore,
} from '../src/index.js';

/** A clock the fake-clock suite advances; every store of that suite reads it. */
const clock = { now: 1_700_000_000_000 };

describeCacheStore('memoryStore', () => memoryStore());

describeCacheStore('memoryStore (injected clock)', () => memoryStore({ now: () => clock.now }), {
  now: {
    advance: async (ms) => {
      clock.now += ms;
    },
  },
  ttlGranularityMs: 0,
});

describeCacheStore('memoryStore (serialized payloads)', () => memoryStore(), {
  payload: (i) => JSON.stringify({ i, text: `sample ${i}` }),
});

describeCacheStore(
  'memoryStore behind chaosCacheStore with no faults',
  () => chaosCacheStore(memoryStore()).store,
);

/** What the memory record store is told to refuse, for the all-or-nothing batch check (it sees a clone). */
const POISON = { poison: true };
const isPoison = (value: unknown) => typeof value === 'object' && value !== null && 'poison' in value;

describeRecordStore(
  'memoryRecords',
  () =>
    memoryRecords({ rejectValue: (_key, value) => (isPoison(value) ? new Error('poison row') : undefined) }),
  { unstorableValue: POISON },
);

describeRecordStore(
  'memoryRecords behind chaosRecordStore with no faults',
  () => chaosRecordStore(memoryRecords()).store,
);

describeBus('memoryBus', () => {
  const hub = memoryBus();
  return { a: hub.connect('a'), b: hub.connect('b') };
});

describeBus('memoryBus behind chaosBus with no faults', () => {
  const hub = memoryBus();
  return { a: chaosBus(hub.connect('a')).bus, b: chaosBus(hub.connect('b')).bus };
});
