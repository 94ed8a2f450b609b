/**
 * The orchestrator's side of one instance process: forks `instance.ts` under tsx, waits for it to
 * be ready, sends requests with bounded waits, and watches how it exits.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CutDone, Notice, Reply, Request } from './ipc.js';
import type { InstanceConfig } from './settings.js';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/** tsx's loader, by file URL: `--import tsx` would resolve from the working directory. */
const tsxLoader = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist/loader.mjs')).href;

/** How an instance process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One running instance process. */
export class InstanceHandle {
  readonly config: InstanceConfig;
  readonly child: ChildProcess;
  /** Resolves when the process exits. */
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;
  #rid = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  /** Answers the instance's `cut-redis` (set by the `instance-kill-cut` fault; refused when unset). */
  onCutRedis: ((key: string) => Promise<void>) | undefined;

  private constructor(config: InstanceConfig, child: ChildProcess) {
    this.config = config;
    this.child = child;
    this.exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        for (const waiter of this.#pending.values()) {
          waiter.reject(new Error(`instance ${config.instance} exited (${code ?? signal})`));
        }
        this.#pending.clear();
        resolve(this.#exit);
      });
    });
    child.on('message', (message: Reply | Notice) => {
      if ('type' in message && message.type === 'cut-redis') {
        this.#cutRedis(message.cid, message.key);
        return;
      }
      if (!('rid' in message)) return;
      const waiter = this.#pending.get(message.rid);
      if (waiter === undefined) return;
      this.#pending.delete(message.rid);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`instance ${config.instance}: ${message.error}`));
    });
  }

  /** Forks the process (its stdout and stderr go to `logFile`) and waits until it is ready. */
  static async start(config: InstanceConfig, logFile: string, timeoutMs = 30_000): Promise<InstanceHandle> {
    const log = openSync(logFile, 'a');
    const child = fork(join(here, 'instance.ts'), [], {
      execArgv: ['--import', tsxLoader],
      env: { ...process.env, WT_CHAOS_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', log, log, 'ipc'],
    });
    closeSync(log);
    const handle = new InstanceHandle(config, child);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`instance ${config.instance} not ready within ${timeoutMs} ms (see ${logFile})`),
            ),
          timeoutMs,
        );
        child.on('message', (message: Reply | Notice) => {
          if ('type' in message && message.type === 'ready') resolve();
          if ('type' in message && message.type === 'fatal') {
            reject(new Error(`instance ${config.instance} failed to start: ${message.error}`));
          }
        });
        handle.exited.then((exit) =>
          reject(
            new Error(`instance ${config.instance} exited while starting (${exit.code ?? exit.signal})`),
          ),
        );
      });
    } catch (error) {
      handle.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return handle;
  }

  #cutRedis(cid: number, key: string): void {
    const answer = (done: CutDone): void => {
      if (this.alive) this.child.send(done, () => undefined);
    };
    const cut = this.onCutRedis;
    if (cut === undefined) {
      answer({ type: 'cut-done', cid, ok: false, error: 'no cut-redis handler is set' });
      return;
    }
    cut(key).then(
      () => answer({ type: 'cut-done', cid, ok: true }),
      (error: unknown) => answer({ type: 'cut-done', cid, ok: false, error: String(error) }),
    );
  }

  get instance(): number {
    return this.config.instance;
  }

  get incarnation(): number {
    return this.config.incarnation;
  }

  /** Whether the process still runs. */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** Sends a request; rejects after `timeoutMs` or when the process exits. */
  request<T>(request: Request, timeoutMs = 15_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`instance ${this.instance} is not running`));
    const rid = ++this.#rid;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(new Error(`instance ${this.instance}: no reply to ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(rid, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...request, rid }, (error) => {
        if (error) {
          this.#pending.delete(rid);
          clearTimeout(timer);
          reject(error);
        }
      });
    });
  }

  /** Sends a signal if the process still runs. */
  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Asks the process to stop, then SIGKILLs it if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<Exit> {
    if (!this.alive) return this.#exit!;
    await this.request({ type: 'stop' }, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.kill('SIGKILL'), 3_000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}
