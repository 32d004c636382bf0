import type { Middleware } from 'koa';
import type { AppState } from '../state.js';

/**
 * Log one line per request when its response has been sent or the client went away.
 * The line has the method, path (no query string), status, declared response length, duration in
 * milliseconds and user id. Headers are never logged, so tokens stay out of the log.
 */
export function accessLogMiddleware(): Middleware<AppState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    let logged = false;

    const logOnce = (outcome: 'finished' | 'aborted'): void => {
      if (logged) return;
      logged = true;
      ctx.state.log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          responseLength: ctx.response.length,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
          userId: ctx.state.identity?.userId,
          outcome,
        },
        'request',
      );
    };

    ctx.res.once('finish', () => logOnce('finished'));
    ctx.res.once('close', () => logOnce(ctx.res.writableFinished ? 'finished' : 'aborted'));
    await next();
  };
}
