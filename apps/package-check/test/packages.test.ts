/**
 * Installs the packages the way users will: every publishable package (`packages/*` whose
 * package.json is not private) is packed with `pnpm pack` (which turns `workspace:` ranges into
 * versions), the tarballs are installed with npm into a project outside the workspace, and plain
 * `node` scripts load them through ESM `import` and CJS `require`.
 *
 * `@writethrough/testing` needs vitest (a peer), so vitest is installed in that project too. Its
 * suites call vitest's `describe`/`it`, and vitest can only be loaded inside a vitest run, so the
 * ESM check is a small test file run by that project's own vitest: it imports the package and
 * checks the suites are exported. The package is ESM-only (vitest refuses `require()`): a CJS
 * project resolves its ESM entry and reaches it through the `import` statements of its test files,
 * which vitest runs as ESM.
 *
 * Needs the packages built (`pnpm build`; `pnpm test` builds first) and the npm registry for their
 * third-party dependencies. `WT_KEEP_PACKAGE_CHECK=1` keeps the temporary project for a look.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findRedis } from '@writethrough/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const self = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  devDependencies?: Record<string, string>;
};

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  main?: string;
  module?: string;
  peerDependencies?: Record<string, string>;
}

interface Publishable {
  readonly dir: string;
  readonly manifest: Manifest;
}

/** `packages/*` that are not private: what `npm publish` would ship. */
function publishablePackages(): Publishable[] {
  const packagesDir = join(root, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest };
    })
    .filter((p) => p.manifest.private !== true)
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

