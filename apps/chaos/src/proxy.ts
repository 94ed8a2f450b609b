/**
 * A TCP fault proxy for the chaos harness (semantics.md §3.1): one listener on 127.0.0.1 in front
 * of one target (a Redis, a Postgres), with Toxiproxy-like faults switched at run time. Every
 * instance process reaches each server through its own proxy, so a fault hits one instance and one
 * kind of connection.
 *
 * Each client connection gets its own upstream connection. Bytes are forwarded chunk by chunk in
 * each direction, so a mode change applies to open connections at once. `stats()` counts what every
 * fault did, so a schedule can check that its faults fired.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Rng } from '@writethrough/testing/tools';

/** What the proxy does to connections; `set` applies it to open and new connections at once. */
export type ProxyMode =
  /** Forward everything, with backpressure. */
  | { readonly kind: 'up' }
  /** Close every open connection with a FIN; accept new ones and close them at once. */
  | { readonly kind: 'down' }
  /** Destroy every open connection with a TCP RST (both sides), and new ones too. */
  | { readonly kind: 'reset' }
  /**
   * Keep connections open and drop every byte in both directions, delayed chunks included; FINs are
   * held back. When the mode changes again, every connection that lost bytes is reset (RST): TCP
   * never loses bytes in the middle of a stream (a short outage delivers them late, a long one or a
   * firewall that forgot the flow ends the connection), and a stream resumed past a hole would
   * desynchronize its protocol (an ioredis client would match every later reply to an earlier
   * command, for good).
   */
  | { readonly kind: 'blackhole' }
  /**
   * Delay every chunk in each direction by `ms` ± `jitterMs` (uniform, seeded, at least 0), never
   * reordering: a chunk is never delivered before the one read ahead of it.
   */
  | { readonly kind: 'latency'; readonly ms: number; readonly jitterMs?: number };

/** Cumulative counters since the proxy started (except `open`). */
export interface ProxyStats {
  /** Client connections accepted and proxied (in 'up', 'latency' or 'blackhole'). */
  readonly accepted: number;
  /** New connections closed at once in 'down'. */
  readonly refused: number;
  /** Connections reset by 'reset': open ones when it was set, and new ones while it holds. */
  readonly reset: number;
  /** Open connections closed with a FIN by switching to 'down'. */
  readonly closed: number;
  /** Bytes delivered from clients to the target. */
  readonly bytesUp: number;
  /** Bytes delivered from the target to clients. */
  readonly bytesDown: number;
  /** Bytes dropped by 'blackhole' (read and never delivered). */
  readonly droppedBytes: number;
  /** Connections reset when a 'blackhole' ended because it had dropped some of their bytes. */
  readonly lostReset: number;
  /** Chunks queued by 'latency'. */
  readonly delayedChunks: number;
  /** Connections to the target that failed before connecting (the client connection is then destroyed). */
  readonly upstreamFailures: number;
  /** Connections proxied now. */
  readonly open: number;
}

/** A running proxy; see `startFaultProxy`. */
export interface FaultProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Where it forwards connections to. */
  readonly target: { readonly host: string; readonly port: number };
  /** The current mode. */
  readonly mode: ProxyMode;
  /** Switches the mode, for open and new connections at once; throws a RangeError for a bad latency. */
  set(mode: ProxyMode): void;
  /** The counters, for fault confirmation. */
  stats(): ProxyStats;
  /** Stops listening and destroys every connection; idempotent. */
  close(): Promise<void>;
}

/** Options of `startFaultProxy`. */
export interface FaultProxyOptions {
  /** The port to listen on (default 0: one the OS picks). */
  readonly port?: number;
  /** Seeds the latency jitter (default 0). */
  readonly seed?: number;
}

/**
 * Starts a proxy on 127.0.0.1 that forwards to `target`, in mode 'up'. Rejects when it cannot
 * listen (the port is taken).
 */
export async function startFaultProxy(
  target: { host: string; port: number },
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const proxy = new NetFaultProxy({ host: target.host, port: target.port }, options.seed ?? 0);
  await proxy.listen(options.port ?? 0);
  return proxy;
}

/** How long a connection closed by 'down' may take to finish sending before it is destroyed. */
const FIN_GRACE_MS = 1_000;

/** One direction of a connection: bytes read from `from` and written to `to`. */
interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  readonly counter: 'bytesUp' | 'bytesDown';
  /** Chunks delayed by 'latency', in read order; `due` is a `performance.now()` time, never decreasing. */
  readonly queue: { readonly data: Buffer; readonly due: number }[];
  timer: NodeJS.Timeout | undefined;
  /** `from` sent its FIN: pass it on once the queue is empty. */
  ended: boolean;
  /** A 'blackhole' dropped bytes of this direction: the connection is reset when it ends. */
  lost: boolean;
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly directions: readonly [Direction, Direction];
}

type Counters = { -readonly [K in Exclude<keyof ProxyStats, 'open'>]: number };

