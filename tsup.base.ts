import type { Options } from 'tsup';

/** The build every package shares: ESM + CJS + types, one entry unless a package adds subpaths. */
export const base: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  treeshake: true,
};
