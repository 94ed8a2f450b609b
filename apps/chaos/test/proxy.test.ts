import net, { type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { freePort, sleep, waitFor } from '@writethrough/testing/tools';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../src/proxy.ts';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A target that echoes every byte; `sockets` are its side of each connection, to push from. */
interface Echo {
  readonly port: number;
  readonly sockets: Socket[];
  /** Error codes its sockets saw (`ECONNRESET` when the proxy resets them). */
  readonly errors: string[];
}

async function echoServer({ paused = false } = {}): Promise<Echo> {
  const sockets: Socket[] = [];
  const errors: string[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    if (paused) socket.pause();
    else socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, sockets, errors };
}

async function proxyTo(port: number, seed = 1): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ host: '127.0.0.1', port }, { seed });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client connection: what it read, and how it ended. */
interface Peer {
  readonly socket: Socket;
  /** Everything read so far. */
  text(): string;
  /** Resolves with everything read once at least `n` bytes were. */
  read(n: number): Promise<string>;
  /** Resolves when the socket closes: 'fin' for a clean end, else the error code. */
  readonly closed: Promise<string>;
}

function connect(port: number, { allowHalfOpen = false } = {}): Peer {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen });
  cleanups.push(() => void socket.destroy());
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  let error: NodeJS.ErrnoException | undefined;
  const closed = new Promise<string>((resolve) => {
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => resolve(error?.code ?? 'fin'));
  });
  return {
    socket,
    text: () => received.toString(),
    read: async (n) => {
      await waitFor(() => received.length >= n, { what: `${n} bytes (have ${received.length})` });
      return received.toString();
    },
    closed,
  };
}

