export type * from './contracts.js';
export * from './errors.js';
