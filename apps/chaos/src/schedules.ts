/**
 * The named schedules: which faults a run injects, in which order, on which instance, for how
 * long. Everything is drawn from the run's seed, so a run's fault sequence replays from it.
 */
import type { Rng } from '@writethrough/testing/tools';
import { allFaultKinds } from './faults.js';

/** One fault of a schedule: its kind, the instance it targets, how long it holds, the calm after it. */
export interface Step {
  readonly kind: string;
  readonly instance: number;
  readonly holdMs: number;
  readonly gapMs: number;
}

/** A schedule, ready to run. */
export interface Schedule {
  readonly name: string;
  /** Load without faults before the first fault. */
  readonly warmupMs: number;
  /** The next fault, or undefined when the fault phase is over (`elapsedMs` since it began). */
  next(rng: Rng, elapsedMs: number): Step | undefined;
  /** Load without faults after the heal, before the clients stop. */
  readonly recoveryMs: number;
}

/** The schedule names `pnpm chaos --schedule` accepts. */
export const SCHEDULES = ['calm', 'ci', 'soak'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

function between(rng: Rng, lo: number, hi: number): number {
  return Math.round(lo + rng.nextDouble() * (hi - lo));
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextDouble() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Builds a schedule: `calm` runs load only for `seconds`; `ci` every fault kind once; `soak` random faults for `minutes`. */
export function buildSchedule(
  name: ScheduleName,
  options: { instances: number; seconds?: number; minutes?: number },
): Schedule {
  switch (name) {
    case 'calm': {
      const ms = (options.seconds ?? 20) * 1_000;
      return { name, warmupMs: ms, next: () => undefined, recoveryMs: 0 };
    }
    case 'ci': {
      let order: string[] | undefined;
      let index = 0;
      return {
        name,
        warmupMs: 3_000,
        recoveryMs: 2_000,
        next(rng) {
          order ??= shuffled(rng, allFaultKinds());
          const kind = order[index++];
          if (kind === undefined) return undefined;
          return {
            kind,
            instance: Math.floor(rng.nextDouble() * options.instances),
            holdMs: between(rng, 1_500, 2_500),
            gapMs: between(rng, 600, 1_200),
          };
        },
      };
    }
    case 'soak': {
      const ms = (options.minutes ?? 10) * 60_000;
      const kinds = allFaultKinds();
      return {
        name,
        warmupMs: 5_000,
        recoveryMs: 3_000,
        next(rng, elapsedMs) {
          if (elapsedMs >= ms) return undefined;
          return {
            kind: kinds[Math.floor(rng.nextDouble() * kinds.length)]!,
            instance: Math.floor(rng.nextDouble() * options.instances),
            holdMs: between(rng, 1_000, 4_000),
            gapMs: between(rng, 1_000, 3_000),
          };
        },
      };
    }
  }
}
