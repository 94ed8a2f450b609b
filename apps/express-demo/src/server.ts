/** Starts the demo app on a port: `PORT` (default 3000), or a free one when that port is taken. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AppOptions, createApp, type DemoApp } from './app.js';

/** A running demo: the app, its server and its URL. */
export interface RunningDemo {
  readonly demo: DemoApp;
  readonly server: Server;
  readonly url: string;
  /** True when `port` was taken and another one was chosen. */
  readonly movedFrom?: number;
  close(): Promise<void>;
}

/** Options of `startDemo`. */
export interface StartOptions extends AppOptions {
  /** Default 3000; 0 for any free port. */
  readonly port?: number;
  /** Default 127.0.0.1 (loopback only). */
  readonly host?: string;
}

function listen(demo: DemoApp, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = demo.app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

/** Builds the app and listens; when the port is in use, listens on a free one instead. */
export async function startDemo(options: StartOptions = {}): Promise<RunningDemo> {
  const demo = await createApp(options);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3000;
  let server: Server;
  let movedFrom: number | undefined;
  try {
    server = await listen(demo, port, host);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) {
      await demo.close();
      throw error;
    }
    movedFrom = port;
    server = await listen(demo, 0, host);
  }
  const address = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${address.port}`;
  return {
    demo,
    server,
    url,
    ...(movedFrom === undefined ? {} : { movedFrom }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await demo.close();
    },
  };
}
