import { Readable } from 'node:stream';
import { buildObjectId, OpError, type FileAttributes, type Identity, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { declaredContentLength, sendFileContent } from '../http/content.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator } from '../http/validate.js';
import type { AppContext } from '../state.js';
import { decodeValue, streamCdmiObject, type ValueEncoding } from './encoding.js';
import type { CdmiQuery } from './query.js';

/**
 * CDMI containers (directories) and data objects (regular files) addressed by path
 * `/cdmi/<space name>/...`. A trailing slash names a container. `/cdmi/` itself is the
 * caller's root, whose children are their spaces.
 */

export const CONTAINER_TYPE = 'application/cdmi-container';
export const OBJECT_TYPE = 'application/cdmi-object';
const OCTET_STREAM = 'application/octet-stream';

/** Extended attributes in which CDMI keeps a data object's mimetype and value encoding. */
const MIMETYPE_XATTR = 'cdmi_mimetype';
const ENCODING_XATTR = 'cdmi_valuetransferencoding';
const RESERVED_PREFIX = 'cdmi_';
/** CDMI lists at most this many children per request. */
const MAX_CHILDREN = 1000;
/** CDMI JSON bodies carry values inline, so they are read whole; larger ones get 413. */
const MAX_CDMI_BODY_BYTES = 64 * 1024 * 1024;

export interface CdmiRequest {
  ctx: AppContext;
  lfs: LogicalFileSystem;
  who: Identity;
  /** Negotiated version, or undefined when the request sent no version header. */
  version: string | undefined;
  /** Logical path segments; the first is the space name. */
  segments: string[];
  /** True when the request path ends with `/`. */
  container: boolean;
  query: CdmiQuery;
}

/** Object id of the caller's CDMI root (`/cdmi/`). It is not a file id. */
export function userRootId(who: Identity): string {
  return buildObjectId(Buffer.from(`userRoot#${who.userId}`));
}

export async function handleGet(request: CdmiRequest): Promise<void> {
  if (request.container) {
    requireVersion(request);
    await getContainer(request);
    return;
  }
  await getDataObject(request);
}

export async function handlePut(request: CdmiRequest): Promise<void> {
  if (request.container) await putContainer(request);
  else await putDataObject(request);
}

export async function handleDelete(request: CdmiRequest): Promise<void> {
  const { lfs, who, segments, ctx } = request;
  if (segments.length === 0) throw OpError.posix('eperm', 'the CDMI root cannot be deleted');

  const file = await lfs.lookupPath(who, logicalPath(segments));
  await lfs.remove(who, file.fileId);
  ctx.status = 204;
}

// Containers

async function getContainer(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, query } = request;
  if (segments.length === 0) {
    const spaces = await lfs.listSpaces(who);
    const names = spaces.map((space) => `${space.name}/`).sort();
    sendJson(ctx, CONTAINER_TYPE, selectFields(rootContainerFields(who, names, query), query));
    return;
  }

  const dir = await lfs.lookupPath(who, logicalPath(segments));
  if (dir.type !== 'DIR') {
    redirect(ctx, segments, false);
    return;
  }

  const fields = await containerFields(request, dir);
  const children = await listChildNames(lfs, who, dir.fileId, query);
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

async function containerFields(request: CdmiRequest, dir: FileAttributes): Promise<Record<string, unknown>> {
  const { lfs, who, segments } = request;
  const xattrs = await lfs.getXattrs(who, dir.fileId);
  return {
    objectType: CONTAINER_TYPE,
    objectID: dir.fileId,
    objectName: `${dir.name}/`,
    parentURI: parentUri(segments),
    parentID: dir.parentFileId ?? userRootId(who),
    capabilitiesURI: 'cdmi_capabilities/container/',
    completionStatus: 'Complete',
    metadata: metadataOf(dir, xattrs, request.query.metadataPrefix),
  };
}

/** Child names in byte order, directories with a trailing slash, limited to `MAX_CHILDREN`. */
async function listChildNames(
  lfs: LogicalFileSystem,
  who: Identity,
  dirId: string,
  query: CdmiQuery,
): Promise<{ childrenrange: string; children: string[] }> {
  const range = query.childrenRange;
  if (range !== undefined && range.to - range.from + 1 > MAX_CHILDREN) {
    throw new ApiError(400, 'badValueTooHigh', `children range is wider than ${MAX_CHILDREN}`, { key: 'childrenrange', limit: MAX_CHILDREN });
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
  if (range !== undefined && from > 0 && position <= from) {
    throw ApiError.badData('childrenrange', `children range starts at ${from} but the container has ${position} children`);
  }
  return { childrenrange: childrenRange(from, names.length), children: names };
}

const containerBody = bodyValidator<{ metadata?: Record<string, JsonValue> | string }>({
  type: 'object',
  properties: { metadata: { anyOf: [{ type: 'object' }, { type: 'string' }] } },
});

async function putContainer(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments } = request;
  const contentType = ctx.request.type;
  if (contentType === OBJECT_TYPE) {
    throw new OpError('badIdentifier', 'a path ending with "/" names a container; send application/cdmi-container or drop the slash', { key: 'path' });
  }
  const cdmi = contentType === CONTAINER_TYPE;
  if (cdmi) requireVersion(request);
  if (segments.length === 0) throw OpError.posix('eperm', 'the CDMI root cannot be replaced');

  const body = cdmi ? containerBody((await readJsonBody(ctx.req)) ?? {}) : undefined;
  const metadata = typeof body?.metadata === 'object' ? body.metadata : undefined;

  const existing = await findFile(lfs, who, segments);
  if (existing !== undefined) {
    if (existing.type !== 'DIR') throw OpError.posix('eexist', `"${existing.path}" exists and is not a container`);
    if (metadata !== undefined) await replaceUserMetadata(lfs, who, existing.fileId, metadata);
    ctx.status = 204;
    return;
  }

  if (segments.length === 1) throw OpError.posix('eperm', 'spaces cannot be created through CDMI');
  const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
  const dir = await lfs.create(who, parent.fileId, segments.at(-1) ?? '', { type: 'DIR' });
  if (metadata !== undefined) await replaceUserMetadata(lfs, who, dir.fileId, metadata);

  ctx.status = 201;
  if (cdmi) {
    const fields = await containerFields(request, dir);
    sendJson(ctx, CONTAINER_TYPE, { ...fields, childrenrange: '', children: [] }, 201);
  }
}

// Data objects

async function getDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, version, query } = request;
  if (segments.length === 0) {
    redirect(ctx, segments, true);
    return;
  }

  const file = await lfs.lookupPath(who, logicalPath(segments));
  if (file.type === 'DIR') {
    redirect(ctx, segments, true);
    return;
  }
  const xattrs = await lfs.getXattrs(who, file.fileId);

  if (version === undefined) {
    if (ctx.get('Accept').includes(OBJECT_TYPE)) requireVersion(request);
    await sendFileContent(ctx, lfs, who, { fileId: file.fileId, size: file.size });
    if (ctx.status === 200 || (ctx.status === 206 && !ctx.response.type.startsWith('multipart/'))) {
      ctx.type = mimetypeOf(xattrs);
    }
    return;
  }

  const encoding = encodingOf(xattrs);
  const fields: Record<string, unknown> = {
    ...dataObjectFields(request, file, xattrs),
    valuetransferencoding: encoding,
  };
  const wantsValue = query.fields === undefined || query.fields.has('value');
  const valueRange = clampRange(query.valueRange, file.size);
  fields['valuerange'] = valueRange === undefined ? '' : `${valueRange.from}-${valueRange.to}`;

  const selected = selectFields(fields, query);
  if (!wantsValue) {
    sendJson(ctx, OBJECT_TYPE, selected);
    return;
  }

  const content = valueRange === undefined
    ? Readable.from([])
    : (await lfs.read(who, file.fileId, { offset: valueRange.from, length: valueRange.to - valueRange.from + 1 })).stream;
  ctx.status = 200;
  ctx.type = OBJECT_TYPE;
  ctx.body = streamCdmiObject(selected, content as AsyncIterable<Buffer>, encoding);
}

