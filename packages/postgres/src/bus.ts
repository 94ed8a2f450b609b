/**
 * `postgresBus`: the cross-instance `InvalidationBus` on Postgres LISTEN/NOTIFY, for deployments
 * without Redis pub/sub.
 *
 * Every frame carries its publisher's random id and sequence number (the codec below, the same
 * format idea as `redisBus`). The bus reports `disconnected` (the engine clears and bypasses L1)
 * whenever messages may have been lost:
 * - its listening connection failed or ended; `connected` again once LISTEN is confirmed on a new
 *   connection, opened by the bus itself with backoff;
 * - a publisher's sequence jumped (a lost frame): `disconnected` then `connected` at once;
 * - its own heartbeats stopped arriving (a silently dead connection): `disconnected`, and the
 *   listening connection is recycled;
 * - another publisher fell silent without a goodbye (crashed, or its publishes fail):
 *   `disconnected` then `connected` at once.
 * A publish whose frame may not have gone out still used up its sequence number, so the receivers
 * see a gap on this publisher's next frame (at latest its next heartbeat) and clear their L1.
 *
 * Postgres never imports `pg` here: the caller passes a factory of `pg.Client`s, or a PGlite.
 */

import { randomBytes } from 'node:crypto';
import type { BusState, InvalidationBus, InvalidationMessage } from '@writethrough/core';
import {
  BusSequences,
  decodeBusFrame,
  encodeBusGoodbye,
  encodeBusHeartbeat,
  encodeBusMessage,
  InvalidArgumentError,
  WriteThroughError,
} from '@writethrough/core';
import { bounded, integerOption } from './options.js';

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/** A notification as `pg` emits it. */
interface Notification {
  readonly channel: string;
  readonly payload?: string | undefined;
}

/**
 * A dedicated connection the bus listens on: a new, not yet connected `pg.Client` (only what the bus
 * uses is declared).
 */
