/**
 * Runs every benchmark, one after another (the hit benchmark starts a process per contender run),
 * prints the results and, when all of them ran, rewrites the generated block of `apps/bench/README.md`. `pnpm start -- l1-hit hit-ratio` runs a subset (printed
 * only, the README is left alone).
 */
import { fileURLToPath } from 'node:url';
import { loadCore } from './core.js';
import { runHitRatio } from './hit-ratio.js';
import { runL1Hit } from './l1-hit.js';
import { runL2Hit } from './l2-hit.js';
import { runL2Miss } from './l2-miss.js';
import { runL2Stampede } from './l2-stampede.js';
import { machineInfo } from './measure.js';
import { renderResults, rewriteBetweenMarkers, type Section } from './report.js';
import { runWritePath } from './write-path.js';
import { workload } from './zipf.js';

const BENCHES: Record<string, () => Promise<Section | Section[]>> = {
  'l1-hit': runL1Hit,
  'hit-ratio': runHitRatio,
  'write-path': runWritePath,
  'l2-hit': runL2Hit,
  'l2-miss': runL2Miss,
  'l2-stampede': runL2Stampede,
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((arg) => arg !== '--');
  const unknown = asked.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  }
  const names = asked.length === 0 ? Object.keys(BENCHES) : asked;
  const machine = machineInfo();
  process.stdout.write(
    `writethrough bench — Node ${machine.node}, ${machine.cpu} × ${machine.cores}` +
      `${machine.gc ? '' : ' (no --expose-gc: no GC between contenders)'}\n`,
  );
  const core = await loadCore();
  process.stdout.write(`@writethrough/core exports: ${core.exports.join(', ')}\n`);

  const start = performance.now();
  const t0 = performance.now();
  workload();
  process.stdout.write(`trace generated in ${(performance.now() - t0).toFixed(0)} ms\n`);

  const sections: Section[] = [];
  for (const name of names) {
    const began = performance.now();
    process.stdout.write(`\n${name}\n`);
    const result = await BENCHES[name]!();
    sections.push(...(Array.isArray(result) ? result : [result]));
    process.stdout.write(`${name} took ${((performance.now() - began) / 1000).toFixed(1)} s\n`);
  }
  const body = renderResults(machine, sections, new Date(), performance.now() - start);
  process.stdout.write(`\n${body}\n`);

  if (asked.length === 0) {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    await rewriteBetweenMarkers(readme, body);
    process.stdout.write(`\nresults written to ${readme}\n`);
  }
}

main().then(
  // Some peers keep timers (BentoCache's, Keyv's); the results are written, so leave at once.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
