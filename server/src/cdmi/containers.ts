import { OpError, type FileAttributes, type Identity, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { readJsonBody } from '../http/json-body.js';
import {
  CONTAINER_TYPE,
  OBJECT_TYPE,
  assertNameAllowed,
  childrenRange,
  findFile,
  logicalPath,
  negotiateType,
  parentUri,
  redirect,
  requireVersion,
  selectFields,
  sendJson,
  userRootId,
  type CdmiRequest,
} from './common.js';
import { copyOrMove, parseTransferFields } from './copy-move.js';
import { applyMetadata, metadataOf, validateMetadata } from './metadata.js';
import type { CdmiQuery } from './query.js';

/** CDMI containers: directories, spaces, and the caller's root `/cdmi/` whose children are their spaces. */

/** CDMI lists at most this many children per request, as Onedata does. */
export const MAX_CHILDREN = 1000;

const CONTAINER_BODY_FIELDS = new Set(['metadata', 'copy', 'move', 'reference', 'deserialize', 'deserializevalue', 'exports', 'domainURI']);

export async function getContainer(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, query } = request;
  requireVersion(request);
  negotiateType(ctx, [CONTAINER_TYPE]);

  if (segments.length === 0) {
    const spaces = await lfs.listSpaces(who);
    const names = spaces.map((space) => `${space.name}/`).sort(compareBytes);
    sendJson(ctx, CONTAINER_TYPE, selectFields(rootContainerFields(who, names, query), query));
    return;
  }

  const dir = await lfs.lookupPath(who, logicalPath(segments));
  if (dir.type !== 'DIR') {
    redirect(ctx, segments, false);
    return;
  }

  const fields = await containerFields(request, dir);
  const wantsChildren = query.fields === undefined || query.fields.has('children') || query.fields.has('childrenrange');
  const children = wantsChildren ? await listChildNames(lfs, who, dir.fileId, query) : {};
  sendJson(ctx, CONTAINER_TYPE, selectFields({ ...fields, ...children }, query));
}

function rootContainerFields(who: Identity, names: string[], query: CdmiQuery): Record<string, unknown> {
  const range = query.childrenRange ?? { from: 0, to: Math.max(names.length - 1, 0) };
  const children = names.slice(range.from, range.to + 1);
  return {
    objectType: CONTAINER_TYPE,
    objectID: userRootId(who),
    objectName: '/',
    parentURI: '',
    capabilitiesURI: 'cdmi_capabilities/container/',
    completionStatus: 'Complete',
    metadata: {},
    childrenrange: childrenRange(range.from, children.length),
    children,
  };
}

export async function containerFields(request: CdmiRequest, dir: FileAttributes): Promise<Record<string, unknown>> {
  const { services, lfs, who, segments } = request;
  const xattrs = await lfs.getXattrs(who, dir.fileId);
  return {
    objectType: CONTAINER_TYPE,
    objectID: dir.fileId,
    objectName: `${dir.name}/`,
    parentURI: parentUri(segments),
    parentID: dir.parentFileId ?? userRootId(who),
    capabilitiesURI: await services.capabilitiesUri(dir.spaceId, 'container'),
    completionStatus: 'Complete',
    metadata: await metadataOf(services, who, dir, xattrs, request.query.metadataPrefix),
  };
}

/**
 * Child names in byte order (the listing order of the metadata store), directories
 * with a trailing slash. A listing without a range may hold at most `MAX_CHILDREN`
 * names, and so may a range; a range starting past the last child is 400.
 */