function dataObjectFields(request: CdmiRequest, file: FileAttributes, xattrs: Record<string, JsonValue>): Record<string, unknown> {
  return {
    objectType: OBJECT_TYPE,
    objectID: file.fileId,
    objectName: file.name,
    parentURI: parentUri(request.segments),
    parentID: file.parentFileId,
    capabilitiesURI: 'cdmi_capabilities/dataobject/',
    completionStatus: 'Complete',
    metadata: metadataOf(file, xattrs, request.query.metadataPrefix),
    mimetype: mimetypeOf(xattrs),
  };
}

interface CdmiObjectBody {
  value?: string;
  valuetransferencoding?: ValueEncoding;
  mimetype?: string;
  metadata?: Record<string, JsonValue>;
  copy?: string;
  move?: string;
  reference?: string;
  deserialize?: string;
  deserializevalue?: string;
}

const objectBody = bodyValidator<CdmiObjectBody>({
  type: 'object',
  properties: {
    value: { type: 'string' },
    valuetransferencoding: { type: 'string', enum: ['utf-8', 'base64'] },
    mimetype: { type: 'string', minLength: 1 },
    metadata: { type: 'object' },
  },
});

async function putDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, segments } = request;
  const contentType = ctx.request.type;
  if (contentType === CONTAINER_TYPE) {
    throw new OpError('badIdentifier', 'a path without a trailing "/" names a data object; add the slash to create a container', { key: 'path' });
  }
  if (segments.length < 2) throw OpError.posix('eperm', 'a data object must be inside a space');

  if (contentType === OBJECT_TYPE) {
    requireVersion(request);
    await putCdmiDataObject(request);
  } else {
    await putRawDataObject(request);
  }
}

