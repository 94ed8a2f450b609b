/**
 * One contender of the L1 hit benchmark, in a process of its own: `node --expose-gc --import tsx
 * src/l1-hit-child.ts <index>` builds contender `index` of `CONTENDERS`, times it and prints the
 * result as one JSON line (the last line of stdout), which `runL1Hit` reads.
 */
import { measureOne } from './l1-hit.js';

const index = Number(process.argv[2]);
measureOne(index).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // Some peers keep timers (BentoCache's, Keyv's): leave once the result is out.
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
