/**
 * The README's claim, checked on the built package: a Nest app built with tsc (CommonJS, with
 * emitDecoratorMetadata), tsc (ESM, NodeNext), swc (CommonJS, as the Nest CLI's swc builder) or
 * esbuild (ESM bundle, which emits no decorator metadata) boots with WriteThroughModule, serves
 * PUT → GET (ETag) → GET If-None-Match (304), and stops.
 *
 * Each app is compiled into a temporary directory whose node_modules links `@writethrough/nestjs` to
 * this package (so `import`/`require` go through its `exports` to dist/index.js or dist/index.cjs, as
 * in a user's app) and its peers to the ones installed here. The app runs as a child `node` process.
 * The library is built by tsup (esbuild, no decorator metadata): were one of its constructors to rely
 * on design:paramtypes, Nest would inject undefined and warn, and every case below would fail (on the
 * warning, and on a 500 when it is on the request path). The fixture app injects by explicit tokens
 * too; without them the two builds with no metadata fail, the two with metadata pass.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { transformFile } from '@swc/core';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Each case (compile, boot, three requests, stop) must finish within this. */
const CASE_TIMEOUT_MS = 30_000;
/** The app must print its port within this after `node` starts. */
const BOOT_TIMEOUT_MS = 15_000;

/** The built entry points a user's app loads; the test runs against them, not against src. */
const DIST = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts'];

function missingDist(): string[] {
  const missing = DIST.filter((f) => !existsSync(join(packageDir, f))).map((f) => `packages/nestjs/${f}`);
  const coreDir = installed('@writethrough/core');
  for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) {
    if (!existsSync(join(coreDir, f))) missing.push(`packages/core/${f}`);
  }
  return missing;
}

/** Where a package installed for this package lives (its real path, in pnpm's store), as Node looks it up from here. */
function installed(name: string): string {
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(candidate)) return realpathSync(candidate);
    if (dirname(dir) === dir)
      throw new Error(`${name} is not installed for @writethrough/nestjs (run pnpm install)`);
  }
}

// The fixture app. One source for every build; only the line that reports which entry point of
// @writethrough/nestjs the app resolves differs between CommonJS and ESM.

const appModuleSource = `import { Body, Controller, Get, Inject, Injectable, Module, NotFoundException, Param, Put, UseInterceptors } from '@nestjs/common';
import { memoryRecords, type WriteThroughCache } from '@writethrough/core';
import { CacheRead, CacheWrite, InjectCache, WriteThroughInterceptor, WriteThroughModule } from '@writethrough/nestjs';

export interface User {
  name: string;
}

@Injectable()
export class UsersService {
  constructor(@InjectCache('users') private readonly users: WriteThroughCache<User>) {}

  stats() {
    return this.users.stats();
  }
}

@Controller('users')
@UseInterceptors(WriteThroughInterceptor)
export class UsersController {
  constructor(@Inject(UsersService) private readonly service: UsersService) {}

  @Get('stats/all')
  stats() {
    return { hasStats: typeof this.service.stats() === 'object' };
  }

  @Get(':id')
  @CacheRead('users')
  get(@Param('id') id: string): User {
    throw new NotFoundException(\`no user \${id}\`);
  }

  @Put(':id')
  @CacheWrite('users')
  put(@Body() body: User): User {
    return { name: body.name };
  }
}

@Module({
  imports: [WriteThroughModule.forRoot({ caches: [{ name: 'users', options: { records: memoryRecords<User>() } }] })],
  controllers: [UsersController],
  providers: [UsersService],
})
export class AppModule {}
`;

const mainSource = (resolveExpression: string) => `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  console.log(JSON.stringify({ port: address.port, resolved: ${resolveExpression} }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
`;

const CJS_RESOLVE = `require.resolve('@writethrough/nestjs')`;
const ESM_RESOLVE = `import.meta.resolve('@writethrough/nestjs')`;

interface Case {
  name: string;
  type: 'commonjs' | 'module';
  resolve: string;
  /** Compiles dir/src into dir/dist; dist/main.js is what `node` runs. */
  compile(dir: string): Promise<void>;
  /** The entry point of @writethrough/nestjs the app must resolve. */
  entry: RegExp;
}

const tsc = join(installed('typescript'), 'bin', 'tsc');

async function runTsc(dir: string, compilerOptions: Record<string, unknown>): Promise<void> {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        strict: true,
        skipLibCheck: true,
        experimentalDecorators: true,
        esModuleInterop: true,
        outDir: 'dist',
        rootDir: 'src',
        types: ['node'],
        ...compilerOptions,
      },
      include: ['src'],
    }),
  );
  try {
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeout: CASE_TIMEOUT_MS });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed in ${dir}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