/** The environment a user's shell would give npm: without what pnpm adds for the running script. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      // What pnpm sets for the running script, and what this vitest run sets for its workers.
      /^(npm_(lifecycle|package)_|npm_(config_user_agent|execpath|node_execpath|command)$|pnpm_|PNPM_|VITEST)/.test(
        key,
      )
    ) {
      continue;
    }
    env[key] = value;
  }
  return env;
}

async function sh(command: string, args: string[], cwd: string, env = process.env): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd,
      env,
      maxBuffer: 64 * 1024 * 1024,
      shell: process.platform === 'win32',
    });
    return stdout;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${e.stderr ?? ''}\n${e.stdout ?? ''}`, {
      cause: error,
    });
  }
}

/** Runs a script with `node` in the project and parses the one JSON line it prints. */
async function nodeJson(
  project: string,
  file: string,
  args: string[] = [],
): Promise<Record<string, unknown>> {
  const stdout = await sh(process.execPath, [file, ...args], project, userEnv());
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

const SCRIPTS: Record<string, string> = {
  'core.mjs': `import { createCache, memoryRecords } from '@writethrough/core';
const cache = createCache({ records: memoryRecords() });
const { version } = await cache.set('greeting', { text: 'hello from esm' });
const value = await cache.get('greeting');
console.log(JSON.stringify({ value, version, l1Hits: cache.stats().l1.hits, resolved: import.meta.resolve('@writethrough/core') }));
await cache.close();
`,
  'core.cjs': `const { createCache, memoryRecords } = require('@writethrough/core');
(async () => {
  const cache = createCache({ records: memoryRecords() });
  const { version } = await cache.set('greeting', { text: 'hello from cjs' });
  const value = await cache.get('greeting');
  console.log(JSON.stringify({ value, version, l1Hits: cache.stats().l1.hits, resolved: require.resolve('@writethrough/core') }));
  await cache.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  // Redis: the URL and a namespace of this run come as arguments; L1 off, so the read is an L2 hit.
  'redis.mjs': `import { createCache, memoryRecords } from '@writethrough/core';
import { redisStore } from '@writethrough/redis';
const [url, namespace] = process.argv.slice(2);
const l2 = redisStore({ url, namespace });
const cache = createCache({ records: memoryRecords(), l1: false, l2 });
const { version } = await cache.set('greeting', { text: 'hello from esm' });
const value = await cache.get('greeting');
await l2.clear();
console.log(JSON.stringify({ value, version, l2Hits: cache.stats().l2.hits, resolved: import.meta.resolve('@writethrough/redis') }));
await cache.close();
await l2.close();
`,
  'redis.cjs': `const { createCache, memoryRecords } = require('@writethrough/core');
const { redisStore } = require('@writethrough/redis');
(async () => {
  const [url, namespace] = process.argv.slice(2);
  const l2 = redisStore({ url, namespace });
  const cache = createCache({ records: memoryRecords(), l1: false, l2 });
  const { version } = await cache.set('greeting', { text: 'hello from cjs' });
  const value = await cache.get('greeting');
  await l2.clear();
  console.log(JSON.stringify({ value, version, l2Hits: cache.stats().l2.hits, resolved: require.resolve('@writethrough/redis') }));
  await cache.close();
  await l2.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  // Postgres on PGlite (embedded: no server), as the README's default.
  'postgres.mjs': `import { createCache } from '@writethrough/core';
import { migrate, postgresRecords } from '@writethrough/postgres';
import { PGlite } from '@electric-sql/pglite';
const db = new PGlite();
await migrate(db);
const records = postgresRecords({ client: db });
const cache = createCache({ records });
const { version } = await cache.set('greeting', { text: 'hello from esm' });
await cache.close();
const again = createCache({ records });
const value = await again.get('greeting');
console.log(JSON.stringify({ value, version, misses: again.stats().l1.misses, resolved: import.meta.resolve('@writethrough/postgres') }));
await again.close();
await db.close();
`,
  'postgres.cjs': `const { createCache } = require('@writethrough/core');
const { migrate, postgresRecords } = require('@writethrough/postgres');
(async () => {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite();
  await migrate(db);
  const records = postgresRecords({ client: db });
  const cache = createCache({ records });
  const { version } = await cache.set('greeting', { text: 'hello from cjs' });
  await cache.close();
  const again = createCache({ records });
  const value = await again.get('greeting');
  console.log(JSON.stringify({ value, version, misses: again.stats().l1.misses, resolved: require.resolve('@writethrough/postgres') }));
  await again.close();
  await db.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  // Express: a REST resource on a cache, served on a loopback port; PUT, then GET with its ETag.
  'express.mjs': `import { createCache, memoryRecords } from '@writethrough/core';
import { writeThroughRouter } from '@writethrough/express';
import express from 'express';
const cache = createCache({ records: memoryRecords() });
const app = express();
app.use('/users', writeThroughRouter(cache));
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = 'http://127.0.0.1:' + server.address().port + '/users/';
const put = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'esm' }) });
const etag = put.headers.get('etag');
const got = await fetch(base + 'u1');
const again = await fetch(base + 'u1', { headers: { 'if-none-match': etag } });
console.log(JSON.stringify({ put: put.status, etag, get: got.status, body: await got.json(), notModified: again.status, resolved: import.meta.resolve('@writethrough/express') }));
server.close();
await cache.close();
`,
  'express.cjs': `const { createCache, memoryRecords } = require('@writethrough/core');
