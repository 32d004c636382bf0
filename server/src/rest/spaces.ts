import type Router from '@koa/router';
import type { LogicalFileSystem, SpaceInfo } from '@op-worker/core';
import type { ProviderInfo } from '../provider.js';
import { identityOf, type AppState } from '../state.js';

/** Register `GET /spaces` and `GET /spaces/{sid}`. */
export function registerSpaceRoutes(router: Router<AppState>, lfs: LogicalFileSystem, provider: ProviderInfo): void {
  router.get('/spaces', async (ctx) => {
    const spaces = await lfs.listSpaces(identityOf(ctx));
    ctx.body = spaces.map((space) => ({ spaceId: space.spaceId, name: space.name }));
  });

  router.get('/spaces/:sid', async (ctx) => {
    const who = identityOf(ctx);
    const space = await lfs.getSpace(who, ctx.params['sid'] ?? '');
    ctx.body = { ...toRestSpace(space, provider), trashDirId: await lfs.getTrashDirId(who, space.spaceId) };
  });
}

/** Map a space to Onedata's `Space` model, where `fileId` is the deprecated alias of `dirId`. */
export function toRestSpace(space: SpaceInfo, provider: ProviderInfo): Record<string, unknown> {
  return {
    spaceId: space.spaceId,
    name: space.name,
    dirId: space.dirId,
    fileId: space.dirId,
    providers: [{ providerId: provider.providerId, providerName: provider.name }],
  };
}