const cases: Case[] = [
  {
    name: 'tsc → CommonJS (emitDecoratorMetadata)',
    type: 'commonjs',
    resolve: CJS_RESOLVE,
    entry: /[/\\]packages[/\\]nestjs[/\\]dist[/\\]index\.cjs$/,
    compile: (dir) =>
      runTsc(dir, {
        module: 'commonjs',
        moduleResolution: 'node10',
        emitDecoratorMetadata: true,
      }),
  },
  {
    name: 'tsc → ESM (NodeNext, no decorator metadata)',
    type: 'module',
    resolve: ESM_RESOLVE,
    entry: /\/packages\/nestjs\/dist\/index\.js$/,
    compile: (dir) =>
      runTsc(dir, { module: 'NodeNext', moduleResolution: 'NodeNext', verbatimModuleSyntax: true }),
  },
  {
    name: 'swc → CommonJS (the Nest CLI swc options, decoratorMetadata)',
    type: 'commonjs',
    resolve: CJS_RESOLVE,
    entry: /[/\\]packages[/\\]nestjs[/\\]dist[/\\]index\.cjs$/,
    async compile(dir) {
      mkdirSync(join(dir, 'dist'));
      for (const file of readdirSync(join(dir, 'src'))) {
        const { code } = await transformFile(join(dir, 'src', file), {
          swcrc: false,
          configFile: false,
          jsc: {
            parser: { syntax: 'typescript', decorators: true, dynamicImport: true },
            transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
            target: 'es2022',
            keepClassNames: true,
          },
          module: { type: 'commonjs' },
        });
        writeFileSync(join(dir, 'dist', file.replace(/\.ts$/, '.js')), code);
      }
    },
  },
  {
    name: 'esbuild → ESM (bundle, packages external, no decorator metadata)',
    type: 'module',
    resolve: ESM_RESOLVE,
    entry: /\/packages\/nestjs\/dist\/index\.js$/,
    async compile(dir) {
      await build({
        entryPoints: [join(dir, 'src', 'main.ts')],
        outfile: join(dir, 'dist', 'main.js'),
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'silent',
        tsconfigRaw: { compilerOptions: { experimentalDecorators: true } },
      });
    },
  },
];

/** A new app directory: package.json, sources, and node_modules links to this package and its peers. */
function scaffold(root: string, c: Case): string {
  const dir = mkdtempSync(join(root, 'app-'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'nest-build-app', private: true, type: c.type }),
  );
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'app.module.ts'), appModuleSource);
  writeFileSync(join(dir, 'src', 'main.ts'), mainSource(c.resolve));
  const links: Record<string, string> = {
    '@writethrough/nestjs': packageDir,
    '@writethrough/core': installed('@writethrough/core'),
    '@nestjs/common': installed('@nestjs/common'),
    '@nestjs/core': installed('@nestjs/core'),
    '@nestjs/platform-express': installed('@nestjs/platform-express'),
    'reflect-metadata': installed('reflect-metadata'),
    rxjs: installed('rxjs'),
    '@types/node': installed('@types/node'),
  };
  for (const [name, target] of Object.entries(links)) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
  return dir;
}

interface Running {
  child: ChildProcess;
  port: number;
  resolved: string;
  output: () => string;
}

/** Starts `node dist/main.js` and waits for the line with its port. */
function start(dir: string): Promise<Running> {
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the app did not print its port within ${BOOT_TIMEOUT_MS} ms\n${output()}`));
    }, BOOT_TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) return;
      clearTimeout(timer);
      const { port, resolved } = JSON.parse(line) as { port: number; resolved: string };
      resolve({ child, port, resolved, output });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`the app exited (code ${code}, signal ${signal}) before printing its port\n${output()}`),
      );
    });
  });
}

/** SIGTERM (the app enabled shutdown hooks), SIGKILL after 5 s; resolves with how it ended. */
function stop(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    child.kill('SIGTERM');
  });
}

let root: string;
const children = new Set<ChildProcess>();

beforeAll(() => {
  const missing = missingDist();
  if (missing.length > 0) {
    throw new Error(
      `builds.test.ts runs Nest apps against the built package, and these files are missing: ${missing.join(', ')}. ` +
        'Run `pnpm build` at the repository root (or `pnpm --filter @writethrough/nestjs... build`) first.',
    );
  }
  root = mkdtempSync(join(tmpdir(), 'writethrough-nestjs-builds-'));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe('a Nest app using the built @writethrough/nestjs', () => {
  for (const c of cases) {
    it(
      c.name,
      async () => {
        const dir = scaffold(root, c);
        await c.compile(dir);
        const app = await start(dir);
        children.add(app.child);
        try {
          expect(app.resolved.replace(/^file:\/\//, '')).toMatch(c.entry);
          const url = `http://127.0.0.1:${app.port}/users/ada`;

          const missing = await fetch(url);
          expect(missing.status, app.output()).toBe(404);

          const put = await fetch(url, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'Ada' }),
          });
          expect(put.status, app.output()).toBe(200);
          const etag = put.headers.get('etag');
          expect(etag).toMatch(/^"\d+"$/);

          const got = await fetch(url);
          expect(got.status, app.output()).toBe(200);
          expect(got.headers.get('etag')).toBe(etag);
          expect(await got.json()).toEqual({ name: 'Ada' });

          const notModified = await fetch(url, { headers: { 'if-none-match': etag! } });
          expect(notModified.status, app.output()).toBe(304);

          // The app's own provider, injected by an explicit token, got the cache by @InjectCache.
          const stats = await fetch(`http://127.0.0.1:${app.port}/users/stats/all`);
          expect(stats.status, app.output()).toBe(200);
          expect(await stats.json()).toEqual({ hasStats: true });

          // Nest warns when a constructor parameter has neither @Inject nor decorator metadata (it
          // injects undefined): no such warning, nor any other, from the library or the app.
          expect(app.output()).not.toMatch(/\bWARN\b|\bERROR\b|decorator metadata/);
        } finally {
          const ended = await stop(app.child);
          children.delete(app.child);
          // SIGTERM ran the shutdown hooks (WriteThroughModule closes its caches), then Nest re-raised it.
          expect(ended.signal === 'SIGTERM' || ended.code === 0, app.output()).toBe(true);
        }
      },
      CASE_TIMEOUT_MS,
    );
  }
});
