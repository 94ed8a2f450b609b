import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.ts';

export default defineConfig({ ...base, external: ['ioredis', '@writethrough/core'] });
