import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { AppState } from '../state.js';

/** Client-chosen request ids are kept when they are short and plain, so logs can be joined. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Give every request an id, a logger bound to it and an `X-Request-Id` response header. */
export function requestIdMiddleware(logger: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const offered = ctx.get('X-Request-Id');
    const requestId = CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();

    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    await next();
  };
}
