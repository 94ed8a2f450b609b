/**
 * `pnpm chaos -- --schedule ci --seed 42` (also `--schedule soak --minutes 10`, `--schedule calm`):
 * runs a schedule, prints its verdict table and exits 0 only when the run is clean.
 */
import { parseArgs } from 'node:util';
import { runSchedule } from './run.js';
import { SCHEDULES, type ScheduleName } from './schedules.js';
import { formatVerdict } from './verdict.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    schedule: { type: 'string', default: 'ci' },
    seed: { type: 'string' },
    minutes: { type: 'string' },
    seconds: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'sample-rate': { type: 'string' },
    'unsafe-disable': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help || !SCHEDULES.includes(values.schedule as ScheduleName)) {
  console.log(`usage: pnpm chaos -- [--schedule ${SCHEDULES.join('|')}] [--seed N] [--minutes N (soak)] [--seconds N (calm)]
                    [--out DIR] [--keep] [--sample-rate R] [--unsafe-disable guard,guard]`);
  process.exit(values.help ? 0 : 2);
}

const number = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
const seed = number(values.seed);
const minutes = number(values.minutes);
const seconds = number(values.seconds);
const sampleRate = number(values['sample-rate']);
const verdict = await runSchedule({
  schedule: values.schedule as ScheduleName,
  ...(seed === undefined ? {} : { seed }),
  ...(minutes === undefined ? {} : { minutes }),
  ...(seconds === undefined ? {} : { seconds }),
  ...(values.out === undefined ? {} : { out: values.out }),
  ...(sampleRate === undefined ? {} : { verifySampleRate: sampleRate }),
  ...(values['unsafe-disable'] ? { unsafeDisable: values['unsafe-disable'].split(',') } : {}),
  keep: values.keep,
  handleSignals: true,
  log: (line) => console.log(line),
});
console.log('');
console.log(formatVerdict(verdict));
process.exit(verdict.ok ? 0 : 1);
