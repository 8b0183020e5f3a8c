/**
 * Open-loop schedule: call i is intended to start at `start + i / rate`, whatever happened to earlier calls. Its
 * latency is measured from that intended time, so a stall of the system under test (or of the generator) shows in
 * the figures instead of silently slowing the arrival rate down (coordinated omission).
 *
 * Pure arithmetic on milliseconds (performance.now() clock); the runner asks it what is due.
 */
export class OpenLoopSchedule {
  readonly intervalMs: number;
  /** How many calls the run intends to make. */
  readonly total: number;
  /** Unsent calls are dropped once the clock passes this (Infinity in a `--count` run: every call is made). */
  readonly dropAfter: number;

  constructor(
    readonly rate: number,
    readonly start: number,
    limit: { readonly count: number } | { readonly durationMs: number },
    /** A send this much after its intended time counts as late. */
    readonly lateThresholdMs = 5,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`rate must be a positive number, got ${rate}`);
    this.intervalMs = 1000 / rate;
    if ("count" in limit) {
      this.total = limit.count;
      this.dropAfter = Number.POSITIVE_INFINITY;
    } else {
      // Calls at start + i/rate for every i with i/rate < duration (the epsilon absorbs float error).
      this.total = Math.max(0, Math.ceil((rate * limit.durationMs) / 1000 - 1e-9));
      this.dropAfter = start + limit.durationMs + lateThresholdMs;
    }
  }

  /** Intended start of call i. */
  intendedAt(i: number): number {
    return this.start + (i * 1000) / this.rate;
  }

  /** Number of calls whose intended time is at or before `now` (never more than total). */
  dueBy(now: number): number {
    if (now < this.start) return 0;
    return Math.min(this.total, Math.floor(((now - this.start) * this.rate) / 1000 + 1e-9) + 1);
  }

  /** Milliseconds from `now` until call i is due (0 when it is already due). */
  delayUntil(i: number, now: number): number {
    return Math.max(0, this.intendedAt(i) - now);
  }

  /** Whether a call intended at `intended` and sent at `sentAt` counts as late. */
  isLate(intended: number, sentAt: number): boolean {
    return sentAt - intended > this.lateThresholdMs;
  }

  /** Whether calls not yet sent at `now` must be dropped (duration runs only). */
  shouldDrop(now: number): boolean {
    return now > this.dropAfter;
  }
}