class NetFaultProxy implements FaultProxy {
  readonly target: { readonly host: string; readonly port: number };
  #port = 0;
  #mode: ProxyMode = { kind: 'up' };
  readonly #rng: Rng;
  readonly #server: net.Server;
  readonly #links = new Set<Link>();
  readonly #counts: Counters = {
    accepted: 0,
    refused: 0,
    reset: 0,
    closed: 0,
    bytesUp: 0,
    bytesDown: 0,
    droppedBytes: 0,
    lostReset: 0,
    delayedChunks: 0,
    upstreamFailures: 0,
  };
  #closing: Promise<void> | undefined;

  constructor(target: { host: string; port: number }, seed: number) {
    this.target = target;
    this.#rng = new Rng(seed);
    // Half-open sockets: a FIN is passed on only after the delayed chunks ahead of it.
    this.#server = net.createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
  }

  get port(): number {
    return this.#port;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: '127.0.0.1', port }, () => {
        this.#server.off('error', reject);
        this.#server.on('error', () => {});
        this.#port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  set(mode: ProxyMode): void {
    if (mode.kind === 'latency') {
      const { ms, jitterMs = 0 } = mode;
      if (!(Number.isFinite(ms) && ms >= 0 && Number.isFinite(jitterMs) && jitterMs >= 0)) {
        throw new RangeError(
          `latency needs finite ms >= 0 and jitterMs >= 0, got ms=${ms} jitterMs=${jitterMs}`,
        );
      }
    }
    this.#mode = mode;
    for (const link of [...this.#links]) {
      if (mode.kind !== 'blackhole' && mode.kind !== 'down' && link.directions.some((d) => d.lost)) {
        this.#counts.lostReset++;
        this.#drop(link, 'reset');
      } else if (mode.kind === 'down') {
        this.#counts.closed++;
        this.#drop(link, 'fin');
      } else if (mode.kind === 'reset') {
        this.#counts.reset++;
        this.#drop(link, 'reset');
      } else {
        for (const direction of link.directions) {
          if (mode.kind === 'up') this.#release(direction, Number.POSITIVE_INFINITY);
          if (mode.kind === 'blackhole') this.#discard(direction);
        }
      }
    }
  }

  stats(): ProxyStats {
    return { ...this.#counts, open: this.#links.size };
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const link of [...this.#links]) this.#drop(link, 'destroy');
    });
    return this.#closing;
  }

  #accept(client: Socket): void {
    client.on('error', () => {});
    if (this.#mode.kind === 'down') {
      this.#counts.refused++;
      client.destroy();
      return;
    }
    if (this.#mode.kind === 'reset') {
      this.#counts.reset++;
      client.resetAndDestroy();
      return;
    }
    this.#counts.accepted++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
    });
    upstream.on('error', () => {
      if (!connected) this.#counts.upstreamFailures++;
    });
    const link: Link = {
      client,
      upstream,
      directions: [direction(client, upstream, 'bytesUp'), direction(upstream, client, 'bytesDown')],
    };
    this.#links.add(link);
    for (const d of link.directions) {
      d.from.on('data', (chunk: Buffer) => {
        if (this.#links.has(link)) this.#forward(d, chunk);
      });
      d.from.on('end', () => {
        d.ended = true;
        if (this.#links.has(link)) this.#passFin(d);
      });
      // An error (a failed connect, a reset) ends both sides; a clean close waits for the other side's own.
      d.from.on('close', (hadError: boolean) => {
        if (hadError || (client.destroyed && upstream.destroyed)) this.#drop(link, 'destroy');
      });
    }
  }

  #forward(d: Direction, data: Buffer): void {
    const mode = this.#mode;
    if (mode.kind === 'blackhole') {
      this.#counts.droppedBytes += data.length;
      d.lost = true;
    } else if (mode.kind === 'latency') {
      const jitter = mode.jitterMs ? (this.#rng.nextDouble() * 2 - 1) * mode.jitterMs : 0;
      const due = performance.now() + Math.max(0, mode.ms + jitter);
      const last = d.queue.at(-1);
      d.queue.push({ data, due: last === undefined ? due : Math.max(due, last.due) });
      this.#counts.delayedChunks++;
      this.#schedule(d);
    } else {
      this.#write(d, data);
    }
  }

  #write(d: Direction, data: Buffer): void {
    this.#counts[d.counter] += data.length;
    if (!d.to.write(data) && !d.from.isPaused()) {
      d.from.pause();
      d.to.once('drain', () => d.from.resume());
    }
  }

  /** Delivers the queued chunks due by `now`, then waits for the next one. */
  #release(d: Direction, now: number): void {
    clearTimeout(d.timer);
    d.timer = undefined;
    while (d.queue.length > 0 && d.queue[0]!.due <= now) this.#write(d, d.queue.shift()!.data);
    this.#schedule(d);
    this.#passFin(d);
  }

  #schedule(d: Direction): void {
    const head = d.queue[0];
    if (d.timer !== undefined || head === undefined) return;
    // A timer may fire a little early: #release then finds nothing due and waits again.
    const wait = Math.max(0, Math.ceil(head.due - performance.now()));
    d.timer = setTimeout(() => {
      d.timer = undefined;
      this.#release(d, performance.now());
    }, wait);
  }

  #discard(d: Direction): void {
    clearTimeout(d.timer);
    d.timer = undefined;
    for (const chunk of d.queue) this.#counts.droppedBytes += chunk.data.length;
    if (d.queue.length > 0) d.lost = true;
    d.queue.length = 0;
  }

  #passFin(d: Direction): void {
    if (d.ended && d.queue.length === 0 && this.#mode.kind !== 'blackhole' && !d.to.writableEnded) d.to.end();
  }

  #drop(link: Link, how: 'destroy' | 'fin' | 'reset'): void {
    if (!this.#links.delete(link)) return;
    for (const d of link.directions) {
      clearTimeout(d.timer);
      d.queue.length = 0;
    }
    for (const socket of [link.client, link.upstream]) {
      if (how === 'reset') socket.resetAndDestroy();
      else if (how === 'destroy') socket.destroy();
      else {
        socket.resume(); // read on to the peer's FIN, so the socket closes cleanly
        socket.end();
        setTimeout(() => socket.destroy(), FIN_GRACE_MS).unref();
      }
    }
  }
}

function direction(from: Socket, to: Socket, counter: Direction['counter']): Direction {
  return { from, to, counter, queue: [], timer: undefined, ended: false, lost: false };
}
