/**
 * `memoryBus`: an in-process `InvalidationBus` hub, for tests and demos. Each `connect()` gives one
 * instance's endpoint; a message published on an endpoint reaches every other connected endpoint on
 * the microtask queue, in publish order. An endpoint can lose its subscription (`disconnect`) or
 * silently miss deliveries (`dropNext`): the faults the L1 tier must survive.
 */

import type { BusState, InvalidationBus, InvalidationMessage } from './contracts.js';
import { InvalidArgumentError, WriteThroughError } from './errors.js';

/** One instance's endpoint on a `memoryBus` hub: an `InvalidationBus` with fault switches. */
export interface MemoryBusEndpoint extends InvalidationBus {
  /** This endpoint's name: the `origin` given to `connect`, or a generated one. */
  readonly origin: string;
  /**
   * Simulates a lost subscription: `connected` turns false, `onState('disconnected')` fires, and
   * every message published until `reconnect()` is lost for this endpoint (also one already published
   * but not yet delivered). Publishing from it still works. Does nothing when already disconnected.
   */
  disconnect(): void;
  /**
   * Restores the subscription: `connected` turns true and `onState('connected')` fires. Lost messages stay
   * lost.
   */
  reconnect(): void;
  /**
   * Silently drops the next `n` deliveries to this endpoint (added to the drops still pending): an unnoticed
   * loss.
   */
  dropNext(n: number): void;
  /** Unsubscribes every handler and leaves the hub; `publish` then rejects. Closing twice does nothing. */
  close(): Promise<void>;
}

/** An in-process hub; every endpoint connected to it hears the others. */
export interface MemoryBusHub {
  /** Connects a new endpoint named `origin` (default: a generated unique name). */
  connect(origin?: string): MemoryBusEndpoint;
  /** The number of endpoints connected to the hub and not closed (disconnected ones included). */
  readonly size: number;
}

type MessageHandler = (message: InvalidationMessage) => void;
type StateHandler = (state: BusState) => void;

/** Creates an in-process bus hub; `hub.connect()` gives each instance its endpoint. */
export function memoryBus(): MemoryBusHub {
  const endpoints = new Set<Endpoint>();
  let generated = 0;
  const deliver = (from: Endpoint, message: InvalidationMessage): void => {
    // Recipients are fixed at publish time: an endpoint disconnected now misses the message even
    // if it reconnects before the microtask runs; one that disconnects before then misses it too.
    const recipients = [...endpoints]
      .filter((endpoint) => endpoint !== from && endpoint.connected)
      .map((endpoint) => ({ endpoint, session: endpoint.session }));
    queueMicrotask(() => {
      for (const { endpoint, session } of recipients) endpoint.receive(message, session);
    });
  };
  return {
    connect(origin?: string): MemoryBusEndpoint {
      if (origin !== undefined && typeof origin !== 'string') {
        throw new InvalidArgumentError(`origin must be a string, got ${typeof origin}`);
      }
      const endpoint = new Endpoint(origin ?? `memory-bus-${++generated}`, deliver, () =>
        endpoints.delete(endpoint),
      );
      endpoints.add(endpoint);
      return endpoint;
    },
    get size(): number {
      return endpoints.size;
    },
  };
}

class Endpoint implements MemoryBusEndpoint {
  readonly origin: string;
  readonly #publish: (from: Endpoint, message: InvalidationMessage) => void;
  readonly #detach: () => void;
  readonly #onMessage = new Set<MessageHandler>();
  readonly #onState = new Set<StateHandler>();
  #connected = true;
  #closed = false;
  #drops = 0;
  /** Counts disconnections: a delivery addressed to an earlier session is lost. */
  #session = 0;

  constructor(
    origin: string,
    publish: (from: Endpoint, message: InvalidationMessage) => void,
    detach: () => void,
  ) {
    this.origin = origin;
    this.#publish = publish;
    this.#detach = detach;
  }

  /** The current subscription session (bumped by each disconnect). */
  get session(): number {
    return this.#session;
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  async publish(message: InvalidationMessage): Promise<void> {
    if (this.#closed) {
      throw new WriteThroughError(
        `memoryBus endpoint ${JSON.stringify(this.origin)} is closed; connect a new one`,
        {
          key: message.key,
        },
      );
    }
    this.#publish(this, { ...message });
  }

  subscribe(onMessage: MessageHandler, onState?: StateHandler): () => void {
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
    const messageHandler: MessageHandler = (message) => onMessage(message);
    const stateHandler: StateHandler | undefined = onState && ((state) => onState(state));
    this.#onMessage.add(messageHandler);
    if (stateHandler) this.#onState.add(stateHandler);
    return () => {
      this.#onMessage.delete(messageHandler);
      if (stateHandler) this.#onState.delete(stateHandler);
    };
  }

  disconnect(): void {
    if (this.#closed || !this.#connected) return;
    this.#connected = false;
    this.#session++;
    this.#emitState('disconnected');
  }

  reconnect(): void {
    if (this.#closed || this.#connected) return;
    this.#connected = true;
    this.#emitState('connected');
  }

  dropNext(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new InvalidArgumentError(`dropNext needs an integer >= 0, got ${String(n)}`);
    }
    this.#drops += n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onMessage.clear();
    this.#onState.clear();
    this.#detach();
  }

  /** One delivery from the hub. */
  receive(message: InvalidationMessage, session: number): void {
    if (!this.connected || session !== this.#session) return;
    if (this.#drops > 0) {
      this.#drops--;
      return;
    }
    for (const handler of [...this.#onMessage]) {
      // Each handler gets its own copy, so one cannot change what the next one sees.
      guarded(() => handler({ ...message }));
    }
  }

  #emitState(state: BusState): void {
    for (const handler of [...this.#onState]) guarded(() => handler(state));
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
