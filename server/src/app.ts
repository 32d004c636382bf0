import Router from '@koa/router';
import type { LogicalFileSystem, ShareService, StorageImporter, TokenService, UserService } from '@op-worker/core';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { SpaceCapabilities } from './cdmi/capabilities.js';
import { createAdminRouter, type AdminDependencies } from './admin/router.js';
import { createCdmiRouter } from './cdmi/router.js';
import { accessLogMiddleware } from './middleware/access-log.js';
import { authMiddleware } from './middleware/auth.js';
import { errorMiddleware } from './middleware/errors.js';
import { requestIdMiddleware } from './middleware/request-id.js';
import { configurationBody, type ProviderInfo } from './provider.js';
import { createPublicRestRouter, createRestRouter, type RestDependencies } from './rest/router.js';
import { isShareScopedRequest } from './rest/shares.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi/document.js';
import { OPENAPI_PATH, ROUTE_DOCS } from './openapi/route-docs.js';
import type { AppState } from './state.js';

export interface AppDependencies {
  lfs: LogicalFileSystem;
  users: UserService;
  tokens: TokenService;
  logger: Logger;
  provider: ProviderInfo;
  /** Share records; without them `/shares` is not served. */
  shares?: ShareService;
  /** Storage import; without it `POST /data/register` is not served. */
  importer?: StorageImporter;
  /** Storage capabilities per space, for CDMI capability objects; without it every space claims all of them. */
  spaceCapabilities?: SpaceCapabilities;
  /** Services of the admin API; without them `/api/v3/onepanel` is not served. */
  admin?: AdminDependencies;
  /** Transfers and QoS; without them `/transfers` and `/qos_requirements` are not served. */
  dataManagement?: RestDependencies['dataManagement'];
  /** Space privilege checks; required with `shares` or `dataManagement` (see `spacePrivilegeCheck`). */
  spacePrivileges?: RestDependencies['spacePrivileges'];
}

/**
 * Build the worker's Koa application without listening, so tests can drive
 * `app.callback()`. Middleware order: request id, access log, errors, then routers.
 */
export function createApp(deps: AppDependencies): Koa<AppState> {
  const app = new Koa<AppState>();
  app.silent = true;
  // Koa reports here the errors that happen after the response started, e.g. a storage read failing mid-download.
  app.on('error', (error: unknown, ctx?: { state?: Partial<AppState> }) => {
    (ctx?.state?.log ?? deps.logger).warn({ err: error }, 'response failed after it started');
  });

  app.use(requestIdMiddleware(deps.logger));
  app.use(accessLogMiddleware());
  app.use(errorMiddleware());

  for (const router of createRouters(deps)) {
    app.use(underPrefix(router));
  }
  return app;
}

/**
 * Serve a router's routes and its 405/501 responses, skipping it for paths outside its
 * prefix. A router tests every route pattern it has on each request, so skipping the
 * routers that cannot match saves that work on every request.
 */
function underPrefix(router: Router<AppState>): ReturnType<Router<AppState>['routes']> {
  const routes = router.routes();
  const allowed = router.allowedMethods({ throw: true });
  const prefix = router.opts.prefix;
  return (ctx, next) => {
    const outside = prefix !== undefined && prefix !== '' && ctx.path !== prefix && !ctx.path.startsWith(`${prefix}/`);
    if (outside) return next();
    return routes(ctx, () => allowed(ctx as unknown as Parameters<typeof allowed>[0], next));
  };
}

/**
 * Create every router the application serves, in the order they are tried. The first
 * serves the OpenAPI document, which lists the routes of all of them, itself included.
 */
export function createRouters(deps: AppDependencies): Router<AppState>[] {
  const authenticate = authMiddleware({ tokens: deps.tokens, users: deps.users });
  const restAuthenticate = authMiddleware({ tokens: deps.tokens, users: deps.users, allowGuest: isShareScopedRequest });

  const service = new Router<AppState>();
  service.get('/health', (ctx) => {
    ctx.body = { status: 'healthy' };
  });
  service.get('/configuration', (ctx) => {
    ctx.body = configurationBody(deps.provider);
  });

  const openapi = new Router<AppState>();
  const adminRouters = deps.admin ? [createAdminRouter({ ...deps.admin, authenticate })] : [];
  const routers = [
    openapi,
    ...adminRouters,
    service,
    createPublicRestRouter(deps.provider),
    createRestRouter({ lfs: deps.lfs, provider: deps.provider, shares: deps.shares, importer: deps.importer, dataManagement: deps.dataManagement, spacePrivileges: deps.spacePrivileges, authenticate: restAuthenticate }),
    createCdmiRouter({ lfs: deps.lfs, authenticate, users: deps.users, spaceCapabilities: deps.spaceCapabilities }),
  ];

  // Built on first use, when every router has all of its routes.
  let document: OpenApiDocument | undefined;
  openapi.get(OPENAPI_PATH, (ctx) => {
    document ??= buildOpenApiDocument(routers, ROUTE_DOCS, { title: 'op-worker', version: deps.provider.version });
    ctx.body = document;
  });
  return routers;
}
