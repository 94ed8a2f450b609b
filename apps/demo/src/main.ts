import { runTour } from './tour.js';

// `pnpm start | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

runTour().then(
  (facts) => {
    console.log(
      `\nDone. Each of the tour's ${facts.checkedReads} reads matched the database's last committed value.`,
    );
  },
  (error: unknown) => {
    console.error('\nThe tour failed:', error);
    process.exitCode = 1;
  },
);
