/**
 * The `InvalidationBus` conformance suite: two endpoints `a` and `b` (two instances), a message
 * published on one reaching the other intact and in order, never acted on by its publisher, and
 * subscriptions that start and stop. Every wait is bounded polling, never a fixed sleep.
 */

import { randomUUID } from 'node:crypto';
import type { BusState, InvalidationBus, InvalidationMessage } from '@writethrough/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './deferred.js';

/** Two endpoints of one bus (two instances) and how to release what the factory opened. */
export interface BusPair {
  /** The first instance's endpoint. */
  readonly a: InvalidationBus;
  /** The second instance's endpoint. */
  readonly b: InvalidationBus;
  /** Releases what the factory opened, after both endpoints were closed. */
  readonly cleanup?: () => Promise<void>;
}

/** What the bus checks need besides the pair; every field is optional. */
export interface BusCheckEnv {
  /**
   * The bus hands a publisher its own messages (with its origin, for the engine to ignore). Default false.
   */
  readonly echoesOwnMessages?: boolean | undefined;
  /** How long, ms, to wait for a delivery or a connection before failing. Default 2_000. */
  readonly timeoutMs?: number | undefined;
}

/** One bus check: resolves when the pair follows the rule, rejects with the failed assertion otherwise. */
export type BusCheck = (pair: BusPair, env?: BusCheckEnv) => Promise<void>;

/** Options of `describeBus`. */
export interface DescribeBusOptions extends BusCheckEnv {}

/**
 * A subscription that records what it receives for this check's cache name only (a shared server may carry
 * others).
 */
class Listener {
  readonly messages: InvalidationMessage[] = [];
  readonly states: BusState[] = [];
  readonly #unsubscribe: () => void;
  #active = true;

  constructor(bus: InvalidationBus, cache: string) {
    this.#unsubscribe = bus.subscribe(
      (message) => {
        if (message.cache === cache) this.messages.push(message);
      },
      (state) => this.states.push(state),
    );
  }

  unsubscribe(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#unsubscribe();
  }
}

/** One check's cache name, origins and listeners; `done()` unsubscribes them all. */
class Scene {
  readonly cache = `wt-bus-${randomUUID()}`;
  readonly originA = `a-${randomUUID().slice(0, 8)}`;
  readonly originB = `b-${randomUUID().slice(0, 8)}`;
  readonly timeoutMs: number;
  readonly #listeners: Listener[] = [];

  constructor(env: BusCheckEnv = {}) {
    this.timeoutMs = env.timeoutMs ?? 2_000;
  }

  listen(bus: InvalidationBus): Listener {
    const listener = new Listener(bus, this.cache);
    this.#listeners.push(listener);
    return listener;
  }

  message(key: string, version: number, origin: string): InvalidationMessage {
    return { cache: this.cache, key, version, origin };
  }

  async ready(bus: InvalidationBus, what: string): Promise<void> {
    await waitFor(() => bus.connected, {
      timeoutMs: this.timeoutMs,
      what: `${what}.connected after subscribe`,
    });
  }

  async until(condition: () => boolean, what: string): Promise<void> {
    await waitFor(condition, { timeoutMs: this.timeoutMs, what });
  }

