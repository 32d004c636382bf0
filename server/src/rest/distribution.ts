import type Router from '@koa/router';
import type { LogicalFileSystem } from '@op-worker/core';
import { queryValidator } from '../http/validate.js';
import { identityOf, type AppState } from '../state.js';
import { fileIdParam } from './files.js';

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/**
 * Register `/data/{id}/distribution` and `/data/{id}/storage_locations`. Each storage
 * of this provider that supports the space is listed; one without bytes of the file
 * has a null location.
 */
export function registerDistributionRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
  router.get('/data/:id/distribution', async (ctx) => {
    noQuery(ctx.query);
    const distribution = await lfs.getDistribution(identityOf(ctx), fileIdParam(ctx));
    const regular = distribution.type !== 'DIR';

    const locationsPerStorage: Record<string, string | null> = {};
    const distributionPerStorage: Record<string, unknown> = {};
    for (const storage of distribution.storages) {
      locationsPerStorage[storage.storageId] = storage.storageFileId;
      const physicalSize = storage.blocks.reduce((sum, [, length]) => sum + length, 0);
      distributionPerStorage[storage.storageId] = regular ? { blocks: storage.blocks, physicalSize } : { physicalSize };
    }
    ctx.body = {
      type: distribution.type,
      distributionPerProvider: {
        [distribution.providerId]: {
          success: true,
          virtualSize: distribution.size,
          ...(regular ? { locationsPerStorage } : {}),
          distributionPerStorage,
        },
      },
    };
  });

  router.get('/data/:id/storage_locations', async (ctx) => {
    noQuery(ctx.query);
    const distribution = await lfs.getDistribution(identityOf(ctx), fileIdParam(ctx));
    const locationsPerStorage = Object.fromEntries(distribution.storages.map((storage) => [storage.storageId, storage.storageFileId]));
    ctx.body = { locationsPerProvider: { [distribution.providerId]: { locationsPerStorage } } };
  });
}
