import { buildObjectId, OpError, type FileAccess, type FileAttributes, type Identity, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import Negotiator from 'negotiator';
import { ApiError } from '../errors.js';
import type { AppContext } from '../state.js';
import type { ValueEncoding } from './encoding.js';
import type { CdmiQuery } from './query.js';

/** Request facts and services shared by the CDMI handlers. */

export const CONTAINER_TYPE = 'application/cdmi-container';
export const OBJECT_TYPE = 'application/cdmi-object';
export const OCTET_STREAM = 'application/octet-stream';

/** Extended attributes in which CDMI keeps a data object's mimetype, value encoding and completion status. */
export const MIMETYPE_XATTR = 'cdmi_mimetype';
export const ENCODING_XATTR = 'cdmi_valuetransferencoding';
export const COMPLETION_XATTR = 'cdmi_completion_status';
/** Names beginning with this prefix are reserved for CDMI: no user metadata item or new object may use one. */
export const RESERVED_PREFIX = 'cdmi_';

export interface CdmiServices {
  lfs: LogicalFileSystem;
  /** Current user name of a user id, for ACL identifiers; undefined when unknown. */
  userName(userId: string): Promise<string | undefined>;
  /** `capabilitiesURI` of containers and data objects in a space. */
  capabilitiesUri(spaceId: string, kind: 'container' | 'dataobject'): Promise<string>;
}

export interface CdmiRequest {
  ctx: AppContext;
  services: CdmiServices;
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

export function requireVersion(request: CdmiRequest): void {
  if (request.version === undefined) {
    throw ApiError.missingValue('version', 'missing X-CDMI-Specification-Version header; send X-CDMI-Specification-Version: 1.1.1');
  }
}

/**
 * Pick the response type from `Accept` among `offered` (most preferred first).
 * Without an Accept header the first offer wins; none acceptable is 406.
 */
export function negotiateType(ctx: AppContext, offered: readonly string[]): string {
  if (ctx.get('Accept') === '') return offered[0] ?? OCTET_STREAM;
  const chosen = new Negotiator(ctx.req).mediaType([...offered]);
  if (chosen === undefined) {
    throw new ApiError(406, 'notAcceptable', `none of the types in Accept "${ctx.get('Accept')}" can be sent; accepted: ${offered.join(', ')}`);
  }
  return chosen;
}

export function logicalPath(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/** URI of the parent container: `/space/dir/` for `space/dir/x`, `/` for a space. */
export function parentUri(segments: readonly string[]): string {
  return '/' + segments.slice(0, -1).map((segment) => `${segment}/`).join('');
}

export async function findFile(lfs: LogicalFileSystem, who: Identity, segments: readonly string[]): Promise<FileAttributes | undefined> {
  try {
    return await lfs.lookupPath(who, logicalPath(segments));
  } catch (error) {
    if (OpError.is(error) && (error.kind === 'notFound' || error.details['errno'] === 'enoent')) return undefined;
    throw error;
  }
}

/** Reject names that CDMI reserves (`cdmi_objectid`, `cdmi_capabilities`, ... and every `cdmi_` name). */
export function assertNameAllowed(name: string): void {
  if (name.startsWith(RESERVED_PREFIX)) {
    throw new ApiError(400, 'badValue', `name "${name}" is reserved: CDMI names beginning with "${RESERVED_PREFIX}" cannot be created`, { key: 'path' });
  }
}

export function childrenRange(from: number, count: number): string {
  return count === 0 ? '' : `${from}-${from + count - 1}`;
}

export function mimetypeOf(xattrs: Record<string, JsonValue>): string {
  const value = xattrs[MIMETYPE_XATTR];
  return typeof value === 'string' && value !== '' ? value : OCTET_STREAM;
}

export function encodingOf(xattrs: Record<string, JsonValue>): ValueEncoding {
  return xattrs[ENCODING_XATTR] === 'utf-8' ? 'utf-8' : 'base64';
}

export function completionOf(xattrs: Record<string, JsonValue>): string {
  return xattrs[COMPLETION_XATTR] === 'Processing' ? 'Processing' : 'Complete';
}

/** True when `X-CDMI-Partial: true` marks this write as one part of an unfinished upload. */
export function isPartialUpload(ctx: AppContext): boolean {
  return ctx.get('X-CDMI-Partial').trim().toLowerCase() === 'true';
}

/**
 * Record the object's mimetype, encoding and completion status; undefined values are
 * left as they are. `completion` `'Processing'` marks a partial upload and `'Complete'`
 * removes that mark, so pass `'Complete'` only when the mark is set: removing it needs
 * write-metadata access.
 */
export async function updateObjectXattrs(
  lfs: LogicalFileSystem,
  who: Identity,
  fileId: string,
  values: { mimetype?: string; encoding?: ValueEncoding; completion?: 'Processing' | 'Complete' },
): Promise<void> {
  const update: Record<string, JsonValue> = {};
  if (values.mimetype !== undefined) update[MIMETYPE_XATTR] = values.mimetype;
  if (values.encoding !== undefined) update[ENCODING_XATTR] = values.encoding;
  if (values.completion === 'Processing') update[COMPLETION_XATTR] = 'Processing';
  if (Object.keys(update).length > 0) await lfs.setXattrs(who, fileId, update);
  if (values.completion === 'Complete') await lfs.removeXattrs(who, fileId, [COMPLETION_XATTR]);
}

/**
 * Return the completion status change of a write to an existing object: `'Processing'`
 * for a partial upload, `'Complete'` when an earlier partial upload left its mark, and
 * undefined when nothing changes.
 * NOTE: the mark is read only when `who` may read the object's metadata, so a write by
 * a user who may not leaves an earlier mark in place.
 */
export async function completionChange(
  ctx: AppContext,
  lfs: LogicalFileSystem,
  who: Identity,
  existing: FileAttributes | undefined,
): Promise<'Processing' | 'Complete' | undefined> {
  if (isPartialUpload(ctx)) return 'Processing';
  if (existing === undefined) return undefined;
  try {
    return completionOf(await lfs.getXattrs(who, existing.fileId)) === 'Processing' ? 'Complete' : undefined;
  } catch (error) {
    if (isAccessDenial(error)) return undefined;
    throw error;
  }
}

/** Tell whether `who` has every listed access to a file, without throwing a denial. */
export async function mayAccess(lfs: LogicalFileSystem, who: Identity, fileId: string, accesses: readonly FileAccess[]): Promise<boolean> {
  try {
    await lfs.checkAccess(who, fileId, accesses);
    return true;
  } catch (error) {
    if (isAccessDenial(error)) return false;
    throw error;
  }
}

function isAccessDenial(error: unknown): boolean {
  return OpError.is(error) && (error.kind === 'forbidden' || (error.kind === 'posix' && error.details['errno'] === 'eacces'));
}

/** Keep only the fields named in the query (all when it names none). */
export function selectFields(fields: Record<string, unknown>, query: CdmiQuery): Record<string, unknown> {
  if (query.fields === undefined) return fields;
  return Object.fromEntries(Object.entries(fields).filter(([name]) => query.fields?.has(name)));
}

export function sendJson(ctx: AppContext, type: string, body: Record<string, unknown>, status = 200): void {
  ctx.status = status;
  ctx.body = body;
  ctx.type = type;
}

/** Redirect (302, as Onedata) to the same object with or without the trailing slash, keeping the query. */
export function redirect(ctx: AppContext, segments: readonly string[], container: boolean): void {
  const path = segments.map(encodeURIComponent).join('/');
  const slash = container && segments.length > 0 ? '/' : '';
  const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
  ctx.set('Cache-Control', 'max-age=3600');
  ctx.redirect(`/cdmi/${path}${slash}${query}`);
}
