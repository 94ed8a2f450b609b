import { describe, expect, it } from 'vitest';
import type { BusState, InvalidationMessage } from '../src/contracts.js';
import { InvalidArgumentError, WriteThroughError } from '../src/errors.js';
import { type MemoryBusEndpoint, memoryBus } from '../src/memory-bus.js';

/** Lets every queued microtask (and the ones they queue) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function message(version: number, origin = 'a', key = 'k'): InvalidationMessage {
  return { cache: 'users', key, version, origin };
}

function listen(endpoint: MemoryBusEndpoint) {
  const messages: InvalidationMessage[] = [];
  const states: BusState[] = [];
  const unsubscribe = endpoint.subscribe(
    (m) => messages.push(m),
    (s) => states.push(s),
  );
  return { messages, states, unsubscribe, versions: () => messages.map((m) => m.version) };
}

describe('memoryBus: delivery', () => {
  it('delivers a message to every other endpoint, not to the publisher, with every field intact', async () => {
    const hub = memoryBus();
    const [a, b, c] = [hub.connect('a'), hub.connect('b'), hub.connect('c')];
    const [la, lb, lc] = [listen(a), listen(b), listen(c)];
    const sent: InvalidationMessage = {
      cache: 'c:ünï',
      key: 'k {x}\n',
      version: Number.MAX_SAFE_INTEGER,
      origin: 'a',
    };
    await a.publish(sent);
    await flush();
    expect(la.messages).toEqual([]);
    expect(lb.messages).toEqual([sent]);
    expect(lc.messages).toEqual([sent]);
  });

  it('delivers asynchronously: nothing arrives during publish, everything by the next macrotask', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const lb = listen(hub.connect());
    const pending = a.publish(message(1));
    expect(lb.messages).toEqual([]);
    await pending;
    await flush();
    expect(lb.versions()).toEqual([1]);
  });

  it('keeps publish order per publisher (100 messages, two publishers interleaved)', async () => {
    const hub = memoryBus();
    const [a, b, c] = [hub.connect('a'), hub.connect('b'), hub.connect('c')];
    const lc = listen(c);
    const sends: Promise<void>[] = [];
    for (let i = 1; i <= 100; i++) {
      sends.push(a.publish(message(i, 'a')));
      sends.push(b.publish(message(1000 + i, 'b')));
    }
    await Promise.all(sends);
    await flush();
    const from = (origin: string) => lc.messages.filter((m) => m.origin === origin).map((m) => m.version);
    expect(from('a')).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(from('b')).toEqual(Array.from({ length: 100 }, (_, i) => 1001 + i));
  });

  it('gives each handler its own copy of the message', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    const seen: InvalidationMessage[] = [];
    b.subscribe((m) => {
      (m as { version: number }).version = -1;
      seen.push(m);
    });
    b.subscribe((m) => seen.push(m));
    const sent = message(7);
    await a.publish(sent);
    await flush();
    expect(seen.map((m) => m.version)).toEqual([-1, 7]);
    expect(sent.version).toBe(7);
  });

  it('names endpoints by origin, or generates distinct names', () => {
    const hub = memoryBus();
    expect(hub.connect('instance-1').origin).toBe('instance-1');
    const x = hub.connect();
    const y = hub.connect();
    expect(x.origin).not.toBe(y.origin);
    expect(hub.size).toBe(3);
  });

  it('hubs are independent', async () => {
    const a = memoryBus().connect();
    const lb = listen(memoryBus().connect());
    await a.publish(message(1));
    await flush();
    expect(lb.messages).toEqual([]);
  });
});

describe('memoryBus: subscriptions', () => {
  it('is connected from the start, and unsubscribe stops delivery to that handler only', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    expect(b.connected).toBe(true);
    const first = listen(b);
    const second = listen(b);
    await a.publish(message(1));
    await flush();
    first.unsubscribe();
    await a.publish(message(2));
    await flush();
    expect(first.versions()).toEqual([1]);
    expect(second.versions()).toEqual([1, 2]);
  });

  it('close unsubscribes everything, disconnects, detaches from the hub and refuses publish', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    const lb = listen(b);
    await b.close();
    await b.close();
    expect(b.connected).toBe(false);
    expect(hub.size).toBe(1);
    await a.publish(message(1));
    await flush();
    expect(lb.messages).toEqual([]);
    expect(lb.states).toEqual([]);
    await expect(b.publish(message(2))).rejects.toBeInstanceOf(WriteThroughError);
    b.reconnect();
    expect(b.connected).toBe(false);
  });
});

describe('memoryBus: faults', () => {
  it('disconnect loses the messages published meanwhile and tells onState; reconnect resumes', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    const lb = listen(b);
    await a.publish(message(1));
    await flush();
    b.disconnect();
    b.disconnect();
    expect(b.connected).toBe(false);
    expect(lb.states).toEqual(['disconnected']);
    await a.publish(message(2));
    await flush();
    b.reconnect();
    b.reconnect();
    expect(b.connected).toBe(true);
    expect(lb.states).toEqual(['disconnected', 'connected']);
    await a.publish(message(3));
    await flush();
    expect(lb.versions()).toEqual([1, 3]);
  });

  it('a message in flight when the endpoint disconnects is lost, even if it reconnects at once', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    const lb = listen(b);
    const sending = a.publish(message(1));
    b.disconnect();
    b.reconnect();
    await sending;
    await flush();
    expect(lb.messages).toEqual([]);
    // and one published while disconnected is lost even when it reconnects before delivery
    b.disconnect();
    const lost = a.publish(message(2));
    b.reconnect();
    await lost;
    await flush();
    expect(lb.messages).toEqual([]);
  });

  it('a disconnected endpoint still publishes (only its subscription is lost)', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const lb = listen(hub.connect());
    a.disconnect();
    await a.publish(message(1));
    await flush();
    expect(lb.versions()).toEqual([1]);
  });

  it('dropNext drops the next n deliveries to that endpoint silently, and adds up', async () => {
    const hub = memoryBus();
    const a = hub.connect();
    const b = hub.connect();
    const c = hub.connect();
    const [lb, lc] = [listen(b), listen(c)];
    b.dropNext(2);
    b.dropNext(1);
    b.dropNext(0);
    for (let i = 1; i <= 5; i++) await a.publish(message(i));
    await flush();
    expect(lb.versions()).toEqual([4, 5]);
    expect(lb.states).toEqual([]);
    expect(b.connected).toBe(true);
    expect(lc.versions()).toEqual([1, 2, 3, 4, 5]);
  });

  it('dropNext refuses a count that is not an integer >= 0', () => {
    const b = memoryBus().connect();
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => b.dropNext(n)).toThrow(InvalidArgumentError);
    }
  });

  it('connect refuses an origin that is not a string', () => {
    expect(() => memoryBus().connect(42 as unknown as string)).toThrow(InvalidArgumentError);
  });
});
