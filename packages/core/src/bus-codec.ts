/**
 * The wire format of the invalidation buses (`redisBus`, `postgresBus`): one compact text frame per
 * pub/sub message or notification. Exported for bus adapters: the receiving side's gap and silence
 * detection rests on the sequence numbers it carries.
 *
 *   invalidation: `wt1m<publisher>.<seq>.<version>.<cacheLength>.<originLength>.<cache><origin><key>`
 *   heartbeat:    `wt1h<publisher>.<seq>`
 *   goodbye:      `wt1b<publisher>.<seq>` (the publisher closed: its silence from now on is no loss)
 *
 * Numbers are base 36; lengths count UTF-16 code units; the key is the rest of the frame, so it may
 * hold any character (the separators, newlines, unicode) and needs no escaping. `publisher` is the
 * sending bus instance's random id (`[0-9a-z]+`) and `seq` its sequence number, one per frame
 * (heartbeats included), starting at 1: a receiver that sees a publisher's sequence jump knows it
 * lost frames. Strings must be well formed (no lone surrogates): the transports carry UTF-8.
 */

import type { InvalidationMessage } from './contracts.js';
import { InvalidArgumentError } from './errors.js';

/** The prefix (magic and format version) of every frame. */
export const BUS_FRAME_PREFIX = 'wt1';

/** A decoded frame. */
export type BusFrame =
  | {
      readonly kind: 'message';
      readonly publisher: string;
      readonly seq: number;
      readonly message: InvalidationMessage;
    }
  | { readonly kind: 'heartbeat' | 'goodbye'; readonly publisher: string; readonly seq: number };

const ID = /^[0-9a-z]+$/;

function checkId(publisher: string): void {
  if (!ID.test(publisher)) throw new InvalidArgumentError(`a bus publisher id must match [0-9a-z]+`);
}

function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new InvalidArgumentError(`a bus sequence number must be a safe integer >= 1, got ${String(seq)}`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(what: string, text: unknown, key?: string): asserts text is string {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`bus message ${what} must be a string, got ${typeof text}`, { key });
  }
  if (LONE_SURROGATE.test(text)) {
    throw new InvalidArgumentError(`bus message ${what} holds a lone surrogate; the bus carries UTF-8`, {
      key,
    });
  }
}

/** Encodes an invalidation frame. Throws `InvalidArgumentError` on an invalid message. */
export function encodeBusMessage(publisher: string, seq: number, message: InvalidationMessage): string {
  checkId(publisher);
  checkSeq(seq);
  const { cache, key, version, origin } = message;
  checkText('key', key);
  checkText('cache', cache, key);
  checkText('origin', origin, key);
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new InvalidArgumentError(
      `bus message version must be a safe integer >= 0, got ${String(version)}`,
      {
        key,
      },
    );
  }
  return `${BUS_FRAME_PREFIX}m${publisher}.${seq.toString(36)}.${version.toString(36)}.${cache.length.toString(36)}.${origin.length.toString(36)}.${cache}${origin}${key}`;
}

/** Encodes a heartbeat frame. */
export function encodeBusHeartbeat(publisher: string, seq: number): string {
  checkId(publisher);
  checkSeq(seq);
  return `${BUS_FRAME_PREFIX}h${publisher}.${seq.toString(36)}`;
}

/** Encodes a goodbye frame: the publisher closed. */
export function encodeBusGoodbye(publisher: string, seq: number): string {
  checkId(publisher);
  checkSeq(seq);
  return `${BUS_FRAME_PREFIX}b${publisher}.${seq.toString(36)}`;
}

const NUMBER = /^[0-9a-z]{1,11}$/;

/** Parses a base-36 field; undefined when it is not a safe integer. */
function parseNumber(text: string): number | undefined {
  if (!NUMBER.test(text)) return undefined;
  const value = Number.parseInt(text, 36);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Decodes a frame; `undefined` for anything that is not a well-formed frame of this format (garbage or
 * another application's messages on the channel). Never throws.
 */
export function decodeBusFrame(frame: unknown): BusFrame | undefined {
  if (typeof frame !== 'string' || !frame.startsWith(BUS_FRAME_PREFIX)) return undefined;
  const kind = frame[BUS_FRAME_PREFIX.length];
  let at = BUS_FRAME_PREFIX.length + 1;
  const field = (): string | undefined => {
    const end = frame.indexOf('.', at);
    if (end < 0) return undefined;
    const text = frame.slice(at, end);
    at = end + 1;
    return text;
  };
  if (kind === 'h' || kind === 'b') {
    const dot = frame.indexOf('.', at);
    if (dot < 0) return undefined;
    const publisher = frame.slice(at, dot);
    const seq = parseNumber(frame.slice(dot + 1));
    if (!ID.test(publisher) || seq === undefined || seq < 1) return undefined;
    return { kind: kind === 'h' ? 'heartbeat' : 'goodbye', publisher, seq };
  }
  if (kind !== 'm') return undefined;
  const publisher = field();
  const seqText = field();
  const versionText = field();
  const cacheText = field();
  const originText = field();
  if (
    publisher === undefined ||
    seqText === undefined ||
    versionText === undefined ||
    cacheText === undefined ||
    originText === undefined ||
    !ID.test(publisher)
  ) {
    return undefined;
  }
  const seq = parseNumber(seqText);
  const version = parseNumber(versionText);
  const cacheLength = parseNumber(cacheText);
  const originLength = parseNumber(originText);
  if (seq === undefined || seq < 1 || version === undefined || cacheLength === undefined) return undefined;
  if (originLength === undefined || at + cacheLength + originLength > frame.length) return undefined;
  const cache = frame.slice(at, at + cacheLength);
  const origin = frame.slice(at + cacheLength, at + cacheLength + originLength);
  const key = frame.slice(at + cacheLength + originLength);
  return { kind: 'message', publisher, seq, message: { cache, key, version, origin } };
}

/**
 * The receiving side of the frames: each publisher's last sequence number and when it was last
 * heard, on the current subscription. A bus adapter feeds it every decoded frame and sweeps it on
 * its heartbeat timer; it reports what reveals lost frames, the adapter clears L1.
 */
export class BusSequences {
  readonly #seen = new Map<string, { seq: number; at: number }>();

  /** `self`: the receiving bus's own publisher id (its own silence is judged by the bus itself). */
  constructor(readonly self: string) {}

  /**
   * Records `frame`, heard at `now`; true when it reveals lost frames: the publisher's sequence
   * skipped or went back. A goodbye forgets the publisher (its silence from then on is no loss).
   */
  hear(frame: BusFrame, now: number): boolean {
    const last = this.#seen.get(frame.publisher);
    if (frame.kind === 'goodbye') this.#seen.delete(frame.publisher);
    else this.#seen.set(frame.publisher, { seq: frame.seq, at: now });
    return last !== undefined && frame.seq !== last.seq + 1;
  }

  /**
   * Forgets the other publishers not heard from since `now - limitMs` (crashed, or their publishes
   * fail: frames of theirs may be lost that no later frame will reveal) and returns how many. After a
   * stall of this process (`stalled`), every publisher gets a fresh interval instead.
   */
  sweepSilent(now: number, limitMs: number, stalled: boolean): number {
    let silent = 0;
    for (const [publisher, seen] of this.#seen) {
      if (publisher === this.self) continue;
      if (stalled) seen.at = Math.max(seen.at, now);
      else if (seen.at < now - limitMs) {
        this.#seen.delete(publisher);
        silent++;
      }
    }
    return silent;
  }

  /** Forgets every publisher (a new subscription starts from what it hears). */
  clear(): void {
    this.#seen.clear();
  }
}
