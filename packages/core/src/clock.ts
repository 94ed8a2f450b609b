/**
 * A coarse clock for hot paths: `Date.now()` costs 40–90 ns on some virtual machines, more than an
 * L1 hit itself. The time is read once and kept until a 1 ms timer clears it (the timer runs only
 * while the clock is being read, so an idle process has no wake-ups). Within one synchronous burst
 * the time does not move, which is what a TTL check needs.
 */
let cached = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

function expire(): void {
  timer = undefined;
}

/** Epoch milliseconds, at most about 1 ms (plus event-loop delay) old. */
export function coarseNow(): number {
  if (timer === undefined) {
    cached = Date.now();
    timer = setTimeout(expire, 1);
    timer.unref?.();
  }
  return cached;
}
