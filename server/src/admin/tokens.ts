import type Router from '@koa/router';
import { MAX_TOKEN_TTL_SECONDS, type SigningKeyInfo, type TokenService, type UserService } from '@op-worker/core';
import { caveatsFromRequest, type SpaceLookup } from '../caveat-requests.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator } from '../http/validate.js';
import type { AppState } from '../state.js';

/** Services behind the token routes, the same ones `op-worker token ...` uses. */
export interface TokenRouteDependencies {
  users: UserService;
  tokens: TokenService;
  /** Turns space names in `data.path` caveats into space ids. */
  spaces: SpaceLookup;
}

interface CreateTokenRequest {
  /** Lifetime in seconds; the token service's default when absent. */
  ttl?: number;
  /** CLI text forms or caveat objects; `caveatsFromRequest` checks each one. */
  caveats?: unknown[];
}

/**
 * Body of `POST /provider/users/{user}/tokens`. The schema checks the shape; the caveats'
 * contents (CIDRs, paths, interface names) are checked by `caveatsFromRequest`, whose
 * errors name the caveat.
 */
export const createTokenBody = bodyValidator<CreateTokenRequest>({
  type: 'object',
  properties: {
    ttl: { type: 'integer', minimum: 1, maximum: MAX_TOKEN_TTL_SECONDS },
    caveats: {
      type: 'array',
      items: {
        anyOf: [
          { type: 'string', minLength: 1 },
          { type: 'object', properties: { type: { type: 'string', minLength: 1 } }, required: ['type'] },
        ],
      },
    },
  },
  additionalProperties: false,
});

/**
 * Register the routes that issue and revoke access tokens and rotate, list and retire
 * signing keys. They run behind the admin router's administrator check. Responses carry
 * a token only when one is issued, and never a signing key.
 */
export function registerTokenRoutes(router: Router<AppState>, deps: TokenRouteDependencies): void {
  router.post('/provider/users/:id/tokens', async (ctx) => {
    const body = createTokenBody((await readJsonBody(ctx.req)) ?? {});
    const user = await deps.users.resolve(ctx.params['id'] ?? '');
    const caveats = await caveatsFromRequest(body.caveats ?? [], deps.spaces);

    const issued = await deps.tokens.create(user.id, { ttlSeconds: body.ttl, caveats });

    // The token is a secret: only its id is logged.
    ctx.state.log.info({ userId: user.id, tokenId: issued.tokenId, caveats: caveats.map((caveat) => caveat.type), expiresAt: issued.expiresAt }, 'token issued through the admin API');
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      token: issued.token,
      tokenId: issued.tokenId,
      userId: issued.userId,
      issuedAt: issued.issuedAt,
      expiresAt: issued.expiresAt,
      caveats: issued.caveats,
    };
  });

  // Only revocations are stored, not the tokens, so an id that was never issued cannot be
  // distinguished from one that was. Revoking is 204 for any well-formed id, and repeatable.
  router.delete('/provider/tokens/:tokenId', async (ctx) => {
    const tokenId = ctx.params['tokenId'] ?? '';
    await deps.tokens.revoke(tokenId);
    ctx.state.log.info({ tokenId }, 'token revoked through the admin API');
    ctx.status = 204;
  });

  router.get('/provider/token-keys', async (ctx) => {
    ctx.body = { keys: (await deps.tokens.listSigningKeys()).map(keyInfo) };
  });

  router.post('/provider/token-keys/rotate', async (ctx) => {
    const key = await deps.tokens.rotateSigningKey();
    ctx.state.log.info({ keyId: key.keyId }, 'token signing key rotated through the admin API');
    ctx.status = 201;
    ctx.body = keyInfo(key);
  });

  router.delete('/provider/token-keys/:keyId', async (ctx) => {
    const keyId = ctx.params['keyId'] ?? '';
    await deps.tokens.retireSigningKey(keyId);
    ctx.state.log.info({ keyId }, 'token signing key retired through the admin API');
    ctx.status = 204;
  });
}

/** Copy the listed fields of a signing key one by one, so that key material cannot reach a response. */
function keyInfo(key: SigningKeyInfo): SigningKeyInfo {
  return { keyId: key.keyId, created: key.created, current: key.current };
}