/** CDMI PUT: the value and its encoding, mimetype and metadata come in a JSON body. */
async function putCdmiDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, query } = request;
  const body = objectBody((await readJsonBody(ctx.req, MAX_CDMI_BODY_BYTES)) ?? {});
  for (const field of ['copy', 'move', 'reference', 'deserialize', 'deserializevalue'] as const) {
    if (body[field] !== undefined) throw new OpError('notImplemented', `CDMI "${field}" is not implemented`, { key: field });
  }

  const existing = await findFile(lfs, who, segments);
  const storedEncoding = existing === undefined ? undefined : encodingOf(await lfs.getXattrs(who, existing.fileId));
  // A value range write always carries base64; otherwise the body's encoding, else utf-8 for CDMI-created values.
  const encoding: ValueEncoding = query.valueRange !== undefined ? 'base64' : (body.valuetransferencoding ?? 'utf-8');
  const bytes = body.value === undefined ? undefined : decodeValue(body.value, encoding);
  const offset = rangeOffset(query, bytes);

  let file: FileAttributes;
  if (existing === undefined) {
    const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
    file = await lfs.create(who, parent.fileId, segments.at(-1) ?? '', {
      type: 'REG',
      content: Readable.from([bytes ?? Buffer.alloc(0)]),
      size: bytes?.length ?? 0,
      offset,
    });
  } else {
    if (existing.type === 'DIR') throw OpError.posix('eisdir', `"${existing.path}" is a container; add a trailing "/"`);
    file = existing;
    if (bytes !== undefined) file = await lfs.write(who, file.fileId, Readable.from([bytes]), { offset, size: bytes.length });
  }

  const newEncoding = body.valuetransferencoding ?? (existing === undefined && bytes !== undefined ? 'utf-8' : undefined);
  await updateObjectXattrs(lfs, who, file.fileId, {
    mimetype: body.mimetype,
    encoding: newEncoding !== storedEncoding ? newEncoding : undefined,
  });
  if (body.metadata !== undefined) await replaceUserMetadata(lfs, who, file.fileId, body.metadata);

  if (existing !== undefined) {
    ctx.status = 204;
    return;
  }
  const xattrs = await lfs.getXattrs(who, file.fileId);
  const fields = { ...dataObjectFields(request, file, xattrs), valuetransferencoding: encodingOf(xattrs) };
  sendJson(ctx, OBJECT_TYPE, fields, 201);
}

/** Non-CDMI PUT: the body is the content; `Content-Range` writes part of the file. */
async function putRawDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments } = request;
  const size = declaredContentLength(ctx);
  const offset = contentRangeOffset(ctx.get('Content-Range'), size);

  const existing = await findFile(lfs, who, segments);
  let fileId: string;
  if (existing === undefined) {
    const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
    const file = await lfs.create(who, parent.fileId, segments.at(-1) ?? '', { type: 'REG', content: ctx.req, size, offset });
    fileId = file.fileId;
    ctx.status = 201;
  } else {
    if (existing.type === 'DIR') throw OpError.posix('eisdir', `"${existing.path}" is a container; add a trailing "/"`);
    await lfs.write(who, existing.fileId, ctx.req, { offset, size });
    fileId = existing.fileId;
    ctx.status = 204;
  }

  if (ctx.request.type !== '') {
    const utf8 = /charset\s*=\s*"?utf-8"?/i.test(ctx.get('Content-Type'));
    await updateObjectXattrs(lfs, who, fileId, { mimetype: ctx.request.type, encoding: utf8 ? 'utf-8' : undefined });
  }
}

/** Offset of a `?value:from-to` write; the decoded value must fill the range exactly. */
function rangeOffset(query: CdmiQuery, bytes: Buffer | undefined): number | undefined {
  const range = query.valueRange;
  if (range === undefined) return undefined;
  if (bytes === undefined || bytes.length !== range.to - range.from + 1) {
    throw ApiError.badData('range', `value must hold exactly ${range.to - range.from + 1} bytes for range ${range.from}-${range.to}`);
  }
  return range.from;
}

/** Offset of a `Content-Range: bytes from-to/(total|*)` upload; the body must fill the range exactly. */
function contentRangeOffset(header: string, bodyLength: number | undefined): number | undefined {
  if (header === '') return undefined;

  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (match === null || from > to || (bodyLength !== undefined && bodyLength !== to - from + 1)) {
    throw ApiError.badData('content-range', `Content-Range "${header}" is invalid or does not match the body length`);
  }
  return from;
}

// Shared helpers

