import type { Identity } from '@op-worker/core';
import type { RouterContext } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { Logger } from 'pino';

/** Per-request state that the middleware chain fills in. */
export interface AppState {
  /** Id of this request, echoed in the `X-Request-Id` response header and in every log line. */
  requestId: string;
  /** Logger bound to this request's id. */
  log: Logger;
  /** Set by the authentication middleware; absent on public routes. */
  identity?: Identity;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppRouterContext = RouterContext<AppState>;

/** Return the authenticated caller; throws when a route lacks the authentication middleware. */
export function identityOf(ctx: AppContext): Identity {
  const identity = ctx.state.identity;
  if (identity === undefined) throw new Error(`route ${ctx.method} ${ctx.path} runs without authentication`);
  return identity;
}
