import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.ts';

export default defineConfig({ ...base, external: ['express', '@writethrough/core', 'prom-client'] });
