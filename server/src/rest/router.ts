import Router from '@koa/router';
import type { LogicalFileSystem, ShareService, StorageImporter } from '@op-worker/core';
import type { QosService, TransferService } from '@op-worker/core';
import type { Middleware } from 'koa';
import { configurationBody, type ProviderInfo } from '../provider.js';
import { wellFormedQueryMiddleware } from '../http/validate.js';
import type { AppState } from '../state.js';
import { REST_PREFIX, registerFileRoutes } from './files.js';
import { registerMetadataRoutes } from './metadata.js';
import { registerSpaceRoutes } from './spaces.js';
import { registerChangesRoutes } from './changes.js';
import { registerDirStatsRoutes } from './dir-stats.js';
import { registerDistributionRoutes } from './distribution.js';
import { registerQosRoutes } from './qos.js';
import { registerTransferRoutes } from './transfers.js';
import { registerShareRoutes } from './shares.js';
import type { SpacePrivilegeCheck } from './privileges.js';
import { registerRegistrationRoute } from './register.js';

export interface RestDependencies {
  lfs: LogicalFileSystem;
  provider: ProviderInfo;
  /** Without it the `/shares` routes are not served. */
  shares?: ShareService;
  /** Without it `POST /data/register` is not served. */
  importer?: StorageImporter;
  /** Authentication that lets requests with share-scoped file ids through as the guest. */
  authenticate: Middleware<AppState>;
  /** Transfers and QoS; without them those routes are not served. */
  dataManagement?: { transfers: TransferService; qos: QosService };
  /** Space privilege checks of the share, transfer and QoS routes; required when those are served. */
  spacePrivileges?: SpacePrivilegeCheck;
}

/** Create the public service routes (`/configuration`, `/health`), which need no token. */
export function createPublicRestRouter(provider: ProviderInfo): Router<AppState> {
  const router = new Router<AppState>({ prefix: REST_PREFIX });
  router.get('/configuration', (ctx) => {
    ctx.body = configurationBody(provider);
  });
  router.get('/health', (ctx) => {
    ctx.body = { status: 'healthy' };
  });
  return router;
}

/**
 * Create the Oneprovider REST routes under `/api/v3/oneprovider`. Every one needs a token,
 * except reads of files through share-scoped ids.
 */
export function createRestRouter(deps: RestDependencies): Router<AppState> {
  const router = new Router<AppState>({ prefix: REST_PREFIX });
  router.use(deps.authenticate);
  router.use(wellFormedQueryMiddleware());

  registerSpaceRoutes(router, deps.lfs, deps.provider);
  if (deps.importer) registerRegistrationRoute(router, deps.importer);
  registerFileRoutes(router, deps.lfs, deps.dataManagement?.qos);
  registerMetadataRoutes(router, deps.lfs);
  registerDistributionRoutes(router, deps.lfs);
  registerDirStatsRoutes(router, deps.lfs);
  registerChangesRoutes(router, deps.lfs);
  if ((deps.dataManagement || deps.shares) && !deps.spacePrivileges) {
    throw new Error('createRestRouter: pass spacePrivileges with shares or dataManagement, so their routes can check space privileges');
  }
  if (deps.dataManagement) {
    registerTransferRoutes(router, deps.dataManagement.transfers, deps.spacePrivileges!);
    registerQosRoutes(router, deps.dataManagement.qos, deps.spacePrivileges!);
  }
  if (deps.shares) registerShareRoutes(router, deps.shares);
  return router;
}
