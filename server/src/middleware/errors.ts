import type { Middleware } from 'koa';
import { ApiError, toErrorResponse } from '../errors.js';
import type { AppState } from '../state.js';

/**
 * Turn every error thrown below into an Onedata error body. Server faults are logged
 * with the request id; expected failures (4xx) are logged at debug level only.
 * A request that no route matched becomes a 404 error body.
 */
export function errorMiddleware(): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        throw new ApiError(404, 'notFound', `no resource at ${ctx.method} ${ctx.path}`);
      }
    } catch (error) {
      const response = toErrorResponse(error);
      if (response.internal) {
        ctx.state.log.error({ err: error, method: ctx.method, path: ctx.path }, 'request failed');
      } else {
        ctx.state.log.debug({ err: error, status: response.status }, 'request rejected');
      }

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
