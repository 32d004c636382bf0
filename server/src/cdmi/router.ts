import Router from '@koa/router';
import { OpError, splitLogicalPath, type Identity, type LogicalFileSystem } from '@op-worker/core';
import type { Middleware } from 'koa';
import { ApiError } from '../errors.js';
import { decodePathSegments } from '../http/request-path.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { CAPABILITY_CONTENT_TYPE, capabilitiesUriOf, capabilityObject, capabilityPathOfId, type SpaceCapabilities } from './capabilities.js';
import { userRootId, type CdmiRequest, type CdmiServices } from './common.js';
import { handleDelete, handleGet, handlePut } from './objects.js';
import { parseCdmiQuery } from './query.js';
import { CDMI_VERSION_HEADER, RESPONSE_CDMI_VERSION, SUPPORTED_CDMI_VERSIONS, negotiateCdmiVersion } from './version.js';

export interface CdmiDependencies {
  lfs: LogicalFileSystem;
  authenticate: Middleware<AppState>;
  /** Looks up user names for ACL identifiers (`<name>#<id>`); without it the id stands for the name. */
  users?: { get(userId: string): Promise<{ name: string }> };
  /** Capabilities of each space's storage; without it every space is assumed to support everything. */
  spaceCapabilities?: SpaceCapabilities;
}

const CAPABILITIES = 'cdmi_capabilities';
const OBJECT_ID = 'cdmi_objectid';

/**
 * CDMI 1.1.1 under `/cdmi/`. Every response carries `X-CDMI-Specification-Version`.
 * Capability objects need no token; everything else does. The version header is
 * checked before authentication, as in Onedata.
 */
export function createCdmiRouter(deps: CdmiDependencies): Router<AppState> {
  const router = new Router<AppState>();
  const services: CdmiServices = {
    lfs: deps.lfs,
    userName: async (userId) => (deps.users === undefined ? undefined : (await deps.users.get(userId).catch(() => undefined))?.name),
    capabilitiesUri: (spaceId, kind) => capabilitiesUriOf(deps.spaceCapabilities, spaceId, kind),
  };

  router.all(['/cdmi', '/cdmi/{*path}'], async (ctx) => {
    ctx.set(CDMI_VERSION_HEADER, RESPONSE_CDMI_VERSION);
    const version = negotiateCdmiVersion(ctx.headers['x-cdmi-specification-version'] as string | undefined);
    const rawPath = ctx.path.slice('/cdmi'.length).replace(/^\//, '');
    const container = rawPath === '' || rawPath.endsWith('/');
    const segments = decodePathSegments(rawPath);

    const capabilityPath = segments[0] === CAPABILITIES ? segments.slice(1) : capabilityPathOfObjectId(segments);
    if (capabilityPath !== undefined) {
      await serveCapability(ctx, version, capabilityPath, deps.spaceCapabilities);
      return;
    }

    await deps.authenticate(ctx, async () => {
      const who = identityOf(ctx);
      const request: CdmiRequest = {
        ctx,
        services,
        lfs: deps.lfs,
        who,
        version,
        segments: segments[0] === OBJECT_ID ? await resolveObjectId(deps.lfs, who, segments.slice(1)) : segments,
        container,
        query: parseCdmiQuery(ctx.querystring),
      };
      await dispatch(request);
    });
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

/** `cdmi_objectid/<capability id>/` names a capability object. */
function capabilityPathOfObjectId(segments: readonly string[]): string[] | undefined {
  if (segments[0] !== OBJECT_ID || segments[1] === undefined || segments.length > 2) return undefined;
  return capabilityPathOfId(segments[1]);
}

async function serveCapability(ctx: AppContext, version: string | undefined, segments: string[], spaceCapabilities: SpaceCapabilities | undefined): Promise<void> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    throw new ApiError(405, 'notSupported', 'capability objects are read-only; use GET');
  }
  if (version === undefined) {
    throw new ApiError(400, 'badVersion', `capability objects need the ${CDMI_VERSION_HEADER} header; send ${CDMI_VERSION_HEADER}: 1.1.1`, {
      supportedVersions: [...SUPPORTED_CDMI_VERSIONS],
    });
  }
  ctx.body = await capabilityObject(segments, spaceCapabilities);
  ctx.type = CAPABILITY_CONTENT_TYPE;
}

/**
 * Turn `cdmi_objectid/<id>[/<relative path>]` into the logical path segments of that
 * object, so path and id addressing share one implementation. A malformed id or a bad
 * CRC is 400 `badValueIdentifier`.
 */
async function resolveObjectId(lfs: LogicalFileSystem, who: Identity, rest: string[]): Promise<string[]> {
  const [objectId, ...relative] = rest;
  if (objectId === undefined) throw new OpError('missingValue', 'missing object id after cdmi_objectid/', { key: 'id' });
  if (objectId.toUpperCase() === userRootId(who)) return relative;

  const base = await lfs.getAttributes(who, objectId);
  return [...splitLogicalPath(base.path), ...relative];
}
