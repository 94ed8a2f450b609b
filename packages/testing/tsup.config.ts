import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.ts';

// ESM only: vitest, which the suites register their tests with, cannot be loaded with require().
export default defineConfig({ ...base, format: ['esm'] });
