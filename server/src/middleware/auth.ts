import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import {
  checkRequestCaveats,
  GUEST_IDENTITY,
  hasDataCaveats,
  OpError,
  type ClientInterface,
  type TokenService,
  type UserRecord,
  type UserService,
} from '@op-worker/core';
import type { AppContext, AppState } from '../state.js';

export interface AuthDependencies {
  tokens: TokenService;
  users: UserService;
  /** Tell whether a request without a token may go on as the guest identity (share-scoped file ids). */
  allowGuest?: (ctx: AppContext) => boolean;
  /** Where rejected tokens are counted; by default one log per `TokenService`, shared by every middleware built on it. */
  failureLog?: AuthFailureLog;
}

/** How long a user record read for a token is reused, in milliseconds; a deleted user is refused within this time. */
export const USER_CACHE_MS = 1000;
/** Default length of the window over which rejected tokens from one address are counted before one log line. */
export const FAILURE_LOG_WINDOW_MS = 10_000;

const ADMIN_API_PREFIX = '/api/v3/onepanel';

/**
 * Require an access token in `X-Auth-Token` or `Authorization: Bearer`, verify it and
 * its request caveats (`ip`, `interface`), and put the caller's identity, with the
 * token's caveats, on `ctx.state.identity`. A missing, invalid, expired or revoked
 * token, one whose caveats this request breaks, or one whose user no longer exists, is
 * 401 `unauthorized`. A request without a token that `allowGuest` accepts goes on as
 * `GUEST_IDENTITY` instead. Tokens with data caveats are refused by the admin API.
 */
export function authMiddleware(deps: AuthDependencies): Middleware<AppState> {
  const failures = deps.failureLog ?? sharedFailureLog(deps.tokens);
  const users = sharedUserCache(deps.users);

  return async (ctx, next) => {
    const token = tokenFromHeaders(ctx.get('X-Auth-Token'), ctx.get('Authorization'));
    if (token === undefined && deps.allowGuest?.(ctx)) {
      ctx.state.identity = GUEST_IDENTITY;
      await next();
      return;
    }
    if (token === undefined) {
      throw new OpError('unauthorized', 'missing access token: send it in the X-Auth-Token or Authorization: Bearer header', {
        authError: 'missingToken',
      });
    }

    let identity: AppState['identity'];
    try {
      identity = await identify(ctx, token, deps.tokens, users);
    } catch (error) {
      if (OpError.is(error) && error.kind === 'unauthorized') failures.record(ctx.ip, String(error.details['authError']), ctx.state.log);
      throw error;
    }
    ctx.state.identity = identity;
    await next();
  };
}

async function identify(ctx: AppContext, token: string, tokens: TokenService, users: UserCache): Promise<AppState['identity']> {
  const claims = await tokens.verify(token);
  checkRequestCaveats(claims.caveats, { ip: ctx.ip, interface: interfaceOf(ctx.path) });
  if (hasDataCaveats(claims.caveats) && ctx.path.startsWith(ADMIN_API_PREFIX)) {
    throw new OpError('unauthorized', 'an access token with data caveats is limited to file operations; the admin API needs a token without them', {
      authError: 'tokenCaveatUnverified',
    });
  }

  const user = await users.find(claims.userId);
  if (user === undefined) {
    throw new OpError('unauthorized', 'the access token belongs to a user that no longer exists', { authError: 'badToken' });
  }
  return {
    userId: user.id,
    isAdmin: user.isAdmin,
    tokenId: claims.tokenId,
    ...(claims.caveats.length > 0 ? { caveats: claims.caveats } : {}),
  };
}

function interfaceOf(path: string): ClientInterface {
  return path === '/cdmi' || path.startsWith('/cdmi/') ? 'cdmi' : 'rest';
}

/**
 * Return the token of `X-Auth-Token` or `Authorization: Bearer`. Both may be sent with
 * the same token, but two different tokens are a 400 `badValue`: picking one silently
 * would run the request as an identity the client may not expect.
 */
function tokenFromHeaders(xAuthToken: string, authorization: string): string | undefined {
  const headerToken = xAuthToken === '' ? undefined : xAuthToken.trim();
  const bearerToken = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (headerToken !== undefined && bearerToken !== undefined && headerToken !== bearerToken) {
    throw OpError.badValue(
      'Authorization',
      'the X-Auth-Token and Authorization: Bearer headers carry different access tokens; send one token in one of them',
    );
  }
  return headerToken ?? bearerToken;
}

/**
 * Counts rejected tokens per client address and logs each address once per window,
 * with the count and the reasons, so a flood of bad tokens costs one warn line rather
 * than one per request. At most `maxAddresses` addresses are tracked per window; the
 * rest are counted under `other`.
 */
export class AuthFailureLog {
  private readonly windows = new Map<string, { count: number; reasons: Record<string, number>; log: Logger }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly windowMs = FAILURE_LOG_WINDOW_MS,
    private readonly maxAddresses = 10_000,
  ) {}

  record(ip: string, reason: string, log: Logger): void {
    const key = this.windows.has(ip) || this.windows.size < this.maxAddresses ? ip : 'other';
    let window = this.windows.get(key);
    if (window === undefined) {
      window = { count: 0, reasons: {}, log };
      this.windows.set(key, window);
    }
    window.count += 1;
    window.reasons[reason] = (window.reasons[reason] ?? 0) + 1;
    this.timer ??= setTimeout(() => this.flush(), this.windowMs).unref();
  }

  /** Log and forget the counts of the current window. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const [ip, window] of this.windows) {
      window.log.warn({ ip, count: window.count, reasons: window.reasons, windowMs: this.windowMs }, 'rejected invalid access tokens');
    }
    this.windows.clear();
  }
}

const failureLogs = new WeakMap<TokenService, AuthFailureLog>();

function sharedFailureLog(tokens: TokenService): AuthFailureLog {
  let log = failureLogs.get(tokens);
  if (log === undefined) {
    log = new AuthFailureLog();
    failureLogs.set(tokens, log);
  }
  return log;
}

/** User records by id, each reused for `USER_CACHE_MS`, so a request with a known token reads nothing from the store. */
class UserCache {
  private readonly entries = new Map<string, { user: UserRecord | undefined; readAt: number }>();

  constructor(private readonly users: UserService) {}

  async find(userId: string): Promise<UserRecord | undefined> {
    const cached = this.entries.get(userId);
    if (cached !== undefined && performance.now() - cached.readAt < USER_CACHE_MS) return cached.user;

    const user = await this.users.find(userId);
    if (this.entries.size >= 10_000) this.entries.clear();
    this.entries.set(userId, { user, readAt: performance.now() });
    return user;
  }
}

const userCaches = new WeakMap<UserService, UserCache>();

function sharedUserCache(users: UserService): UserCache {
  let cache = userCaches.get(users);
  if (cache === undefined) {
    cache = new UserCache(users);
    userCaches.set(users, cache);
  }
  return cache;
}
