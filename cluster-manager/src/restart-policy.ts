/**
 * When to restart a worker that exited or hung: exponential backoff between attempts, and
 * a crash-loop limit after which the slot is given up until an operator acts.
 */
export interface RestartPolicyOptions {
  /** Delay before the first restart after a stable run, in milliseconds. */
  initialDelayMs: number;
  /** Upper bound of the delay, in milliseconds. */
  maxDelayMs: number;
  /** Each further failure in a row multiplies the delay by this factor. */
  factor: number;
  /** A worker that stayed ready this long (ms) resets the backoff. */
  stableAfterMs: number;
  /** More than `maxRestarts` restarts within `windowMs` milliseconds is a crash loop. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  factor: 2,
  stableAfterMs: 60_000,
  maxRestarts: 5,
  windowMs: 60_000,
};

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; reason: string };

/** Restart history of one worker slot. Times are milliseconds since the epoch. */
export class RestartPolicy {
  private failuresInARow = 0;
  private restartTimes: number[] = [];

  constructor(private readonly options: RestartPolicyOptions = DEFAULT_RESTART_POLICY) {
    if (options.initialDelayMs < 0 || options.maxDelayMs < options.initialDelayMs || options.factor < 1) {
      throw new RangeError(`invalid restart policy: need 0 <= initialDelayMs <= maxDelayMs and factor >= 1, got ${JSON.stringify(options)}`);
    }
  }

  /**
   * Decide about a restart after a failure at `nowMs` of a worker that had been ready
   * for `readyForMs` milliseconds (0 when it never became ready).
   */
  onFailure(nowMs: number, readyForMs: number): RestartDecision {
    if (readyForMs >= this.options.stableAfterMs) this.failuresInARow = 0;
    this.restartTimes = this.restartTimes.filter((time) => nowMs - time < this.options.windowMs);

    if (this.restartTimes.length >= this.options.maxRestarts) {
      return { restart: false, reason: `crash loop: ${this.restartTimes.length} restarts within ${this.options.windowMs} ms` };
    }

    const delayMs = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * this.options.factor ** this.failuresInARow);
    this.failuresInARow += 1;
    this.restartTimes.push(nowMs);
    return { restart: true, delayMs };
  }

  /** Forget the history, e.g. when an operator restarts a slot given up as a crash loop. */
  reset(): void {
    this.failuresInARow = 0;
    this.restartTimes = [];
  }
}
