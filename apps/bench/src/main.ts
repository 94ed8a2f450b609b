/**
 * Runs every benchmark, one after another, each in a fresh Node process of its own (so no benchmark
 * runs on a heap or JIT state another left behind; the hit benchmark goes further and starts a
 * process per contender run), prints the results and, when all of them ran, rewrites the generated
 * block of `apps/bench/README.md` and writes `apps/bench/RESULTS.md` with a chart per figure
 * (`results/*.svg`). `pnpm start -- l1-hit hit-ratio` runs a subset (printed only, the files are
 * left alone); `pnpm start -- --render` renders RESULTS.md and the README block again from the last
 * full run's `results/results.json`, measuring nothing.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runArticle } from './article.js';
import { loadCore } from './core.js';
import { runExpress } from './express.js';
import { runHitRatio } from './hit-ratio.js';
import { runL1Hit } from './l1-hit.js';
import { runL2Hit } from './l2-hit.js';
import { runL2Miss } from './l2-miss.js';
import { runL2Stampede } from './l2-stampede.js';
import { machineInfo } from './measure.js';
import { runPgWrite } from './pg-write.js';
import { renderResults, rewriteBetweenMarkers, type Section } from './report.js';
import { type ResultsData, readResultsData, writeResultsFile } from './results-md.js';
import { runWritePath } from './write-path.js';
import { workload } from './zipf.js';

const BENCHES: Record<string, () => Promise<Section | Section[]>> = {
  'l1-hit': runL1Hit,
  'hit-ratio': runHitRatio,
  'write-path': runWritePath,
  'l2-hit': runL2Hit,
  'l2-miss': runL2Miss,
  'l2-stampede': runL2Stampede,
  'pg-write': runPgWrite,
  express: runExpress,
  article: runArticle,
};

/** The marker before the JSON line with a child's sections. */
const RESULT = '@@bench-result@@ ';

/** Runs benchmark `name` in a child process (same flags), passing its output through. */
function inChild(name: string): Promise<Section[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--child', name],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    let result: Section[] | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith(RESULT)) result = JSON.parse(line.slice(RESULT.length)) as Section[];
        else process.stdout.write(`${line}\n`);
        nl = out.indexOf('\n');
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`benchmark ${name} exited with ${code}`));
    });
  });
}

/** In a child: runs one benchmark and prints its sections as one marked JSON line. */
async function child(name: string): Promise<void> {
  const run = BENCHES[name];
  if (run === undefined) throw new Error(`unknown benchmark ${name}`);
  workload();
  const result = await run();
  process.stdout.write(`${RESULT}${JSON.stringify(Array.isArray(result) ? result : [result])}\n`);
}

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Rewrites the README's block and RESULTS.md (with its charts) from a full run's results. */
async function publish(data: ResultsData): Promise<void> {
  const body = renderResults(data.machine, data.sections, new Date(data.date), data.elapsedMs);
  const readme = fileURLToPath(new URL('../README.md', import.meta.url));
  await rewriteBetweenMarkers(readme, body);
  process.stdout.write(`\nresults written to ${readme}\n`);
  const results = await writeResultsFile(BENCH_DIR, data);
  process.stdout.write(`results and charts written to ${results}\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2).filter((arg) => arg !== '--');
  if (argv[0] === '--child') return child(argv[1] ?? '');
  if (argv[0] === '--render') return publish(await readResultsData(BENCH_DIR));
  const asked = argv;
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
    sections.push(...(await inChild(name)));
    process.stdout.write(`${name} took ${((performance.now() - began) / 1000).toFixed(1)} s\n`);
  }
  const date = new Date();
  const elapsedMs = performance.now() - start;
  process.stdout.write(`\n${renderResults(machine, sections, date, elapsedMs)}\n`);
  if (asked.length === 0) await publish({ machine, date: date.toISOString(), elapsedMs, sections });
}

main().then(
  // Some peers keep timers (BentoCache's, Keyv's); the results are written, so leave at once.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