export interface PostgresListenClient {
  connect(): Promise<unknown>;
  query(text: string, params?: unknown[]): Promise<unknown>;
  on(event: 'notification', listener: (message: Notification) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  end(): Promise<void>;
}

/** A PGlite instance (in-process; only what the bus uses is declared). */
export interface PgliteListenClient {
  query(text: string, params?: unknown[]): Promise<unknown>;
  listen(channel: string, callback: (payload: string) => void): Promise<(tx?: undefined) => Promise<void>>;
}

/** Something to publish on: a `pg.Pool`, a `pg.Client`, a PGlite — any `query(text, params)`. */
export interface PostgresPublishClient {
  query(text: string, params?: unknown[]): Promise<unknown>;
}

/** Options of `postgresBus`. Give `connect` (a Postgres server) or `client` (a PGlite). */
export interface PostgresBusOptions {
  /**
   * Makes a new, not yet connected `pg.Client` for the listening connection:
   * `() => new pg.Client({ connectionString, application_name: 'wt-bus' })`. The bus connects it,
   * owns it, ends it on `close()`, and calls the factory again to reconnect after a loss.
   */
  readonly connect?: (() => PostgresListenClient | Promise<PostgresListenClient>) | undefined;
  /** A PGlite instance to listen and publish on (not closed by the bus). */
  readonly client?: PgliteListenClient | undefined;
  /**
   * Where to publish (`SELECT pg_notify(...)`): a `pg.Pool` for example, never closed by the bus.
   * Default: the listening connection (then `publish` rejects at once while it is down).
   */
  readonly publisher?: PostgresPublishClient | undefined;
  /** The NOTIFY channel (at most 63 bytes, no `"`). All instances of one application use the same one. Default `wt_bus`. */
  readonly channel?: string | undefined;
  /**
   * Interval of heartbeats, ms. Default 1000; 0 turns them off (then a silently dead connection or a
   * crashed publisher goes unnoticed).
   */
  readonly heartbeatMs?: number | undefined;
  /** How many heartbeat intervals may pass without a heartbeat before the bus acts. Default 3. */
  readonly missedHeartbeats?: number | undefined;
  /** Bound of a publish, of connecting and of LISTEN, ms. Default 2000. */
  readonly timeoutMs?: number | undefined;
  /** First delay before reconnecting after a loss, ms (doubling, with jitter). Default 100. */
  readonly reconnectDelayMs?: number | undefined;
  /** Largest delay between reconnection attempts, ms. Default 5000. */
  readonly maxReconnectDelayMs?: number | undefined;
  /** Receives background errors (heartbeats, connection errors, failed reconnects). Default: ignored. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** Counters of what the bus saw; for tests and metrics. */
export interface PostgresBusStats {
  /** Invalidation frames from other publishers handed to the subscribers. */
  delivered: number;
  /** Notifications on the channel that could not be decoded. */
  ignored: number;
  /** Sequence gaps noticed. */
  gaps: number;
  /** Times the bus's own heartbeats stopped arriving. */
  heartbeatLosses: number;
  /** Other publishers that fell silent without a goodbye: L1 was cleared. */
  silentPublishers: number;
  /** Times `onState('disconnected')` fired. */
  disconnects: number;
  /** Successful (re)connections: LISTEN confirmed. */
  connects: number;
  /** Messages too large for a NOTIFY payload (or holding NUL or a lone surrogate), sent as clear-all. */
  degraded: number;
}

// ---------------------------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------------------------

/** NOTIFY payloads must be shorter than 8000 bytes (default build). Frames: core's bus codec. */
export const MAX_PAYLOAD_BYTES = 7999;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` can travel in a Postgres text payload (no NUL, no lone surrogate). */
function carriable(text: string): boolean {
  return !text.includes('\0') && !LONE_SURROGATE.test(text);
}

// ---------------------------------------------------------------------------------------------
// The bus
// ---------------------------------------------------------------------------------------------

type MessageHandler = (message: InvalidationMessage) => void;
type StateHandler = (state: BusState) => void;

/** Frames sent in one statement at most. */
const MAX_BATCH = 256;
/** A single frame: `SELECT pg_notify($1, $2)`; several: one statement, in array order. */
const NOTIFY_ONE = 'SELECT pg_notify($1, $2)';
const NOTIFY_MANY =
  'SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS f(payload, n) ORDER BY n';

/** Quotes a channel name as an identifier (validated: no `"`). */
function quoted(channel: string): string {
  return `"${channel}"`;
}

interface Pending {
  readonly frame: string;
  readonly key: string | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Creates a Postgres LISTEN/NOTIFY invalidation bus; see `PostgresBusOptions`. */
export function postgresBus(options: PostgresBusOptions): PostgresBus {
  return new PostgresBus(options);
}

/** The Postgres LISTEN/NOTIFY `InvalidationBus`. */
export class PostgresBus implements InvalidationBus {
  /** This bus instance's random publisher id (in every frame it sends). */
  readonly id: string;
  /** The NOTIFY channel. */
  readonly channel: string;
  /** What the bus saw. */
  readonly stats: PostgresBusStats = {
    delivered: 0,
    ignored: 0,
    gaps: 0,
    heartbeatLosses: 0,
    silentPublishers: 0,
    disconnects: 0,
    connects: 0,
    degraded: 0,
  };

