import { StorageError } from '../errors.js';

/** Exponential backoff between attempts of a call that failed with a temporary error. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds (default 100). */
  initialDelayMs?: number;
  /** Upper bound of any delay, in milliseconds (default 5000). */
  maxDelayMs?: number;
  /** Growth of the delay from one retry to the next (default 2). */
  factor?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  factor: 2,
};

/**
 * Delay before retry number `retry` (1 for the first retry), in milliseconds. The delay
 * grows exponentially up to `maxDelayMs`, and half of it is random ("equal jitter") so
 * that callers failing together do not retry together.
 */
export function backoffDelayMs(retry: number, backoff: Required<BackoffOptions>): number {
  const exponential = backoff.initialDelayMs * backoff.factor ** (retry - 1);
  const capped = Math.min(backoff.maxDelayMs, exponential);
  return capped / 2 + Math.random() * (capped / 2);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Run `call` and reject with a temporary `Unavailable` error when it has not settled
 * after `timeoutMs`. The call itself cannot be cancelled, so `onLateResult` receives a
 * value that arrives after the timeout, for the caller to release (an open stream).
 */
export async function withTimeout<T>(
  call: Promise<T>,
  timeoutMs: number,
  describe: () => string,
  onLateResult?: (value: T) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;

  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new StorageError('Unavailable', `${describe()} timed out after ${timeoutMs} ms`, { retry: 'temporary' }));
    }, timeoutMs);
  });

  call.then(
    (value) => {
      if (timedOut) onLateResult?.(value);
    },
    () => undefined,
  );

  try {
    return await Promise.race([call, expiry]);
  } finally {
    clearTimeout(timer);
  }
}
