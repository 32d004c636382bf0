import type Router from '@koa/router';
import { decodeFileId, OpError, type ShareInfo, type ShareService } from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { REST_PREFIX } from './files.js';

interface CreateShareBody {
  name: string;
  description?: string;
  rootFileId?: string;
  /** Deprecated name of `rootFileId`. */
  fileId?: string;
}

export const createShareBody = bodyValidator<CreateShareBody>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    rootFileId: { type: 'string', minLength: 1 },
    fileId: { type: 'string', minLength: 1 },
  },
  required: ['name'],
  additionalProperties: false,
});

export const updateShareBody = bodyValidator<{ name?: string; description?: string }>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
  },
  minProperties: 1,
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/** `/data/<id>` and everything below it, where `<id>` may be share-scoped. */
const DATA_ID_PATTERN = new RegExp(`^${REST_PREFIX}/data/([0-9A-Fa-f]+)(?:/|$)`);

/**
 * Tell whether a request addresses a file by a share-scoped id. Such requests may come
 * without a token: they run as the guest, whom the file system lets read shared files only.
 */
export function isShareScopedRequest(ctx: AppContext): boolean {
  const match = DATA_ID_PATTERN.exec(ctx.path);
  if (!match?.[1]) return false;
  try {
    return decodeFileId(match[1]).shareId !== undefined;
  } catch {
    return false;
  }
}

/**
 * Register `POST /shares` and `GET|PATCH|DELETE /shares/{shid}`. The share service
 * checks privileges: creating, renaming and removing a share needs
 * `space_manage_shares`, reading one needs membership only.
 */
export function registerShareRoutes(router: Router<AppState>, shares: ShareService): void {
  router.post('/shares', async (ctx) => {
    noQuery(ctx.query);
    const body = createShareBody(await readJsonBody(ctx.req));
    const rootFileId = body.rootFileId ?? body.fileId;
    if (rootFileId === undefined) throw new OpError('missingValue', 'missing body field "rootFileId"', { key: 'rootFileId' });

    const share = await shares.create(identityOf(ctx), { name: body.name, description: body.description, rootFileId });
    ctx.status = 201;
    ctx.set('Location', `${origin(ctx)}${REST_PREFIX}/shares/${share.shareId}`);
    ctx.body = { shareId: share.shareId };
  });

  router.get('/shares/:shid', async (ctx) => {
    noQuery(ctx.query);
    ctx.body = toRestShare(ctx, await shares.get(identityOf(ctx), ctx.params['shid'] ?? ''));
  });

  router.patch('/shares/:shid', async (ctx) => {
    noQuery(ctx.query);
    const body = updateShareBody(await readJsonBody(ctx.req));
    await shares.update(identityOf(ctx), ctx.params['shid'] ?? '', body);
    ctx.status = 204;
  });

  router.delete('/shares/:shid', async (ctx) => {
    noQuery(ctx.query);
    await shares.remove(identityOf(ctx), ctx.params['shid'] ?? '');
    ctx.status = 204;
  });
}

/**
 * Map a share to Onedata's `Share` model. Without a Onezone there is no share page, so
 * `publicUrl` is the tokenless download URL of the shared file (a TAR for a directory).
 * No handle (DOI or PID) service exists, so `handleId` is null.
 */
function toRestShare(ctx: AppContext, share: ShareInfo): Record<string, unknown> {
  return {
    shareId: share.shareId,
    name: share.name,
    description: share.description,
    publicUrl: `${origin(ctx)}${REST_PREFIX}/data/${share.rootFileId}/content`,
    spaceId: share.spaceId,
    rootFileId: share.rootFileId,
    rootFileType: share.rootFileType,
    handleId: null,
  };
}

function origin(ctx: AppContext): string {
  return `${ctx.protocol}://${ctx.host}`;
}
