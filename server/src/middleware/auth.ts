import type { Middleware } from 'koa';
import { OpError, type TokenService, type UserService } from '@op-worker/core';
import type { AppState } from '../state.js';

export interface AuthDependencies {
  tokens: TokenService;
  users: UserService;
}

/**
 * Require an access token in `X-Auth-Token` or `Authorization: Bearer`, verify it and
 * put the caller's identity on `ctx.state.identity`. A missing, invalid, expired or
 * revoked token, or one whose user no longer exists, is 401 `unauthorized`.
 */
export function authMiddleware(deps: AuthDependencies): Middleware<AppState> {
  return async (ctx, next) => {
    const token = tokenFromHeaders(ctx.get('X-Auth-Token'), ctx.get('Authorization'));
    if (token === undefined) {
      throw new OpError('unauthorized', 'missing access token: send it in the X-Auth-Token or Authorization: Bearer header', {
        authError: 'missingToken',
      });
    }

    const claims = await deps.tokens.verify(token);
    const user = await deps.users.find(claims.userId);
    if (user === undefined) {
      throw new OpError('unauthorized', 'the access token belongs to a user that no longer exists', { authError: 'badToken' });
    }

    ctx.state.identity = { userId: user.id, isAdmin: user.isAdmin, tokenId: claims.tokenId };
    await next();
  };
}

function tokenFromHeaders(xAuthToken: string, authorization: string): string | undefined {
  if (xAuthToken !== '') return xAuthToken.trim();

  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