async function listChildNames(
  lfs: LogicalFileSystem,
  who: Identity,
  dirId: string,
  query: CdmiQuery,
): Promise<{ childrenrange: string; children: string[] }> {
  const range = query.childrenRange;
  if (range !== undefined && range.to - range.from + 1 > MAX_CHILDREN) {
    throw new ApiError(400, 'badValueTooHigh', `children range ${range.from}-${range.to} is wider than ${MAX_CHILDREN}`, {
      key: 'childrenrange',
      limit: MAX_CHILDREN,
    });
  }

  const from = range?.from ?? 0;
  const wanted = range === undefined ? MAX_CHILDREN + 1 : range.to - from + 1;
  const names: string[] = [];
  let position = 0;
  let token: string | undefined;
  do {
    const page = await lfs.listChildren(who, dirId, { limit: MAX_CHILDREN, token });
    for (const child of page.children) {
      if (position >= from && names.length < wanted) names.push(child.type === 'DIR' ? `${child.name}/` : child.name);
      position += 1;
    }
    token = page.isLast ? undefined : (page.nextPageToken ?? undefined);
  } while (token !== undefined && names.length < wanted);

  if (range === undefined && names.length > MAX_CHILDREN) {
    throw new ApiError(400, 'badValueTooHigh', `the container has more than ${MAX_CHILDREN} children; request a range with ?children:from-to`, {
      key: 'childrenrange',
      limit: MAX_CHILDREN,
    });
  }
  if (range !== undefined && position <= from && !(from === 0 && position === 0)) {
    throw ApiError.badData('childrenrange', `children range starts at ${from} but the container has ${position} children`);
  }
  return { childrenrange: childrenRange(from, names.length), children: names };
}

/**
 * PUT on a container URI. `application/cdmi-container` is a CDMI create, copy, move or
 * metadata update (204 when the container exists); any other type but
 * `application/cdmi-object` is a plain mkdir whose body is ignored.
 */
export async function putContainer(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments } = request;
  const contentType = ctx.request.type;
  if (contentType === OBJECT_TYPE) {
    throw new OpError('badIdentifier', 'a path ending with "/" names a container; send application/cdmi-container or drop the slash', { key: 'path' });
  }
  const cdmi = contentType === CONTAINER_TYPE;
  if (cdmi) requireVersion(request);
  if (segments.length === 0) throw OpError.posix('eperm', 'the CDMI root cannot be replaced');

  const body = cdmi ? await readContainerBody(request) : {};
  const transfer = parseTransferFields(body);
  const metadata = body['metadata'] === undefined ? undefined : validateMetadata(body['metadata']);

  if (transfer !== undefined) {
    const target = await copyOrMove(request, transfer, 'DIR');
    if (metadata !== undefined) await applyMetadata(lfs, who, target.fileId, metadata, request.query.metadataNames);
    await sendCreated(request, target);
    return;
  }

  const existing = await findFile(lfs, who, segments);
  if (existing !== undefined) {
    if (existing.type !== 'DIR') throw OpError.posix('eexist', `"${existing.path}" exists and is not a container`);
    if (metadata !== undefined) await applyMetadata(lfs, who, existing.fileId, metadata, request.query.metadataNames);
    ctx.status = 204;
    return;
  }

  if (segments.length === 1) throw OpError.posix('eperm', 'spaces cannot be created through CDMI');
  const name = segments.at(-1) ?? '';
  assertNameAllowed(name);
  const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
  const dir = await lfs.create(who, parent.fileId, name, { type: 'DIR' });
  if (metadata !== undefined) await applyMetadata(lfs, who, dir.fileId, metadata, undefined);

  if (cdmi) await sendCreated(request, dir);
  else ctx.status = 201;
}

async function sendCreated(request: CdmiRequest, dir: FileAttributes): Promise<void> {
  const fields = await containerFields(request, await request.lfs.getAttributes(request.who, dir.fileId));
  sendJson(request.ctx, CONTAINER_TYPE, { ...fields, childrenrange: '', children: [] }, 201);
}

async function readContainerBody(request: CdmiRequest): Promise<Record<string, JsonValue>> {
  const body = (await readJsonBody(request.ctx.req)) ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw ApiError.badData('body', 'a CDMI container body must be a JSON object');
  }
  for (const name of Object.keys(body)) {
    if (!CONTAINER_BODY_FIELDS.has(name)) throw new ApiError(400, 'badValue', `unknown body field "${name}" for a container`, { key: name });
  }
  return body as Record<string, JsonValue>;
}

/** Order names by their UTF-8 bytes, as the metadata store lists children. */
function compareBytes(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left), Buffer.from(right));
}