describe('startFaultProxy', () => {
  it("'up' forwards both ways on 127.0.0.1 only, and counts bytes", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    expect(proxy.mode).toEqual({ kind: 'up' });
    expect(proxy.target).toEqual({ host: '127.0.0.1', port: echo.port });
    const peer = connect(proxy.port);
    peer.socket.write('hello');
    expect(await peer.read(5)).toBe('hello');
    expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1, bytesUp: 5, bytesDown: 5, droppedBytes: 0 });

    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address?.family === 'IPv4' && !address.internal);
    if (external !== undefined) expect(await outside(external.address, proxy.port)).toBe('ECONNREFUSED');
  });

  it("'up' respects backpressure: a target that does not read stalls the client, then gets every byte", async () => {
    const target = await echoServer({ paused: true });
    const proxy = await proxyTo(target.port);
    const peer = connect(proxy.port);
    const total = 64 * 1024 * 1024;
    peer.socket.write(Buffer.alloc(total, 7));
    await sleep(300);
    // Without backpressure the proxy would have read it all into the upstream socket's buffer.
    expect(proxy.stats().bytesUp).toBeLessThan(total);
    let read = 0;
    target.sockets[0]!.on('data', (chunk: Buffer) => {
      read += chunk.length;
    });
    target.sockets[0]!.resume();
    await waitFor(() => read === total, { timeoutMs: 20_000, what: 'every byte at the target' });
    expect(proxy.stats().bytesUp).toBe(total);
  });

  it('destroys the client when the target refuses the connection', async () => {
    const proxy = await proxyTo(await freePort());
    const peer = connect(proxy.port);
    await peer.closed;
    await waitFor(() => proxy.stats().open === 0);
    expect(proxy.stats()).toMatchObject({ accepted: 1, upstreamFailures: 1, open: 0 });
  });

  it("'down' closes open connections with a FIN and refuses new ones until 'up'", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const open = connect(proxy.port);
    open.socket.write('a');
    await open.read(1);

    proxy.set({ kind: 'down' });
    expect(await open.closed).toBe('fin');
    const refused = connect(proxy.port);
    expect(await refused.closed).toBe('fin');
    expect(proxy.stats()).toMatchObject({ accepted: 1, closed: 1, refused: 1, open: 0 });
    await waitFor(() => echo.sockets[0]!.destroyed, { what: 'the target side closed' });
    expect(echo.errors).toEqual([]);

    proxy.set({ kind: 'up' });
    const later = connect(proxy.port);
    later.socket.write('back');
    expect(await later.read(4)).toBe('back');
  });

  it("'reset' sends an RST on open and new connections, both sides, until 'up'", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const open = connect(proxy.port);
    open.socket.write('a');
    await open.read(1);

    proxy.set({ kind: 'reset' });
    expect(await open.closed).toBe('ECONNRESET');
    expect(await connect(proxy.port).closed).toBe('ECONNRESET');
    expect(proxy.stats()).toMatchObject({ accepted: 1, reset: 2, open: 0 });
    await waitFor(() => echo.errors.includes('ECONNRESET'), { what: 'the target side reset' });

    proxy.set({ kind: 'up' });
    const later = connect(proxy.port);
    later.socket.write('back');
    expect(await later.read(4)).toBe('back');
  });

  it("'blackhole' keeps connections open and drops bytes both ways; 'up' resets those that lost bytes", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const peer = connect(proxy.port);
    peer.socket.write('a');
    await peer.read(1);
    const idle = connect(proxy.port);
    idle.socket.write('b');
    await idle.read(1);

    proxy.set({ kind: 'blackhole' });
    peer.socket.write('lost');
    echo.sockets[0]!.write('gone');
    const late = connect(proxy.port);
    late.socket.write('void');
    await waitFor(() => proxy.stats().droppedBytes === 12, { what: '12 dropped bytes' });
    await sleep(50);
    expect(peer.text()).toBe('a');
    expect(late.text()).toBe('');
    expect(proxy.stats()).toMatchObject({ accepted: 3, open: 3, bytesUp: 2, bytesDown: 2 });

    proxy.set({ kind: 'up' });
    // A stream never resumes past a hole: the connections that lost bytes are reset.
    expect(await peer.closed).toBe('ECONNRESET');
    expect(await late.closed).toBe('ECONNRESET');
    expect(proxy.stats()).toMatchObject({ lostReset: 2, open: 1 });
    // One that lost nothing goes on, and new ones work.
    idle.socket.write('kept');
    expect(await idle.read(5)).toBe('bkept');
    const next = connect(proxy.port);
    next.socket.write('new');
    expect(await next.read(3)).toBe('new');
  });

  it("'latency' delays each direction by at least ms", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const peer = connect(proxy.port);
    peer.socket.write('warm');
    await peer.read(4);

    const ms = 60;
    proxy.set({ kind: 'latency', ms });
    const start = performance.now();
    peer.socket.write('ping');
    await peer.read(8);
    // Lower bound only: the request and the reply each wait ms.
    expect(performance.now() - start).toBeGreaterThanOrEqual(2 * ms);
    expect(proxy.stats().delayedChunks).toBeGreaterThanOrEqual(2);
  });

  it("'latency' with jitter keeps the order of 1,000 chunks in each direction", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, 42);
    proxy.set({ kind: 'latency', ms: 2, jitterMs: 2 });
    const peer = connect(proxy.port);
    let expected = '';
    for (let i = 0; i < 1_000; i++) {
      const line = `${i}\n`;
      expected += line;
      peer.socket.write(line);
      // The next line once the proxy has read this one: 1,000 chunks upstream, each with its own delay.
      await waitFor(() => proxy.stats().delayedChunks > i, { intervalMs: 0 });
    }
    expect(await peer.read(expected.length)).toBe(expected);
    expect(proxy.stats().delayedChunks).toBeGreaterThanOrEqual(1_000);
  });

  it("'latency' passes a FIN on after the chunks ahead of it", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    proxy.set({ kind: 'latency', ms: 30 });
    const peer = connect(proxy.port, { allowHalfOpen: true });
    const ended = new Promise<string>((resolve) => peer.socket.on('end', () => resolve(peer.text())));
    peer.socket.end('bye');
    expect(await ended).toBe('bye');
  });

  it("switching from 'latency' to 'up' flushes the delayed chunks in order, ahead of new ones", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const peer = connect(proxy.port);
    peer.socket.write('0');
    await peer.read(1);

    proxy.set({ kind: 'latency', ms: 60_000 });
    peer.socket.write('one');
    await waitFor(() => proxy.stats().delayedChunks === 1);
    peer.socket.write('two');
    await waitFor(() => proxy.stats().delayedChunks === 2);
    proxy.set({ kind: 'up' });
    peer.socket.write('three');
    expect(await peer.read(12)).toBe('0onetwothree');
  });

  it("switching from 'latency' to 'blackhole' drops the delayed chunks; 'up' never delivers them", async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const peer = connect(proxy.port);
    proxy.set({ kind: 'latency', ms: 60_000 });
    peer.socket.write('gone');
    await waitFor(() => proxy.stats().delayedChunks === 1);

    proxy.set({ kind: 'blackhole' });
    expect(proxy.stats().droppedBytes).toBe(4);
    proxy.set({ kind: 'up' });
    expect(await peer.closed).toBe('ECONNRESET');
    expect(peer.text()).toBe('');
    expect(proxy.stats().lostReset).toBe(1);
  });

  it('rejects a bad latency and keeps the mode', async () => {
    const proxy = await proxyTo(await freePort());
    expect(() => proxy.set({ kind: 'latency', ms: -1 })).toThrow(RangeError);
    expect(() => proxy.set({ kind: 'latency', ms: 5, jitterMs: Number.NaN })).toThrow(RangeError);
    expect(proxy.mode).toEqual({ kind: 'up' });
  });

  it('close() destroys open connections, stops listening, and is idempotent', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const peer = connect(proxy.port);
    peer.socket.write('a');
    await peer.read(1);

    const first = proxy.close();
    expect(proxy.close()).toBe(first);
    await first;
    await peer.closed;
    expect(proxy.stats().open).toBe(0);
    expect(await connect(proxy.port).closed).toBe('ECONNREFUSED');
  });
});

/** Connects to a non-loopback address of this host; the error code, or 'connected'. */
function outside(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
