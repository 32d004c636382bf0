import Router from '@koa/router';
import { OpError, splitLogicalPath, type Identity, type LogicalFileSystem } from '@op-worker/core';
import type { Middleware } from 'koa';
import { ApiError } from '../errors.js';
import { decodePathSegments } from '../http/request-path.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { CAPABILITY_CONTENT_TYPE, capabilityObject } from './capabilities.js';
import { handleDelete, handleGet, handlePut, userRootId, type CdmiRequest } from './objects.js';
import { parseCdmiQuery } from './query.js';
import { CDMI_VERSION_HEADER, RESPONSE_CDMI_VERSION, negotiateCdmiVersion } from './version.js';

export interface CdmiDependencies {
  lfs: LogicalFileSystem;
  authenticate: Middleware<AppState>;
}

const CAPABILITIES = 'cdmi_capabilities';
const OBJECT_ID = 'cdmi_objectid';

/**
 * CDMI 1.1.1 under `/cdmi/`. Every response carries `X-CDMI-Specification-Version`.
 * Capability objects need no token; everything else does.
 */
export function createCdmiRouter(deps: CdmiDependencies): Router<AppState> {
  const router = new Router<AppState>();

  router.all(['/cdmi', '/cdmi/{*path}'], async (ctx, next) => {
    ctx.set(CDMI_VERSION_HEADER, RESPONSE_CDMI_VERSION);
    const version = negotiateCdmiVersion(ctx.headers['x-cdmi-specification-version'] as string | undefined);
    const rawPath = ctx.path.slice('/cdmi'.length).replace(/^\//, '');
    const container = rawPath === '' || rawPath.endsWith('/');
    const segments = decodePathSegments(rawPath);

    if (segments[0] === CAPABILITIES) {
      serveCapability(ctx, version, segments.slice(1));
      return;
    }

    await deps.authenticate(ctx, async () => {
      const who = identityOf(ctx);
      const request: CdmiRequest = {
        ctx,
        lfs: deps.lfs,
        who,
        version,
        segments: segments[0] === OBJECT_ID ? await resolveObjectId(deps.lfs, who, segments.slice(1)) : segments,
        container,
        query: parseCdmiQuery(ctx.querystring),
      };
      await dispatch(request);
    });
    void next;
  });
  return router;
}

async function dispatch(request: CdmiRequest): Promise<void> {
  switch (request.ctx.method) {
    case 'GET':
    case 'HEAD':
      return handleGet(request);
    case 'PUT':
      return handlePut(request);
    case 'DELETE':
      return handleDelete(request);
    default:
      request.ctx.set('Allow', 'GET, HEAD, PUT, DELETE');
      throw new ApiError(405, 'notSupported', `CDMI does not support ${request.ctx.method} here; use GET, PUT or DELETE`);
  }
}

function serveCapability(ctx: AppContext, version: string | undefined, segments: string[]): void {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    throw new ApiError(405, 'notSupported', 'capability objects are read-only; use GET');
  }
  if (version === undefined) {
    throw ApiError.missingValue('version', `missing ${CDMI_VERSION_HEADER} header; send ${CDMI_VERSION_HEADER}: 1.1.1`);
  }
  ctx.body = capabilityObject(segments);
  ctx.type = CAPABILITY_CONTENT_TYPE;
}

/**
 * Turn `cdmi_objectid/<id>[/<relative path>]` into the logical path segments of that
 * object, so path and id addressing share one implementation.
 */
async function resolveObjectId(lfs: LogicalFileSystem, who: Identity, rest: string[]): Promise<string[]> {
  const [objectId, ...relative] = rest;
  if (objectId === undefined) throw new OpError('missingValue', 'missing object id after cdmi_objectid/', { key: 'id' });
  if (objectId === userRootId(who)) return relative;

  const base = await lfs.getAttributes(who, objectId);
  return [...splitLogicalPath(base.path), ...relative];
}
