/**
 * `pnpm --filter nestjs-demo start`: serves the API on `PORT` (default 3000; a free port when that
 * one is taken) and prints its URL. Nothing to configure: PGlite in memory and an in-process L1.
 * `DATABASE_URL` and `REDIS_URL` switch to Postgres and Redis.
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { INFRASTRUCTURE, type Infrastructure } from './infrastructure.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);

const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), {
  logger: ['error', 'warn'],
});
app.disable('x-powered-by');
// SIGINT / SIGTERM run the shutdown hooks: the caches, then the database and Redis, are closed.
app.enableShutdownHooks();

let movedFrom: number | undefined;
try {
  await app.listen(port, host);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  movedFrom = port;
  await app.listen(0, host);
}
const { port: actual } = app.getHttpServer().address() as AddressInfo;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
const { mode } = app.get<Infrastructure>(INFRASTRUCTURE);

console.log('writethrough nestjs demo');
console.log(`   database  ${mode.database}`);
console.log(`   L1        ${mode.l1}`);
console.log(`   L2        ${mode.l2}`);
console.log(`   bus       ${mode.bus}`);
if (movedFrom !== undefined) console.log(`   (port ${movedFrom} is taken: using another)`);
console.log(`\n   API     ${url}/users/:id  ${url}/products/:id  ${url}/health`);
console.log(`\nServing on ${url} — Ctrl-C to stop.`);
