import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.ts';

// ESM only: vitest, which the suites register their tests with, cannot be loaded with require().
// `tools` is the entry without vitest, for programs that run outside it (apps/bench, apps/chaos).
export default defineConfig({ ...base, entry: ['src/index.ts', 'src/tools.ts'], format: ['esm'] });
