/**
 * `redisBus`: the cross-instance `InvalidationBus` on Redis pub/sub (standalone or Cluster, where
 * classic PUBLISH/SUBSCRIBE reaches every node).
 *
 * Every frame carries its publisher's random id and sequence number (core's bus codec). The bus
 * reports `disconnected` (the engine clears and bypasses L1) whenever messages may have been lost:
 * - its subscriber connection closed or is reconnecting; `connected` again once SUBSCRIBE is
 *   confirmed on the new connection;
 * - a publisher's sequence jumped (a lost frame): `disconnected` then `connected` at once;
 * - its own heartbeats stopped arriving (a silently dead subscriber connection): `disconnected`,
 *   and the subscriber connection is recycled;
 * - the epoch key (a random value set with SET NX) vanished or changed: the server was flushed or
 *   replaced; `disconnected` then `connected`.
 * A publish whose frame may not have gone out still used up its sequence number, so the receivers
 * see a gap on this publisher's next frame (at latest its next heartbeat) and clear their L1.
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
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { bounded } from './bounded.js';

/** A Redis connection the bus can use: an ioredis `Redis` or `Cluster`. */
export type RedisBusClient = Redis | Cluster;

/** Options of `redisBus`. Give one of `client`, `url` or `options`. */
export interface RedisBusOptions {
  /**
   * An ioredis `Redis` or `Cluster` to publish on (not closed by the bus); the subscriber connection
   * is duplicated from it and owned by the bus.
   */
  readonly client?: RedisBusClient | undefined;
  /** A Redis URL (`redis://…`): the bus opens and owns both its connections. */
  readonly url?: string | undefined;
  /** ioredis options for the connections the bus opens (with `url`, or alone). */
  readonly redis?: RedisOptions | undefined;
  /** Prefix of the default channel and epoch key. Default `wt:`. */
  readonly namespace?: string | undefined;
  /** The pub/sub channel. Default `${namespace}bus`. */
  readonly channel?: string | undefined;
  /** The key holding the server's epoch (FLUSHALL / replacement detection). Default `${channel}:epoch`. */
  readonly epochKey?: string | undefined;
  /**
   * Interval of heartbeats and epoch checks, ms. Default 1000; 0 turns both off (then a silently dead
   * subscriber connection or a FLUSHALL goes unnoticed).
   */
  readonly heartbeatMs?: number | undefined;
  /** How many heartbeat intervals the bus waits for its own heartbeat before it calls the subscription dead. Default 3. */
  readonly missedHeartbeats?: number | undefined;
  /** Bound of a publish (and of an epoch check), ms. Default 1000. */
  readonly timeoutMs?: number | undefined;
  /** Receives background errors (heartbeat, epoch check, connection errors). Default: ignored. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** Counters of what the bus saw; for tests and metrics. */
export interface RedisBusStats {
  /** Invalidation frames from other publishers handed to the subscribers. */
  delivered: number;
  /** Frames on the channel that could not be decoded (garbage, another application's messages). */
  ignored: number;
  /** Sequence gaps noticed. */
  gaps: number;
  /** Times the epoch key was found missing or changed (FLUSHALL, server replaced). */
  flushes: number;
  /** Times the bus's own heartbeats stopped arriving. */
  heartbeatLosses: number;
  /** Other publishers that fell silent without a goodbye (crashed, or their publishes failed): L1 was cleared. */
  silentPublishers: number;
  /** Times `onState('disconnected')` fired. */
  disconnects: number;
}

type MessageHandler = (message: InvalidationMessage) => void;
type StateHandler = (state: BusState) => void;

/**
 * PUBLISH through a script keyed on the epoch key: a Cluster client sends a keyless PUBLISH to any
 * node, so two publishes of one bus could take different nodes and arrive out of order. Keyed, they
 * all go to the node serving the epoch key's slot, in order (until that slot moves: then receivers
 * may see a gap and clear their L1, which is safe).
 */
const CLUSTER_PUBLISH = "return redis.call('PUBLISH', ARGV[1], ARGV[2])";

const DOWN_STATUSES = new Set(['reconnecting', 'close', 'end', 'disconnecting']);

/** Creates a Redis pub/sub invalidation bus; see `RedisBusOptions`. */
export function redisBus(options: RedisBusOptions): RedisBus {
  return new RedisBus(options);
}

function positiveInt(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`redisBus ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** The options for a connection the bus opens (replies in the legacy mapping, which the bus reads). */
function connectionOptions(options: RedisOptions | undefined): RedisOptions & { replyMapping?: 'legacy' } {
  const { replyMapping: _ignored, ...rest } = options ?? {};
  return rest;
}

function isCluster(client: RedisBusClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** The Redis pub/sub `InvalidationBus`. */
export class RedisBus implements InvalidationBus {
  /** This bus instance's random publisher id (in every frame it sends). */
  readonly id: string;
  /** The pub/sub channel. */
  readonly channel: string;
  /** The epoch key. */
  readonly epochKey: string;
  /** What the bus saw. */
  readonly stats: RedisBusStats = {
    delivered: 0,
    ignored: 0,
    gaps: 0,
    flushes: 0,
    heartbeatLosses: 0,
    silentPublishers: 0,
    disconnects: 0,
  };

  readonly #publisher: RedisBusClient;
  readonly #ownsPublisher: boolean;
  readonly #subscriber: RedisBusClient;
  readonly #heartbeatMs: number;
  readonly #missedHeartbeats: number;
  readonly #timeoutMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onMessage = new Set<MessageHandler>();
  readonly #onState = new Set<StateHandler>();
  /** Last sequence number and when it was seen, per publisher, on the current subscription. */
  readonly #seen: BusSequences;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #detach: () => void;
  #seq = 0;
  /** SUBSCRIBE is confirmed on the current subscriber connection. */
  #subscribed = false;
  #connected = false;
  #closed = false;
  /** Bumped whenever the subscription is lost: work begun in an earlier session is stale. */
  #session = 0;
  /** The epoch value last seen; undefined until the first successful check. */
  #epoch: string | undefined;
  /** When the bus last heard its own frame (or confirmed its subscription). */
  #lastHeard = 0;
  /** When the heartbeat timer last ran. */
  #lastTick = performance.now();
  #ticking = false;

  constructor(options: RedisBusOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('redisBus needs options: { client } or { url } or { redis }');
    }
    const namespace = options.namespace ?? 'wt:';
    this.channel = options.channel ?? `${namespace}bus`;
    this.epochKey = options.epochKey ?? `${this.channel}:epoch`;
    if (typeof this.channel !== 'string' || this.channel === '') {
      throw new InvalidArgumentError('redisBus channel must be a non-empty string');
    }
    this.#heartbeatMs = positiveInt('heartbeatMs', options.heartbeatMs, 1_000, 0);
    this.#missedHeartbeats = positiveInt('missedHeartbeats', options.missedHeartbeats, 3, 1);
    this.#timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 1_000, 1);
    this.#onError = options.onError;
    this.id = randomBytes(8).readBigUInt64BE().toString(36);
    this.#seen = new BusSequences(this.id);

    if (options.client !== undefined) {
      this.#publisher = options.client;
      this.#ownsPublisher = false;
    } else if (options.url !== undefined) {
      this.#publisher = new RedisClient(options.url, connectionOptions(options.redis));
      this.#ownsPublisher = true;
    } else if (options.redis !== undefined) {
      this.#publisher = new RedisClient(connectionOptions(options.redis));
      this.#ownsPublisher = true;
    } else {
      throw new InvalidArgumentError('redisBus needs one of client, url or redis');
    }
    if (isCluster(this.#publisher) && this.#heartbeatMs === 0) {
      // ioredis moves a Cluster's subscriber to another node without a close event: only the
      // heartbeats can reveal the frames lost meanwhile.
      throw new InvalidArgumentError(
        'redisBus on a Redis Cluster needs heartbeats: heartbeatMs must not be 0',
      );
    }
    const publisherError = (error: unknown) => this.#report(error);
    if (this.#ownsPublisher) this.#publisher.on('error', publisherError);

    // The subscriber: always a connection of its own, resubscribed by the bus (not by ioredis) so that
    // `connected` turns true only once SUBSCRIBE is confirmed on the new connection.
    const publisher = this.#publisher;
    this.#subscriber = isCluster(publisher)
      ? publisher.duplicate(undefined, { lazyConnect: true })
      : publisher.duplicate({ lazyConnect: true, autoResubscribe: false, enableOfflineQueue: false });
    const sub = this.#subscriber;
    const onReady = () => this.#onReady();
    const onLost = () => this.#lost();
    const onFrame = (channel: string, text: string) => {
      if (channel === this.channel) this.#onFrame(text);
    };
    const onSubError = (error: unknown) => this.#report(error);
    sub.on('ready', onReady);
    sub.on('close', onLost);
    sub.on('end', onLost);
    sub.on('reconnecting', onLost);
    sub.on('message', onFrame);
    sub.on('error', onSubError);
    this.#detach = () => {
      sub.off('ready', onReady);
      sub.off('close', onLost);
      sub.off('end', onLost);
      sub.off('reconnecting', onLost);
      sub.off('message', onFrame);
      if (this.#ownsPublisher) publisher.off('error', publisherError);
      // Errors while closing stay swallowed.
      sub.off('error', onSubError);
      sub.on('error', () => undefined);
      if (this.#ownsPublisher) publisher.on('error', () => undefined);
    };
    sub.connect().catch((error: unknown) => this.#report(error));

    if (this.#heartbeatMs > 0) {
      this.#timer = setInterval(() => this.#tick(), this.#heartbeatMs);
      this.#timer.unref();
    }
  }

  /** True while SUBSCRIBE is confirmed and no loss is suspected; false after `close()`. */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /**
   * Publishes `message` to every other instance. Bounded by `timeoutMs`; rejects at once when
   * the publisher connection is down or the bus is closed, with `InvalidArgumentError` for a message
   * it cannot carry.
   */
  async publish(message: InvalidationMessage): Promise<void> {
    if (this.#closed) {
      throw new WriteThroughError(`redisBus on channel ${JSON.stringify(this.channel)} is closed`, {
        key: message?.key,
      });
    }
    if (message === null || typeof message !== 'object') {
      throw new InvalidArgumentError(`redisBus.publish needs a message object, got ${String(message)}`);
    }
    // Validated before a sequence number is spent: an invalid message never reaches Redis.
    encodeBusMessage(this.id, 1, message);
    const seq = ++this.#seq;
    await this.#send(encodeBusMessage(this.id, seq, message), message.key);
  }

  subscribe(onMessage: MessageHandler, onState?: StateHandler): () => void {
    if (typeof onMessage !== 'function') {
      throw new InvalidArgumentError('redisBus.subscribe needs a message handler function');
    }
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
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
   * Stops the timers, drops every handler and closes the connections the bus opened (the subscriber
   * always; the publisher when it came from `url`/`options`). Closing twice does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Tell the others this publisher's silence from now on is no loss (best effort, bounded).
    if (this.#seq > 0 && !DOWN_STATUSES.has(this.#publisher.status)) {
      await this.#send(encodeBusGoodbye(this.id, ++this.#seq), undefined).catch(() => undefined);
    }
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    this.#session++;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#onMessage.clear();
    this.#onState.clear();
    this.#detach();
    this.#subscriber.disconnect();
    if (this.#ownsPublisher) {
      const publisher = this.#publisher;
      if (publisher.status === 'ready') {
        await bounded(publisher.quit(), this.#timeoutMs, () => new Error('quit timed out')).catch(
          () => undefined,
        );
      }
      publisher.disconnect();
    }
  }

  // -------------------------------------------------------------------------------------------

  async #send(frame: string, key: string | undefined): Promise<void> {
    const publisher = this.#publisher;
    const status = publisher.status;
    if (DOWN_STATUSES.has(status)) {
      throw new WriteThroughError(
        `redisBus cannot publish on channel ${JSON.stringify(this.channel)}: the publisher connection is down (status ${status})`,
        { key },
      );
    }
    try {
      await bounded(
        isCluster(publisher)
          ? publisher.eval(CLUSTER_PUBLISH, 1, this.epochKey, this.channel, frame)
          : publisher.publish(this.channel, frame),
        this.#timeoutMs,
        () => new Error(`no reply within ${this.#timeoutMs} ms`),
      );
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new WriteThroughError(
        `redisBus publish on channel ${JSON.stringify(this.channel)} failed (${reason}); receivers will see a sequence gap`,
        { key, cause },
      );
    }
  }

  #onReady(): void {
    if (this.#closed) return;
    const session = this.#session;
    const sub = this.#subscriber;
    (async () => {
      await bounded(sub.subscribe(this.channel), this.#timeoutMs * 5, () => new Error('SUBSCRIBE timed out'));
      if (this.#closed || session !== this.#session) return;
      this.#subscribed = true;
      this.#seen.clear();
      this.#lastHeard = performance.now();
      // The epoch seen now is the baseline: anything flushed before this moment was covered by the
      // disconnect (L1 is empty or bypassed until `connected`).
      if (this.#heartbeatMs > 0) await this.#checkEpoch().catch((error) => this.#report(error));
      if (this.#closed || session !== this.#session || this.#connected) return;
      this.#connected = true;
      this.#emitState('connected');
    })().catch((error: unknown) => {
      this.#report(error);
      // The subscription could not be confirmed: recycle the connection and try again.
      if (!this.#closed && session === this.#session) {
        this.#lost();
        this.#subscriber.disconnect(true);
      }
    });
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
    if (this.#closed) return;
    this.#connected = true;
    this.#emitState('connected');
  }

  #onFrame(text: string): void {
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
    for (const handler of [...this.#onMessage]) {
      // Each handler gets its own copy, so one cannot change what the next one sees.
      guarded(() => handler({ ...frame.message }));
    }
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    // A stalled event loop delays this timer and the reading of our own heartbeats alike: after a
    // stall, give the heartbeats already in the socket a fresh interval before judging.
    const stalled = now - this.#lastTick > this.#heartbeatMs * 2;
    this.#lastTick = now;
    if (stalled) this.#lastHeard = Math.max(this.#lastHeard, now);
    // A silently dead subscriber connection, or a server that does not answer: the bus has not
    // heard its own heartbeat for `missedHeartbeats` intervals. It cannot tell whether it still
    // receives the others' messages, so it reports a loss and recycles the subscriber connection.
    if (this.#connected && now - this.#lastHeard > this.#heartbeatMs * this.#missedHeartbeats) {
      this.stats.heartbeatLosses++;
      this.#lost();
      this.#subscriber.disconnect(true);
      return;
    }
    // Another publisher silent for as long (it heartbeats like this bus): it crashed, or its
    // publishes fail. Either way frames of it may be lost that no later frame will reveal as a gap,
    // so clear L1 now and forget it. A publisher that closed said goodbye and was forgotten then.
    // (After a stall of this process, every publisher gets a fresh interval, as above.)
    for (
      let n = this.#seen.sweepSilent(now, this.#heartbeatMs * this.#missedHeartbeats, stalled);
      n > 0;
      n--
    ) {
      this.stats.silentPublishers++;
      this.#pulse();
    }
    if (!this.#subscribed || this.#ticking) return;
    const session = this.#session;
    this.#ticking = true;
    (async () => {
      const seq = ++this.#seq;
      try {
        await this.#send(encodeBusHeartbeat(this.id, seq), undefined);
      } catch (error) {
        this.#report(error);
      }
      const changed = await this.#checkEpoch();
      if (changed && session === this.#session) {
        this.stats.flushes++;
        this.#pulse();
      }
    })()
      .catch((error: unknown) => this.#report(error))
      .finally(() => {
        this.#ticking = false;
      });
  }

  /**
   * Reads the epoch key, setting it first when it is missing. True when the key was missing (the
   * server was flushed or replaced; at connect time the caller ignores it) or holds another value
   * than last time.
   */
  async #checkEpoch(): Promise<boolean> {
    const candidate = randomBytes(12).toString('base64url');
    const results = await bounded(
      this.#publisher.pipeline().set(this.epochKey, candidate, 'NX').get(this.epochKey).exec(),
      this.#timeoutMs,
      () => new Error(`epoch check: no reply within ${this.#timeoutMs} ms`),
    );
    if (results === null) throw new Error('epoch check: the pipeline was discarded');
    const [setResult, getResult] = results;
    if (setResult?.[0] || getResult?.[0]) throw setResult?.[0] ?? getResult?.[0];
    const created = setResult?.[1] === 'OK';
    const value = getResult?.[1];
    if (typeof value !== 'string') throw new Error('epoch check: GET returned no string');
    const known = this.#epoch;
    this.#epoch = value;
    return created || (known !== undefined && value !== known);
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