  done(): void {
    for (const listener of this.#listeners) listener.unsubscribe();
  }
}

/** Runs `body` with a fresh scene and unsubscribes its listeners afterwards. */
async function scene(env: BusCheckEnv | undefined, body: (s: Scene) => Promise<void>): Promise<void> {
  const s = new Scene(env);
  try {
    await body(s);
  } finally {
    s.done();
  }
}

/** A check's test title. */
interface CheckSpec {
  readonly title: string;
  readonly run: BusCheck;
}

const specs = {
  connectedAfterSubscribe: {
    title: 'connected is true (within the bounded wait) once subscribed',
    run: (pair, env) =>
      scene(env, async (s) => {
        s.listen(pair.a);
        s.listen(pair.b);
        await s.ready(pair.a, 'a');
        await s.ready(pair.b, 'b');
        expect([pair.a.connected, pair.b.connected], 'connected').toEqual([true, true]);
      }),
  },
  deliversIntact: {
    title: 'a message published on a reaches b with every field intact (clear-all, unicode, large versions)',
    run: (pair, env) =>
      scene(env, async (s) => {
        const received = s.listen(pair.b);
        s.listen(pair.a);
        await s.ready(pair.a, 'a');
        await s.ready(pair.b, 'b');
        const sent = [
          s.message('user:1', 1, s.originA),
          s.message('ключ {鍵}\n🔑 "quoted" \\', Number.MAX_SAFE_INTEGER, s.originA),
          s.message('', 0, s.originA),
        ];
        for (const message of sent) await pair.a.publish(message);
        await s.until(() => received.messages.length >= sent.length, `b to receive ${sent.length} messages`);
        expect(received.messages, 'what b received').toEqual(sent);
      }),
  },
  notDeliveredToPublisher: {
    title: 'the publisher does not receive its own message (or, if the bus echoes, gets it back intact)',
    run: (pair, env) =>
      scene(env, async (s) => {
        const atA = s.listen(pair.a);
        const atB = s.listen(pair.b);
        await s.ready(pair.a, 'a');
        await s.ready(pair.b, 'b');
        const own = s.message('k', 1, s.originA);
        const sentinel = s.message('sentinel', 2, s.originB);
        await pair.a.publish(own);
        await pair.b.publish(sentinel);
        // b's sentinel was published after a's message: once it reached a, a's own message would have too.
        await s.until(
          () => atB.messages.some((m) => m.key === 'k') && atA.messages.some((m) => m.key === 'sentinel'),
          'a to receive b’s sentinel and b to receive a’s message',
        );
        if (env?.echoesOwnMessages) {
          await s.until(() => atA.messages.length >= 2, 'a to receive its own message back');
          expect(
            atA.messages.filter((m) => m.origin === s.originA),
            'a’s echo',
          ).toEqual([own]);
        } else {
          expect(atA.messages, 'what a received').toEqual([sentinel]);
        }
        expect(
          atB.messages.filter((m) => m.origin === s.originB),
          'b’s own messages at b',
        ).toEqual(env?.echoesOwnMessages ? [sentinel] : []);
      }),
  },
  orderPerPublisher: {
    title: '100 messages published back to back on a reach b in publish order',
    run: (pair, env) =>
      scene(env, async (s) => {
        const received = s.listen(pair.b);
        await s.ready(pair.b, 'b');
        const sends: Promise<void>[] = [];
        for (let version = 1; version <= 100; version++)
          sends.push(pair.a.publish(s.message('k', version, s.originA)));
        await Promise.all(sends);
        await s.until(() => received.messages.length >= 100, 'b to receive 100 messages');
        expect(
          received.messages.map((m) => m.version),
          'versions in arrival order',
        ).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      }),
  },
  unsubscribeStopsDelivery: {
    title: 'unsubscribe stops delivery to that handler; another handler keeps receiving',
    run: (pair, env) =>
      scene(env, async (s) => {
        const first = s.listen(pair.b);
        const second = s.listen(pair.b);
        await s.ready(pair.b, 'b');
        const m0 = s.message('k', 1, s.originA);
        await pair.a.publish(m0);
        await s.until(
          () => first.messages.length >= 1 && second.messages.length >= 1,
          'both handlers to receive',
        );
        first.unsubscribe();
        const later = [s.message('k', 2, s.originA), s.message('k', 3, s.originA)];
        for (const message of later) await pair.a.publish(message);
        await s.until(() => second.messages.length >= 3, 'the remaining handler to receive 3');
        expect(first.messages, 'the unsubscribed handler').toEqual([m0]);
        expect(second.messages, 'the remaining handler').toEqual([m0, ...later]);
      }),
  },
  resubscribeReceivesAgain: {
    title: 'after every handler left, a new subscription receives again',
    run: (pair, env) =>
      scene(env, async (s) => {
        const gone = s.listen(pair.b);
        await s.ready(pair.b, 'b');
        gone.unsubscribe();
        const back = s.listen(pair.b);
        await s.ready(pair.b, 'b');
        const message = s.message('k', 7, s.originA);
        await pair.a.publish(message);
        await s.until(() => back.messages.length >= 1, 'the new subscription to receive');
        expect(back.messages, 'the new subscription').toEqual([message]);
        expect(gone.messages, 'the old one').toEqual([]);
      }),
  },
} satisfies Record<string, CheckSpec>;

/** The name of each check in `busChecks`. */
export type BusCheckName = keyof typeof specs;

/** Every bus check as a plain async function, by name: `await busChecks.orderPerPublisher({ a, b })`. */
export const busChecks: { readonly [K in BusCheckName]: BusCheck } = Object.fromEntries(
  Object.entries(specs).map(([name, spec]) => [name, spec.run]),
) as { readonly [K in BusCheckName]: BusCheck };

/**
 * Registers the `InvalidationBus` conformance suite with vitest: one test per check, each on a fresh
 * pair from `factory`; both endpoints are closed and `cleanup` is called after the test.
 */
export function describeBus(
  name: string,
  factory: () => BusPair | Promise<BusPair>,
  options: DescribeBusOptions = {},
): void {
  describe(`InvalidationBus conformance: ${name}`, () => {
    let pair: BusPair | undefined;
    beforeEach(async () => {
      pair = await factory();
    });
    afterEach(async () => {
      const opened = pair;
      pair = undefined;
      if (opened === undefined) return;
      try {
        await opened.a.close?.();
        await opened.b.close?.();
      } finally {
        await opened.cleanup?.();
      }
    });
    for (const [checkName, spec] of Object.entries(specs) as [BusCheckName, CheckSpec][]) {
      it(`${spec.title} [${checkName}]`, async () => {
        if (pair === undefined) throw new Error('the factory did not give a pair');
        await spec.run(pair, options);
      });
    }
  });
}
