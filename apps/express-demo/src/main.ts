/**
 * `pnpm --filter express-demo start` serves the app; `pnpm demo` (`start --tour`) also runs the
 * scripted tour against it over HTTP, then keeps serving until Ctrl-C.
 */
import { appOptionsFromEnv } from './app.js';
import { startDemo } from './server.js';
import { runTour } from './tour.js';

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const tour = process.argv.includes('--tour');
const env = appOptionsFromEnv();
const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);

const running = await startDemo({
  ...env,
  faults: env.faults || tour,
  port,
  host: process.env.HOST ?? '127.0.0.1',
});
const { demo, url } = running;

let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: closing the caches and the database…`);
  await running.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

console.log('writethrough express demo');
console.log(`   database  ${demo.mode.database}`);
console.log(`   L1        ${demo.mode.l1}`);
console.log(`   L2        ${demo.mode.l2}`);
console.log(`   bus       ${demo.mode.bus}`);
if (running.movedFrom !== undefined) console.log(`   (port ${running.movedFrom} is taken: using another)`);
console.log(`\n   API         ${url}/users/:id  ${url}/products/:id  ${url}/reports/summary`);
console.log(`   stats page  ${url}/`);

if (tour) {
  try {
    await runTour({ baseUrl: url });
  } catch (error) {
    console.error('\nThe tour failed:', error);
    process.exitCode = 1;
    await running.close();
    process.exit(1);
  }
}
console.log(`\nServing on ${url} — open ${url}/ for the live stats; Ctrl-C to stop.`);
if (!tour) console.log('Traffic: pnpm --filter express-demo load');
else console.log(`More traffic for the charts: pnpm --filter express-demo load -- --url ${url}`);
