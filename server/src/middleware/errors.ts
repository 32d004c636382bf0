import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { ApiError, toErrorResponse, type ErrorResponse } from '../errors.js';
import type { AppState } from '../state.js';

/** Length of the window over which repeated 503 failures are counted into one log line, in milliseconds. */
const OUTAGE_LOG_WINDOW_MS = 10_000;

/**
 * Turn every error thrown below into an Onedata error body. Server faults are logged
 * with the request id. Expected failures (4xx) are logged at debug level only, and a 501
 * (a feature this worker does not have) at info level without a stack.
 * A request that no route matched becomes a 404 error body.
 *
 * A 503 means a dependency (the metadata store, a storage) is down, and during an
 * outage every request fails the same way. So only the first such failure in a window
 * is logged with its stack, and the rest are counted into one line at the window's end.
 */
export function errorMiddleware(outages = new OutageLog()): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        throw new ApiError(404, 'notFound', `no resource at ${ctx.method} ${ctx.path}`);
      }
    } catch (error) {
      const response = toErrorResponse(error);
      logFailure(ctx.state.log, error, response, ctx.method, ctx.path, outages);

      if (ctx.headerSent || !ctx.writable) {
        ctx.req.destroy();
        return;
      }
      ctx.remove('Content-Range');
      ctx.remove('Content-Disposition');
      ctx.set(response.headers);
      ctx.status = response.status;
      ctx.body = response.body;
    }
  };
}

function logFailure(log: Logger, error: unknown, response: ErrorResponse, method: string, path: string, outages: OutageLog): void {
  if (!response.internal) {
    log.debug({ err: error, status: response.status }, 'request rejected');
    return;
  }
  // A 501 responds to a request for a feature this worker does not have. That is the client's choice, not a fault.
  if (response.status === 501) {
    log.info({ errorId: response.body.error.id, description: response.body.error.description, method, path }, 'request for a feature that is not implemented');
    return;
  }

  if (response.status === 503 && !outages.first(response.body.error.id, log)) return;
  log.error({ err: error, method, path }, 'request failed');
}

/**
 * Counter of 503 failures per error id. `first` returns true for the first failure of a
 * window, which the caller logs in full. The others are counted, and the count is
 * logged once when the window closes.
 */
export class OutageLog {
  private readonly windows = new Map<string, { repeated: number; log: Logger }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly windowMs = OUTAGE_LOG_WINDOW_MS) {}

  first(errorId: string, log: Logger): boolean {
    const window = this.windows.get(errorId);
    if (window !== undefined) {
      window.repeated += 1;
      return false;
    }

    this.windows.set(errorId, { repeated: 0, log });
    this.timer ??= setTimeout(() => this.flush(), this.windowMs).unref();
    return true;
  }

  /** Log the counts of the current window and start a new one. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [errorId, window] of this.windows) {
      if (window.repeated > 0) {
        window.log.error({ errorId, count: window.repeated, windowMs: this.windowMs }, 'more requests failed the same way; only the first was logged in full');
      }
    }
    this.windows.clear();
  }
}