function requireVersion(request: CdmiRequest): void {
  if (request.version === undefined) {
    throw ApiError.missingValue('version', 'missing X-CDMI-Specification-Version header; send X-CDMI-Specification-Version: 1.1.1');
  }
}

function logicalPath(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/** URI of the parent container: `/space/dir/` for `space/dir/x`, `/` for a space. */
function parentUri(segments: readonly string[]): string {
  return '/' + segments.slice(0, -1).map((segment) => `${segment}/`).join('');
}

async function findFile(lfs: LogicalFileSystem, who: Identity, segments: readonly string[]): Promise<FileAttributes | undefined> {
  try {
    return await lfs.lookupPath(who, logicalPath(segments));
  } catch (error) {
    if (OpError.is(error) && (error.kind === 'notFound' || error.details['errno'] === 'enoent')) return undefined;
    throw error;
  }
}

function childrenRange(from: number, count: number): string {
  return count === 0 ? '' : `${from}-${from + count - 1}`;
}

/** Cut the requested value range to the file; undefined when no byte falls inside. */
function clampRange(range: { from: number; to: number } | undefined, size: number): { from: number; to: number } | undefined {
  const from = range?.from ?? 0;
  const to = Math.min(range?.to ?? size - 1, size - 1);
  return from > to ? undefined : { from, to };
}

function mimetypeOf(xattrs: Record<string, JsonValue>): string {
  const value = xattrs[MIMETYPE_XATTR];
  return typeof value === 'string' && value !== '' ? value : OCTET_STREAM;
}

function encodingOf(xattrs: Record<string, JsonValue>): ValueEncoding {
  return xattrs[ENCODING_XATTR] === 'utf-8' ? 'utf-8' : 'base64';
}

async function updateObjectXattrs(
  lfs: LogicalFileSystem,
  who: Identity,
  fileId: string,
  values: { mimetype?: string; encoding?: ValueEncoding },
): Promise<void> {
  const update: Record<string, JsonValue> = {};
  if (values.mimetype !== undefined) update[MIMETYPE_XATTR] = values.mimetype;
  if (values.encoding !== undefined) update[ENCODING_XATTR] = values.encoding;
  if (Object.keys(update).length > 0) await lfs.setXattrs(who, fileId, update);
}

/** System metadata (size, times as ISO 8601, owner) plus user xattrs, filtered by a name prefix. */
function metadataOf(file: FileAttributes, xattrs: Record<string, JsonValue>, prefix = ''): Record<string, JsonValue> {
  const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();
  const all: Record<string, JsonValue> = {
    cdmi_size: String(file.size),
    cdmi_ctime: iso(file.ctime),
    cdmi_atime: iso(file.atime),
    cdmi_mtime: iso(file.mtime),
    cdmi_owner: file.ownerUserId,
  };
  for (const [name, value] of Object.entries(xattrs)) {
    if (!name.startsWith(RESERVED_PREFIX)) all[name] = value;
  }
  return Object.fromEntries(Object.entries(all).filter(([name]) => name.startsWith(prefix)));
}

/**
 * Replace a file's user metadata with `metadata`. Names starting with `cdmi_` are
 * reserved and silently dropped, as in Onedata.
 * NOTE: the `?metadata:name` form that updates single keys is not implemented; every
 * metadata PUT replaces the whole user metadata.
 */
async function replaceUserMetadata(lfs: LogicalFileSystem, who: Identity, fileId: string, metadata: Record<string, JsonValue>): Promise<void> {
  const current = await lfs.getXattrs(who, fileId);
  const stale = Object.keys(current).filter((name) => !name.startsWith(RESERVED_PREFIX) && !(name in metadata));
  const fresh = Object.fromEntries(Object.entries(metadata).filter(([name]) => !name.startsWith(RESERVED_PREFIX)));

  if (stale.length > 0) await lfs.removeXattrs(who, fileId, stale);
  if (Object.keys(fresh).length > 0) await lfs.setXattrs(who, fileId, fresh);
}

/** Keep only the fields named in the query (all when it names none). */
function selectFields(fields: Record<string, unknown>, query: CdmiQuery): Record<string, unknown> {
  if (query.fields === undefined) return fields;
  return Object.fromEntries(Object.entries(fields).filter(([name]) => query.fields?.has(name)));
}

function sendJson(ctx: AppContext, type: string, body: Record<string, unknown>, status = 200): void {
  ctx.status = status;
  ctx.body = body;
  ctx.type = type;
}

/** Redirect (302, as Onedata) to the same object with or without the trailing slash, keeping the query. */
function redirect(ctx: AppContext, segments: readonly string[], container: boolean): void {
  const path = segments.map(encodeURIComponent).join('/');
  const slash = container && segments.length > 0 ? '/' : '';
  const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
  ctx.redirect(`/cdmi/${path}${slash}${query}`);
}