const { writeThroughRouter } = require('@writethrough/express');
const express = require('express');
(async () => {
  const cache = createCache({ records: memoryRecords() });
  const app = express();
  app.use('/users', writeThroughRouter(cache));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = 'http://127.0.0.1:' + server.address().port + '/users/';
  const put = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cjs' }) });
  const got = await fetch(base + 'u1', { headers: { 'if-match': put.headers.get('etag') } });
  const stale = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': '"999"' }, body: '{}' });
  console.log(JSON.stringify({ put: put.status, get: got.status, body: await got.json(), stale: stale.status, resolved: require.resolve('@writethrough/express') }));
  server.close();
  await cache.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  // NestJS: a tiny Nest app (decorators applied by hand: plain JavaScript) with the module and the
  // interceptor, served on a loopback port; PUT, then GET from the cache, then 304 with the ETag.
  'nestjs.mjs': `import 'reflect-metadata';
import { Body, Controller, Get, Module, NotFoundException, Put, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { memoryRecords } from '@writethrough/core';
import { CacheRead, CacheWrite, WriteThroughInterceptor, WriteThroughModule } from '@writethrough/nestjs';
class UsersController {
  get() { throw new NotFoundException(); }
  put(body) { return body; }
}
const method = (decorators, key) =>
  Reflect.decorate(decorators, UsersController.prototype, key, Object.getOwnPropertyDescriptor(UsersController.prototype, key));
method([Get(':id'), CacheRead('users')], 'get');
method([Put(':id'), CacheWrite('users')], 'put');
Body()(UsersController.prototype, 'put', 0);
Reflect.decorate([Controller('users'), UseInterceptors(WriteThroughInterceptor)], UsersController);
class AppModule {}
Module({ imports: [WriteThroughModule.forRoot({ caches: [{ name: 'users', options: { records: memoryRecords() } }] })], controllers: [UsersController] })(AppModule);
const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const base = (await app.getUrl()).replace('[::1]', '127.0.0.1') + '/users/';
const missing = await fetch(base + 'u1');
const put = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'esm' }) });
const etag = put.headers.get('etag');
const got = await fetch(base + 'u1');
const again = await fetch(base + 'u1', { headers: { 'if-none-match': etag } });
console.log(JSON.stringify({ missing: missing.status, put: put.status, etag, get: got.status, getEtag: got.headers.get('etag'), body: await got.json(), notModified: again.status, resolved: import.meta.resolve('@writethrough/nestjs') }));
await app.close();
`,
  'nestjs.cjs': `require('reflect-metadata');
const { Body, Controller, Get, Module, NotFoundException, Put, UseInterceptors } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { memoryRecords } = require('@writethrough/core');
const { CacheRead, CacheWrite, WriteThroughInterceptor, WriteThroughModule } = require('@writethrough/nestjs');
class UsersController {
  get() { throw new NotFoundException(); }
  put(body) { return body; }
}
const method = (decorators, key) =>
  Reflect.decorate(decorators, UsersController.prototype, key, Object.getOwnPropertyDescriptor(UsersController.prototype, key));
method([Get(':id'), CacheRead('users')], 'get');
method([Put(':id'), CacheWrite('users')], 'put');
Body()(UsersController.prototype, 'put', 0);
Reflect.decorate([Controller('users'), UseInterceptors(WriteThroughInterceptor)], UsersController);
class AppModule {}
Module({ imports: [WriteThroughModule.forRoot({ caches: [{ name: 'users', options: { records: memoryRecords() } }] })], controllers: [UsersController] })(AppModule);
(async () => {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1') + '/users/';
  const put = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cjs' }) });
  const got = await fetch(base + 'u1');
  const stale = await fetch(base + 'u1', { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': '"999"' }, body: '{"name":"stale"}' });
  console.log(JSON.stringify({ put: put.status, get: got.status, body: await got.json(), stale: stale.status, resolved: require.resolve('@writethrough/nestjs') }));
  await app.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  'testing.test.mjs': `import * as testing from '@writethrough/testing';
import { expect, it } from 'vitest';

it('exports the conformance suites', () => {
  expect(typeof testing.describeCacheStore).toBe('function');
  expect(typeof testing.describeRecordStore).toBe('function');
  expect(typeof testing.describeBus).toBe('function');
});
`,
  // Resolution only: which file an ESM import gets (loading it outside a vitest run is not possible).
  'testing-resolve.mjs': `console.log(JSON.stringify({ resolved: import.meta.resolve('@writethrough/testing') }));
`,
  // ESM only (vitest refuses require()): a CommonJS project resolves the ESM entry and loads it with import().
  'testing.cjs': `const resolved = require.resolve('@writethrough/testing');
console.log(JSON.stringify({ resolved }));
`,
};

const packages = publishablePackages();
const byName = new Map(packages.map((p) => [p.manifest.name, p]));
const keep = process.env.WT_KEEP_PACKAGE_CHECK === '1';
let project = '';

describe('the packed packages, installed with npm outside the workspace', () => {
  beforeAll(async () => {
    for (const { dir, manifest } of packages) {
      for (const entry of [manifest.main, manifest.module]) {
        if (entry !== undefined && !existsSync(join(dir, entry))) {
          throw new Error(
            `${manifest.name} is not built (${relative(root, join(dir, entry))} is missing): run pnpm build`,
          );
        }
      }
    }
    project = await mkdtemp(join(tmpdir(), 'wt-package-check-'));
    const tarballs = join(project, 'tarballs');
    await mkdir(tarballs);
    const dependencies: Record<string, string> = {};
    for (const { dir, manifest } of packages) {
      const before = new Set(await readdir(tarballs));
      await sh('pnpm', ['pack', '--pack-destination', tarballs], dir);
      const made = (await readdir(tarballs)).filter((f) => !before.has(f) && f.endsWith('.tgz'));
      if (made.length !== 1) throw new Error(`pnpm pack of ${manifest.name} made ${made.length} tarballs`);
      dependencies[manifest.name] = `file:./tarballs/${made[0]}`;
    }
    // The peer the testing suites need, at the version the workspace tests with.
    const vitestVersion = (createRequire(join(root, 'package.json'))('vitest/package.json') as Manifest)
      .version;
    dependencies.vitest = vitestVersion;
    // PGlite, the embedded database the postgres scripts use, at the version the workspace tests with.
    const pglite = JSON.parse(readFileSync(join(root, 'packages/postgres/package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    dependencies['@electric-sql/pglite'] = pglite.devDependencies['@electric-sql/pglite']!;
    // Express, the peer of @writethrough/express, at the version the workspace tests with.
    const expressPackage = JSON.parse(readFileSync(join(root, 'packages/express/package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    dependencies.express = expressPackage.devDependencies.express!;
    // The peers of @writethrough/nestjs (and the HTTP platform its script serves on), at the versions
    // the workspace tests with.
    const nestPackage = JSON.parse(readFileSync(join(root, 'packages/nestjs/package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const name of [
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/platform-express',
      'reflect-metadata',
      'rxjs',
    ]) {
      dependencies[name] = nestPackage.devDependencies[name]!;
    }
    // Our packages depend on each other by version (pnpm pack rewrote workspace:^): pin those to the
    // local tarballs, so nothing is fetched from the registry under our names.
    const overrides = Object.fromEntries(packages.map((p) => [p.manifest.name, `$${p.manifest.name}`]));
    const manifest = { name: 'wt-package-check', version: '0.0.0', private: true, dependencies, overrides };
    await writeFile(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const [file, text] of Object.entries(SCRIPTS)) await writeFile(join(project, file), text);
    await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], project, userEnv());
  });

  afterAll(async () => {
    if (project === '') return;
    if (keep) console.log(`package check project kept at ${project}`);
    else await rm(project, { recursive: true, force: true });
  });

  it('finds the publishable packages, and turbo builds each before this test', () => {
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        '@writethrough/core',
        '@writethrough/express',
        '@writethrough/nestjs',
        '@writethrough/postgres',
        '@writethrough/redis',
        '@writethrough/testing',
      ]),
    );
    // A package missing here would not be built by `turbo run test --filter=package-check`.
    for (const name of byName.keys()) expect(self.devDependencies?.[name], name).toBe('workspace:*');
  });

  it('installs our packages from the tarballs only, once each', () => {
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; resolved?: string }>;
    };
    for (const [name, { manifest }] of byName) {
      const installed = Object.entries(lock.packages).filter(([path]) =>
        path.endsWith(`node_modules/${name}`),
      );
      expect(
        installed.map(([path]) => path),
        name,
      ).toEqual([`node_modules/${name}`]);
      expect(installed[0]![1].version).toBe(manifest.version);
      expect(installed[0]![1].resolved ?? '', name).toMatch(/^file:/);
    }
  });

  it('@writethrough/core works from ESM import', async () => {
    const result = await nodeJson(project, 'core.mjs');
    expect(result).toMatchObject({ value: { text: 'hello from esm' }, version: 1, l1Hits: 1 });
    expect(result.resolved).toMatch(/\/node_modules\/@writethrough\/core\/dist\/index\.js$/);
  });

  it('@writethrough/core works from CJS require', async () => {
    const result = await nodeJson(project, 'core.cjs');
    expect(result).toMatchObject({ value: { text: 'hello from cjs' }, version: 1, l1Hits: 1 });
    expect(result.resolved).toMatch(/[/\\]node_modules[/\\]@writethrough[/\\]core[/\\]dist[/\\]index\.cjs$/);
  });

  it('@writethrough/redis works from ESM import, with ioredis installed as its peer', async () => {
    const redis = await findRedis();
    try {
      const result = await nodeJson(project, 'redis.mjs', [
        redis.url,
        `wt-package-check-esm-${process.pid}:`,
      ]);
      expect(result).toMatchObject({ value: { text: 'hello from esm' }, version: 1, l2Hits: 1 });
      expect(result.resolved).toMatch(/\/node_modules\/@writethrough\/redis\/dist\/index\.js$/);
    } finally {
      await redis.stop();
    }
  });

  it('@writethrough/redis works from CJS require', async () => {
    const redis = await findRedis();
    try {
      const result = await nodeJson(project, 'redis.cjs', [
        redis.url,
        `wt-package-check-cjs-${process.pid}:`,
      ]);
      expect(result).toMatchObject({ value: { text: 'hello from cjs' }, version: 1, l2Hits: 1 });
      expect(result.resolved).toMatch(
        /[/\\]node_modules[/\\]@writethrough[/\\]redis[/\\]dist[/\\]index\.cjs$/,
      );
    } finally {
      await redis.stop();
    }
  });

  it('@writethrough/postgres works from ESM import, on PGlite (the database read back by a new cache)', async () => {
    const result = await nodeJson(project, 'postgres.mjs');
    expect(result).toMatchObject({ value: { text: 'hello from esm' }, misses: 1 });
    expect(result.version).toEqual(expect.any(Number));
    expect(result.resolved).toMatch(/\/node_modules\/@writethrough\/postgres\/dist\/index\.js$/);
  });

  it('@writethrough/postgres works from CJS require', async () => {
    const result = await nodeJson(project, 'postgres.cjs');
    expect(result).toMatchObject({ value: { text: 'hello from cjs' }, misses: 1 });
    expect(result.resolved).toMatch(
      /[/\\]node_modules[/\\]@writethrough[/\\]postgres[/\\]dist[/\\]index\.cjs$/,
    );
  });

  it('@writethrough/express works from ESM import, with express installed as its peer', async () => {
    const result = await nodeJson(project, 'express.mjs');
    expect(result).toMatchObject({ put: 201, get: 200, body: { name: 'esm' }, notModified: 304 });
    expect(result.etag).toMatch(/^"\d+"$/);
    expect(result.resolved).toMatch(/\/node_modules\/@writethrough\/express\/dist\/index\.js$/);
  });

  it('@writethrough/express works from CJS require', async () => {
    const result = await nodeJson(project, 'express.cjs');
    expect(result).toMatchObject({ put: 201, get: 200, body: { name: 'cjs' }, stale: 412 });
    expect(result.resolved).toMatch(
      /[/\\]node_modules[/\\]@writethrough[/\\]express[/\\]dist[/\\]index\.cjs$/,
    );
  });

  it('@writethrough/nestjs works from ESM import, in a Nest app with its peers installed', async () => {
    const result = await nodeJson(project, 'nestjs.mjs');
    expect(result).toMatchObject({
      missing: 404,
      put: 200,
      get: 200,
      body: { name: 'esm' },
      notModified: 304,
    });
    expect(result.etag).toMatch(/^"\d+"$/);
    expect(result.getEtag).toBe(result.etag);
    expect(result.resolved).toMatch(/\/node_modules\/@writethrough\/nestjs\/dist\/index\.js$/);
  });

  it('@writethrough/nestjs works from CJS require', async () => {
    const result = await nodeJson(project, 'nestjs.cjs');
    expect(result).toMatchObject({ put: 200, get: 200, body: { name: 'cjs' }, stale: 412 });
    expect(result.resolved).toMatch(
      /[/\\]node_modules[/\\]@writethrough[/\\]nestjs[/\\]dist[/\\]index\.cjs$/,
    );
  });

  it('@writethrough/testing loads from ESM import (in a vitest run) and exports the suites', async () => {
    const vitest = join('node_modules', 'vitest', 'vitest.mjs');
    const report = (await nodeJson(project, vitest, ['run', 'testing.test.mjs', '--reporter=json'])) as {
      numTotalTests: number;
      numPassedTests: number;
      testResults: { assertionResults: { failureMessages: string[] }[] }[];
    };
    const failures = report.testResults.flatMap((f) => f.assertionResults.flatMap((a) => a.failureMessages));
    expect(failures).toEqual([]);
    expect(report.numPassedTests).toBe(1);
    expect(report.numTotalTests).toBe(1);
    const { resolved } = await nodeJson(project, 'testing-resolve.mjs');
    expect(resolved).toMatch(/\/node_modules\/@writethrough\/testing\/dist\/index\.js$/);
  });

  it('@writethrough/testing is ESM-only: a CommonJS project resolves its ESM entry', async () => {
    const result = (await nodeJson(project, 'testing.cjs')) as { resolved: string };
    expect(result.resolved).toMatch(
      /[/\\]node_modules[/\\]@writethrough[/\\]testing[/\\]dist[/\\]index\.js$/,
    );
  });
});

/** The oldest Nest major the nestjs package supports (its peer range is ^11 || ^12; the workspace tests with 12). */
const NEST_11 = '11.2.10';

describe('@writethrough/nestjs on Nest 11, installed with npm outside the workspace', () => {
  let nest11 = '';
  beforeAll(async () => {
    nest11 = await mkdtemp(join(tmpdir(), 'wt-package-check-nest11-'));
    const tarballs = join(nest11, 'tarballs');
    await mkdir(tarballs);
    const dependencies: Record<string, string> = {};
    for (const name of ['@writethrough/core', '@writethrough/nestjs']) {
      const { dir } = byName.get(name)!;
      const before = new Set(await readdir(tarballs));
      await sh('pnpm', ['pack', '--pack-destination', tarballs], dir);
      const made = (await readdir(tarballs)).filter((f) => !before.has(f) && f.endsWith('.tgz'));
      if (made.length !== 1) throw new Error(`pnpm pack of ${name} made ${made.length} tarballs`);
      dependencies[name] = `file:./tarballs/${made[0]}`;
    }
    for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express'])
      dependencies[name] = NEST_11;
    const nestPackage = JSON.parse(readFileSync(join(root, 'packages/nestjs/package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const name of ['reflect-metadata', 'rxjs']) dependencies[name] = nestPackage.devDependencies[name]!;
    const manifest = {
      name: 'wt-package-check-nest11',
      version: '0.0.0',
      private: true,
      dependencies,
      overrides: { '@writethrough/core': '$@writethrough/core' },
    };
    await writeFile(join(nest11, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const file of ['nestjs.mjs', 'nestjs.cjs']) await writeFile(join(nest11, file), SCRIPTS[file]!);
    await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], nest11, userEnv());
  });

  afterAll(async () => {
    if (nest11 === '') return;
    if (keep) console.log(`Nest 11 package check project kept at ${nest11}`);
    else await rm(nest11, { recursive: true, force: true });
  });

  it('installs Nest 11 beside the packed package', () => {
    const core = JSON.parse(
      readFileSync(join(nest11, 'node_modules/@nestjs/core/package.json'), 'utf8'),
    ) as Manifest;
    expect(core.version).toBe(NEST_11);
  });

  it('works from ESM import', async () => {
    const result = await nodeJson(nest11, 'nestjs.mjs');
    expect(result).toMatchObject({
      missing: 404,
      put: 200,
      get: 200,
      body: { name: 'esm' },
      notModified: 304,
    });
  });

  it('works from CJS require', async () => {
    const result = await nodeJson(nest11, 'nestjs.cjs');
    expect(result).toMatchObject({ put: 200, get: 200, body: { name: 'cjs' }, stale: 412 });
  });
});