  readonly #connect: (() => PostgresListenClient | Promise<PostgresListenClient>) | undefined;
  readonly #pglite: PgliteListenClient | undefined;
  readonly #publisher: PostgresPublishClient | undefined;
  readonly #heartbeatMs: number;
  readonly #missedHeartbeats: number;
  readonly #timeoutMs: number;
  readonly #reconnectDelayMs: number;
  readonly #maxReconnectDelayMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onMessage = new Set<MessageHandler>();
  readonly #onState = new Set<StateHandler>();
  /** Last sequence number and when it was seen, per publisher, on the current subscription. */
  readonly #seen: BusSequences;
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** The subscription being opened, if any (close waits for it). */
  #opening: Promise<void> | undefined;
  /** The current listening connection (pg), once LISTEN is confirmed. */
  #listener: PostgresListenClient | undefined;
  /** Stops the PGlite listener. */
  #unlisten: (() => Promise<void>) | undefined;
  #seq = 0;
  #subscribed = false;
  #connected = false;
  #closed = false;
  #sending = false;
  /** Bumped whenever the subscription is lost: work begun in an earlier session is stale. */
  #session = 0;
  #lastHeard = 0;
  #lastTick = performance.now();
  #closing: Promise<void> | undefined;
  /** Sends waiting for the listening connection to come (back). */
  readonly #waiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();

  constructor(options: PostgresBusOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('postgresBus needs options: { connect } or { client }');
    }
    const { connect, client } = options;
    if ((connect === undefined) === (client === undefined)) {
      throw new InvalidArgumentError(
        'postgresBus needs exactly one of connect (a factory of new pg.Client for a server) or client (a PGlite)',
      );
    }
    if (connect !== undefined && typeof connect !== 'function') {
      throw new InvalidArgumentError('postgresBus connect must be a function returning a new pg.Client');
    }
    if (client !== undefined && (typeof client !== 'object' || typeof client.listen !== 'function')) {
      throw new InvalidArgumentError(
        'postgresBus client must be a PGlite (with listen()); for a server pass connect: () => new pg.Client(...)',
      );
    }
    const publisher = options.publisher;
    if (publisher !== undefined && (publisher === null || typeof publisher.query !== 'function')) {
      throw new InvalidArgumentError('postgresBus publisher must have query(text, params)');
    }
    const channel = options.channel ?? 'wt_bus';
    if (
      typeof channel !== 'string' ||
      channel === '' ||
      channel.includes('"') ||
      !carriable(channel) ||
      Buffer.byteLength(channel) > 63
    ) {
      throw new InvalidArgumentError(
        'postgresBus channel must be a non-empty string of at most 63 bytes without `"` or NUL',
      );
    }
    this.channel = channel;
    this.#connect = connect;
    this.#pglite = client;
    this.#publisher = publisher;
    this.#heartbeatMs = integerOption('postgresBus heartbeatMs', options.heartbeatMs, 1_000, 0);
    this.#missedHeartbeats = integerOption('postgresBus missedHeartbeats', options.missedHeartbeats, 3, 1);
    this.#timeoutMs = integerOption('postgresBus timeoutMs', options.timeoutMs, 2_000, 1);
    this.#reconnectDelayMs = integerOption('postgresBus reconnectDelayMs', options.reconnectDelayMs, 100, 1);
    this.#maxReconnectDelayMs = integerOption(
      'postgresBus maxReconnectDelayMs',
      options.maxReconnectDelayMs,
      5_000,
      1,
    );
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new InvalidArgumentError('postgresBus onError must be a function');
    }
    this.#onError = options.onError;
    this.id = randomBytes(9).toString('hex').replace(/^0+/, '') || 'a';
    this.#seen = new BusSequences(this.id);
    if (this.#heartbeatMs > 0) {
      this.#timer = setInterval(() => this.#tick(), this.#heartbeatMs);
      this.#timer.unref?.();
    }
    this.#open();
  }

