import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.ts';

// `pg` is never imported by the package (the client is passed in); core stays a dependency.
export default defineConfig({ ...base, external: ['pg', '@electric-sql/pglite', '@writethrough/core'] });