  /** True while LISTEN is confirmed on a live connection. */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /**
   * Sends `message` to every other instance with one `pg_notify`. A message too large for a NOTIFY
   * payload (or whose key holds NUL or a lone surrogate) is sent as clear-everything (key '',
   * version 0) instead, and counted in `stats.degraded`. Rejects with `InvalidArgumentError` on an
   * invalid message (nothing sent, no sequence number used), with `WriteThroughError` when the bus
   * is closed or the notification may not have gone out.
   */
  publish(message: InvalidationMessage): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new WriteThroughError(`postgresBus on channel ${JSON.stringify(this.channel)} is closed`, {
          key: typeof message?.key === 'string' ? message.key : undefined,
        }),
      );
    }
    let frame: string;
    try {
      frame = this.#encode(message);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue(frame, message.key);
  }

  subscribe(onMessage: MessageHandler, onState?: StateHandler): () => void {
    const messageHandler: MessageHandler = (message) => onMessage(message);
    const stateHandler: StateHandler | undefined = onState && ((state) => onState(state));
    if (!this.#closed) {
      this.#onMessage.add(messageHandler);
      if (stateHandler) this.#onState.add(stateHandler);
    }
    return () => {
      this.#onMessage.delete(messageHandler);
      if (stateHandler) this.#onState.delete(stateHandler);
    };
  }

  /**
   * Says goodbye (best effort, bounded), stops the timers, drops every handler and ends the listening
   * connection (never the PGlite or the `publisher` it was given). Closing twice does nothing.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#seq > 0 && (this.#publisher !== undefined || this.#pglite !== undefined || this.#subscribed)) {
      await this.#enqueue(encodeBusGoodbye(this.id, ++this.#seq), undefined).catch(() => undefined);
    }
    this.#closed = true;
    this.#connected = false;
    this.#subscribed = false;
    this.#session++;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#timer = undefined;
    this.#reconnectTimer = undefined;
    this.#onMessage.clear();
    this.#onState.clear();
    this.#wake(new Error('the bus was closed'));
    for (const pending of this.#queue.splice(0)) {
      pending.reject(
        new WriteThroughError('postgresBus closed before the publish was sent', { key: pending.key }),
      );
    }
    // A connection being opened now ends itself once it sees the bus closed.
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined);
    const listener = this.#listener;
    this.#listener = undefined;
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    if (listener !== undefined) await this.#end(listener);
    if (unlisten !== undefined)
      await bounded(unlisten(), this.#timeoutMs, () => new Error('UNLISTEN timed out')).catch(
        () => undefined,
      );
  }

  // -------------------------------------------------------------------------------------------

  #encode(message: InvalidationMessage): string {
    if (message === null || typeof message !== 'object') {
      throw new InvalidArgumentError('postgresBus publish needs a message object');
    }
    const { cache, key, version, origin } = message;
    for (const [what, text] of [
      ['key', key],
      ['cache', cache],
      ['origin', origin],
    ] as const) {
      if (typeof text !== 'string') {
        throw new InvalidArgumentError(`bus message ${what} must be a string, got ${typeof text}`, {
          key: typeof key === 'string' ? key : undefined,
        });
      }
    }
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new InvalidArgumentError(
        `bus message version must be a safe integer >= 0, got ${String(version)}`,
        {
          key,
        },
      );
    }
    // The clear-everything fallback still carries cache and origin: they must fit on their own.
    if (
      !carriable(cache) ||
      !carriable(origin) ||
      Buffer.byteLength(
        encodeBusMessage(this.id, Number.MAX_SAFE_INTEGER, { cache, origin, key: '', version: 0 }),
      ) > MAX_PAYLOAD_BYTES
    ) {
      throw new InvalidArgumentError(
        `postgresBus cannot carry this cache name or origin: a NOTIFY payload holds < 8000 bytes of text without NUL`,
        { key },
      );
    }
    const seq = ++this.#seq;
    if (carriable(key)) {
      const frame = encodeBusMessage(this.id, seq, message);
      if (Buffer.byteLength(frame) <= MAX_PAYLOAD_BYTES) return frame;
    }
    this.stats.degraded++;
    return encodeBusMessage(this.id, seq, { cache, origin, key: '', version: 0 });
  }

  #enqueue(frame: string, key: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ frame, key, resolve, reject });
      this.#drain();
    });
  }

  /** Sends the queued frames, in order, one statement at a time (so commit order is sequence order). */
  #drain(): void {
    if (this.#sending || this.#queue.length === 0) return;
    this.#sending = true;
    const batch = this.#queue.splice(0, MAX_BATCH);
    this.#send(batch).finally(() => {
      this.#sending = false;
      this.#drain();
    });
  }

  async #send(batch: Pending[]): Promise<void> {
    try {
      if (this.#publisher === undefined && this.#pglite === undefined && !this.#subscribed) {
        // Publishing on the listening connection while it is (re)opening: wait for it, bounded.
        await bounded(
          new Promise<void>((resolve, reject) => this.#waiters.add({ resolve, reject })),
          this.#timeoutMs,
          () =>
            new Error(`the listening connection is down and did not come back within ${this.#timeoutMs} ms`),
        );
      }
      const target: PostgresPublishClient | undefined = this.#publisher ?? this.#pglite ?? this.#listener;
      if (target === undefined) throw new Error('the listening connection is down');
      const query =
        batch.length === 1
          ? target.query(NOTIFY_ONE, [this.channel, batch[0]?.frame])
          : target.query(NOTIFY_MANY, [this.channel, batch.map((p) => p.frame)]);
      await bounded(query, this.#timeoutMs, () => new Error(`no reply within ${this.#timeoutMs} ms`));
      for (const pending of batch) pending.resolve();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      for (const pending of batch) {
        pending.reject(
          new WriteThroughError(
            `postgresBus publish on channel ${JSON.stringify(this.channel)} failed (${reason}); receivers will see a sequence gap`,
            { key: pending.key, cause },
          ),
        );
      }
    }
  }

  /** Opens the subscription (PGlite: once; pg: a new connection). */
  #open(): void {
    if (this.#closed) return;
    const session = this.#session;
    const attempt = this.#pglite !== undefined ? this.#listenPglite(this.#pglite) : this.#listenPg(session);
    const opening = attempt.then(
      () => {
        if (this.#closed || session !== this.#session) return;
        this.#attempt = 0;
        this.#subscribed = true;
        this.#wake(undefined);
        this.#seen.clear();
        this.#lastHeard = performance.now();
        this.stats.connects++;
        if (this.#connected) return;
        this.#connected = true;
        this.#emitState('connected');
      },
      (error: unknown) => {
        this.#report(error);
        if (this.#closed || session !== this.#session) return;
        this.#lost();
        this.#scheduleReconnect();
      },
    );
    this.#opening = opening;
    void opening.finally(() => {
      if (this.#opening === opening) this.#opening = undefined;
    });
  }

  async #listenPglite(db: PgliteListenClient): Promise<void> {
    const unlisten = await db.listen(quoted(this.channel), (payload) => this.#onFrame(payload));
    if (this.#closed) {
      await unlisten().catch(() => undefined);
      return;
    }
    this.#unlisten = () => unlisten();
  }

  async #listenPg(session: number): Promise<void> {
    const connect = this.#connect;
    if (connect === undefined) throw new Error('no connect factory');
    const client = await connect();
    if (client === null || typeof client !== 'object' || typeof client.query !== 'function') {
      throw new InvalidArgumentError('postgresBus connect() must return a new pg.Client');
    }
    const stale = (): boolean => this.#closed || session !== this.#session;
    client.on('error', (error) => {
      this.#report(error);
      if (this.#listener === client) this.#dropListener();
    });
    client.on('end', () => {
      if (this.#listener === client) this.#dropListener();
    });
    client.on('notification', (message) => {
      if (this.#listener === client && message.channel === this.channel) this.#onFrame(message.payload);
    });
    try {
      await bounded(
        client.connect(),
        this.#timeoutMs,
        () => new Error(`connect: no reply within ${this.#timeoutMs} ms`),
      );
      if (stale()) throw new Error('stale');
      await bounded(
        client.query(`LISTEN ${quoted(this.channel)}`),
        this.#timeoutMs,
        () => new Error('LISTEN timed out'),
      );
      if (stale()) throw new Error('stale');
    } catch (error) {
      await this.#end(client);
      if (stale()) return;
      throw error;
    }
    this.#listener = client;
  }

  /** The listening connection failed or ended: report the loss and reconnect. */
  #dropListener(): void {
    const client = this.#listener;
    this.#listener = undefined;
    if (client !== undefined) void this.#end(client);
    if (this.#closed) return;
    this.#lost();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined || this.#pglite !== undefined) return;
    const base = Math.min(
      this.#maxReconnectDelayMs,
      this.#reconnectDelayMs * 2 ** Math.min(this.#attempt, 20),
    );
    this.#attempt++;
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#open();
    }, delay);
    this.#reconnectTimer.unref?.();
  }

  async #end(client: PostgresListenClient): Promise<void> {
    try {
      await bounded(client.end(), this.#timeoutMs, () => new Error('end timed out'));
    } catch {
      // A connection that does not end (a dead peer): drop its socket (pg.Client internals, best effort).
      const stream = (client as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
      try {
        stream?.destroy?.();
      } catch {
        // Nothing more to do.
      }
    }
  }

  /** Releases the sends waiting for the listening connection (rejects them with `error`, if given). */
  #wake(error: Error | undefined): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }

  /** The subscription is gone (or suspected gone): messages may be lost from now on. */
  #lost(): void {
    this.#session++;
    this.#subscribed = false;
    this.#seen.clear();
    if (this.#closed || !this.#connected) return;
    this.#connected = false;
    this.#emitState('disconnected');
  }

  /** Messages may have been lost but the subscription stands: clear L1 now, and carry on. */
  #pulse(): void {
    if (this.#closed || !this.#connected) return;
    this.#connected = false;
    this.#emitState('disconnected');
    if (this.#closed || !this.#subscribed) return;
    this.#connected = true;
    this.#emitState('connected');
  }

  #onFrame(text: string | undefined): void {
    if (this.#closed || !this.#subscribed) return;
    const frame = decodeBusFrame(text);
    if (frame === undefined) {
      this.stats.ignored++;
      return;
    }
    const now = performance.now();
    const own = frame.publisher === this.id;
    if (own) this.#lastHeard = now;
    if (this.#seen.hear(frame, now)) {
      this.stats.gaps++;
      this.#pulse();
    }
    if (own || frame.kind !== 'message') return;
    this.stats.delivered++;
    for (const handler of [...this.#onMessage]) guarded(() => handler({ ...frame.message }));
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    // After a stall of the event loop, heartbeats already received get a fresh interval.
    const stalled = now - this.#lastTick > this.#heartbeatMs * 2;
    this.#lastTick = now;
    if (stalled) this.#lastHeard = Math.max(this.#lastHeard, now);
    const limit = this.#heartbeatMs * this.#missedHeartbeats;
    if (this.#subscribed && now - this.#lastHeard > limit) {
      // Our own heartbeats stopped arriving: the connection is silently dead, or the server hangs.
      this.stats.heartbeatLosses++;
      if (this.#pglite !== undefined) {
        this.#pulse();
        this.#lastHeard = now;
      } else {
        this.#dropListener();
      }
      return;
    }
    for (let n = this.#seen.sweepSilent(now, limit, stalled); n > 0; n--) {
      this.stats.silentPublishers++;
      this.#pulse();
    }
    if (!this.#subscribed && this.#publisher === undefined) return;
    // Only one heartbeat in the queue at a time.
    if (this.#queue.length > 0) return;
    this.#enqueue(encodeBusHeartbeat(this.id, ++this.#seq), undefined).catch((error) => this.#report(error));
  }

  #emitState(state: BusState): void {
    if (state === 'disconnected') this.stats.disconnects++;
    for (const handler of [...this.#onState]) guarded(() => handler(state));
  }

  #report(error: unknown): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(error);
    } catch {
      // A failing error handler must not break the bus.
    }
  }
}

/** Runs a subscriber's handler; its exception is rethrown on its own so the other handlers still run. */
function guarded(run: () => void): void {
  try {
    run();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
