import type Router from '@koa/router';
import { decodeFileId, OpError, type CreateFileRequest, type FileAttributes, type Identity, type LogicalFileSystem, type QosService } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { declaredContentLength, hasRequestBody, sendFileContent } from '../http/content.js';
import { readJsonBody } from '../http/json-body.js';
import { decodePathSegments, rawPathAfter } from '../http/request-path.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { parseAttributeSelection, toRestAttributes, type AttributeSelection, type ComputedAttributes } from './attributes.js';
import { sendDirectoryTar } from './tar.js';

/**
 * File routes of the REST API: lookup, create, list, download, upload, attributes and
 * removal. Paths in `{path}` parameters span several segments and are decoded segment
 * by segment (see `decodePathSegments`).
 */

export const REST_PREFIX = '/api/v3/oneprovider';

type CreateType = 'REG' | 'DIR' | 'LNK' | 'SYMLNK';

interface CreateQuery {
  name: string;
  type: CreateType;
  mode?: number;
  offset: number;
  target_file_id?: string;
  target_file_path?: string;
}

const createTypeProperties = {
  type: { type: 'string', enum: ['REG', 'DIR', 'LNK', 'SYMLNK'], default: 'REG' },
  mode: { type: 'integer', minimum: 0, maximum: 0o7777 },
  offset: { type: 'integer', minimum: 0, default: 0 },
  target_file_id: { type: 'string', minLength: 1 },
  target_file_path: { type: 'string', minLength: 1 },
};

export const createQuery = queryValidator<CreateQuery>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    ...createTypeProperties,
  },
  required: ['name'],
  additionalProperties: false,
});

interface CreateAtPathQuery {
  type: CreateType;
  mode?: number;
  offset: number;
  create_parents: boolean;
  target_file_id?: string;
  target_file_path?: string;
}

export const createAtPathQuery = queryValidator<CreateAtPathQuery>({
  type: 'object',
  properties: {
    ...createTypeProperties,
    create_parents: { type: 'boolean', default: false },
  },
  additionalProperties: false,
});

interface ListOptions {
  limit?: number;
  token?: string;
  index?: string;
  offset?: number;
  attributes?: string[];
  tuneForLargeContinuousListing?: boolean;
}

const listProperties = {
  limit: { type: 'integer', minimum: 1, maximum: 1000 },
  token: { type: 'string' },
  index: { type: 'string' },
  offset: { type: 'integer', minimum: -500, maximum: 500 },
  attributes: { type: 'array', items: { type: 'string' } },
  tuneForLargeContinuousListing: { type: 'boolean' },
};
export const listQuery = queryValidator<ListOptions>({ type: 'object', properties: listProperties, additionalProperties: false });
export const listBody = bodyValidator<ListOptions>({ type: 'object', properties: listProperties, additionalProperties: false });

interface AttributesOptions {
  attributes?: string[];
}

interface RecursiveOptions {
  limit?: number;
  token?: string;
  start_after?: string;
  prefix?: string;
  attributes?: string[];
}

const recursiveProperties = {
  limit: { type: 'integer', minimum: 1, maximum: 1000 },
  token: { type: 'string' },
  start_after: { type: 'string' },
  prefix: { type: 'string' },
  attributes: { type: 'array', items: { type: 'string' } },
};
export const recursiveQuery = queryValidator<RecursiveOptions>({ type: 'object', properties: recursiveProperties, additionalProperties: false });
export const recursiveBody = bodyValidator<RecursiveOptions>({ type: 'object', properties: recursiveProperties, additionalProperties: false });

/** A recursive listing always shows each file's relative path. */
function withPath(selection: AttributeSelection): AttributeSelection {
  return selection.names.includes('path') ? selection : { ...selection, names: [...selection.names, 'path'] };
}

const attributesProperties = { attributes: { type: 'array', items: { type: 'string' } } };
export const attributesQuery = queryValidator<AttributesOptions>({ type: 'object', properties: attributesProperties, additionalProperties: false });
export const attributesBody = bodyValidator<AttributesOptions>({ type: 'object', properties: attributesProperties, additionalProperties: false });

export const setAttributesBody = bodyValidator<{ mode: string }>({
  type: 'object',
  properties: { mode: { type: 'string', pattern: '^0?[0-7]{1,4}$' } },
  required: ['mode'],
  additionalProperties: false,
});

interface OffsetQuery {
  offset?: number;
}

export const updateContentQuery = queryValidator<OffsetQuery>({
  type: 'object',
  properties: { offset: { type: 'integer', minimum: 0 } },
  additionalProperties: false,
});

export const downloadQuery = queryValidator<{ follow_symlinks?: boolean }>({
  type: 'object',
  properties: { follow_symlinks: { type: 'boolean' } },
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/** Register the `/lookup-file-id` and `/data/{id}...` routes (except metadata). */
/**
 * Register the file routes. `qos` computes the QoS attributes. Without it no file has QoS
 * requirements.
 */
export function registerFileRoutes(router: Router<AppState>, lfs: LogicalFileSystem, qos?: QosService): void {
  const showAttributes = (who: Identity, file: FileAttributes, selection: AttributeSelection): Promise<Record<string, unknown>> =>
    showFileAttributes({ lfs, qos }, who, file, selection);

  router.post('/lookup-file-id/{*path}', async (ctx) => {
    noQuery(ctx.query);
    const segments = decodePathSegments(rawPathAfter(ctx.path, '/lookup-file-id/'));
    if (segments.length === 0) throw new OpError('missingValue', 'missing file path after /lookup-file-id/', { key: 'path' });

    const file = await lfs.lookupPath(identityOf(ctx), '/' + segments.join('/'));
    ctx.body = { fileId: file.fileId };
  });

  router.post('/data/:id/children', async (ctx) => {
    const query = createQuery(ctx.query);
    const file = await createFile(ctx, query, (request) =>
      lfs.create(identityOf(ctx), fileIdParam(ctx), query.name, request),
    );
    respondCreated(ctx, file);
  });

  router.get('/data/:id/children', async (ctx) => {
    const options = await listOptions(ctx);
    const who = identityOf(ctx);
    const selection = parseAttributeSelection(splitNames(options.attributes), isShareScoped(fileIdParam(ctx)));

    const page = await lfs.listChildren(who, fileIdParam(ctx), {
      limit: options.limit,
      token: options.token,
      index: options.index,
      offset: options.offset,
    });
    const children = await Promise.all(page.children.map((child) => showAttributes(who, child, selection)));
    ctx.body = { children, isLast: page.isLast, nextPageToken: page.nextPageToken };
  });

  router.get('/data/:id/files', async (ctx) => {
    const body = await readJsonBody(ctx.req);
    const options = body === undefined ? recursiveQuery(ctx.query) : recursiveBody(body);
    if (body !== undefined) noQuery(ctx.query);
    const who = identityOf(ctx);
    const selection = parseAttributeSelection(splitNames(options.attributes), isShareScoped(fileIdParam(ctx)));

    const page = await lfs.listRecursive(who, fileIdParam(ctx), {
      limit: options.limit,
      token: options.token,
      startAfter: options.start_after,
      prefix: options.prefix,
    });
    const files = await Promise.all(page.files.map((file) => showAttributes(who, file, withPath(selection))));
    ctx.body = { files, inaccessiblePaths: page.inaccessiblePaths, isLast: page.isLast, nextPageToken: page.nextPageToken };
  });

  router.get('/data/:id/hardlinks', async (ctx) => {
    noQuery(ctx.query);
    ctx.body = await lfs.getHardlinks(identityOf(ctx), fileIdParam(ctx));
  });

  router.get('/data/:id/hardlinks/:hid', async (ctx) => {
    noQuery(ctx.query);
    const who = identityOf(ctx);
    const links = await lfs.getHardlinks(who, fileIdParam(ctx));
    const other = (await lfs.getAttributes(who, ctx.params['hid'] ?? '')).fileId;
    if (!links.includes(other)) throw OpError.notFound('hard link between the two files');
    ctx.status = 204;
  });

  router.get('/data/:id/symlink_value', async (ctx) => {
    noQuery(ctx.query);
    ctx.type = 'text/plain';
    ctx.body = await lfs.getSymlinkValue(identityOf(ctx), fileIdParam(ctx));
  });

  router.put('/data/:id/path/{*path}', async (ctx) => {
    const query = createAtPathQuery(ctx.query);
    const relativePath = relativePathParam(ctx);
    const file = await createFile(ctx, query, (request) =>
      lfs.createAtPath(identityOf(ctx), fileIdParam(ctx), relativePath, { ...request, createParents: query.create_parents }),
    );
    respondCreated(ctx, file);
  });

  router.get('/data/:id/path/{*path}', async (ctx) => {
    downloadQuery(ctx.query);
    const who = identityOf(ctx);
    const file = await lfs.lookupRelative(who, fileIdParam(ctx), relativePathParam(ctx));
    if (file.type === 'DIR') {
      await sendDirectoryTar(ctx, lfs, who, file);
      return;
    }
    await sendFileContent(ctx, lfs, who, downloadTarget(file));
  });

  router.delete('/data/:id/path/{*path}', async (ctx) => {
    noQuery(ctx.query);
    const who = identityOf(ctx);
    const file = await lfs.lookupRelative(who, fileIdParam(ctx), relativePathParam(ctx));
    await lfs.remove(who, file.fileId);
    ctx.status = 204;
  });

  router.get('/data/:id/content', async (ctx) => {
    downloadQuery(ctx.query);
    const who = identityOf(ctx);
    const fileId = fileIdParam(ctx);

    // Without a Range the read itself finds out whether the id names a regular file, which
    // saves resolving the file twice on the hot path of small downloads. A directory, or
    // one a token may only traverse, goes on to the TAR path below.
    if (ctx.get('Range') === '') {
      try {
        await sendFileContent(ctx, lfs, who, { fileId });
        return;
      } catch (error) {
        const errno = OpError.is(error) && error.kind === 'posix' ? error.details['errno'] : undefined;
        if (errno !== 'eisdir' && errno !== 'eacces') throw error;
      }
    }

    const file = await lfs.getAttributes(who, fileId);
    if (file.type === 'DIR') {
      await sendDirectoryTar(ctx, lfs, who, file);
      return;
    }
    await sendFileContent(ctx, lfs, who, downloadTarget(file));
  });

  router.put('/data/:id/content', async (ctx) => {
    const query = updateContentQuery(ctx.query);
    await lfs.write(identityOf(ctx), fileIdParam(ctx), ctx.req, {
      offset: query.offset,
      size: declaredContentLength(ctx),
    });
    ctx.status = 204;
  });

  router.get('/data/:id', async (ctx) => {
    const body = await readJsonBody(ctx.req);
    const options = body === undefined ? attributesQuery(ctx.query) : attributesBody(body);
    if (body !== undefined) noQuery(ctx.query);

    const who = identityOf(ctx);
    const file = await lfs.getAttributes(who, fileIdParam(ctx));
    const selection = parseAttributeSelection(splitNames(options.attributes), isShareScoped(file.fileId));
    ctx.body = await showAttributes(who, file, selection);
  });

  router.put('/data/:id', async (ctx) => {
    noQuery(ctx.query);
    const body = setAttributesBody(await readJsonBody(ctx.req));
    await lfs.setMode(identityOf(ctx), fileIdParam(ctx), parseInt(body.mode, 8));
    ctx.status = 204;
  });

  router.delete('/data/:id', async (ctx) => {
    noQuery(ctx.query);
    await lfs.remove(identityOf(ctx), fileIdParam(ctx));
    ctx.status = 204;
  });
}

/** Return the `{id}` path parameter. The file system checks its format (`badIdentifier`). */
export function fileIdParam(ctx: AppContext): string {
  const id = (ctx as { params?: Record<string, string | undefined> }).params?.['id'];
  if (id === undefined || id === '') throw new OpError('missingValue', 'missing file id', { key: 'id' });
  return id;
}

function relativePathParam(ctx: AppContext): string {
  const raw = rawPathAfter(ctx.path, '/path/', ctx.path.indexOf('/data/') + '/data/'.length);
  const segments = decodePathSegments(raw);
  if (segments.length === 0) throw new OpError('missingValue', 'missing file path after /path/', { key: 'path' });
  return segments.join('/');
}

type CreateCall = (request: CreateFileRequest) => Promise<FileAttributes>;

/** Create a file or directory; a regular file's initial content streams from the request body. */
async function createFile(
  ctx: AppContext,
  query: { type: CreateType; mode?: number; offset: number; target_file_id?: string; target_file_path?: string },
  create: CreateCall,
): Promise<FileAttributes> {
  const withContent = query.type === 'REG' && hasRequestBody(ctx);
  if (query.type !== 'REG' && hasRequestBody(ctx)) {
    throw ApiError.badData('body', `a file of type ${query.type} is created without a request body`);
  }
  if (query.type === 'LNK' && query.target_file_id === undefined) {
    throw ApiError.missingValue('target_file_id', 'type=LNK needs the query parameter "target_file_id"');
  }
  if (query.type === 'SYMLNK' && query.target_file_path === undefined) {
    throw ApiError.missingValue('target_file_path', 'type=SYMLNK needs the query parameter "target_file_path"');
  }

  return create({
    type: query.type,
    targetFileId: query.target_file_id,
    targetFilePath: query.target_file_path,
    mode: query.mode,
    offset: query.offset === 0 ? undefined : query.offset,
    content: withContent ? ctx.req : undefined,
    size: withContent ? declaredContentLength(ctx) : undefined,
  });
}

function respondCreated(ctx: AppContext, file: FileAttributes): void {
  ctx.status = 201;
  ctx.set('Location', `${ctx.protocol}://${ctx.host}${REST_PREFIX}/data/${file.fileId}`);
  ctx.body = { fileId: file.fileId };
}

async function listOptions(ctx: AppContext): Promise<ListOptions> {
  const body = await readJsonBody(ctx.req);
  const options = body === undefined ? listQuery(ctx.query) : listBody(body);
  if (body !== undefined) noQuery(ctx.query);

  if (options.token !== undefined && (options.index !== undefined || options.offset !== undefined)) {
    throw OpError.badValue('token', 'option "token" cannot be combined with "index" or "offset"');
  }
  return options;
}

/** Tell whether a file id is share-scoped; a malformed id is left for the file system to reject. */
function isShareScoped(fileId: string): boolean {
  try {
    return decodeFileId(fileId).shareId !== undefined;
  } catch {
    return false;
  }
}

/** Attribute lists from a query string may be comma-separated or repeated. */
function splitNames(names: string[] | undefined): string[] | undefined {
  return names?.flatMap((name) => name.split(',')).filter((name) => name !== '');
}

/** Map attributes to the REST shape, reading what the selection needs beyond the file's document. */
export async function showFileAttributes(
  { lfs, qos }: { lfs: LogicalFileSystem; qos?: QosService },
  who: Identity,
  file: FileAttributes,
  selection: AttributeSelection,
): Promise<Record<string, unknown>> {
  const xattrs = selection.xattrs.length === 0 ? {} : await lfs.getXattrs(who, file.fileId);
  const computed: ComputedAttributes = {};
  if (selection.names.includes('hasCustomMetadata')) computed.hasCustomMetadata = await hasCustomMetadata(lfs, who, file.fileId);
  if (selection.names.some((name) => name === 'localReplicationRate' || name === 'isFullyReplicatedLocally' || name === 'originProviderId')) {
    const distribution = await lfs.getDistribution(who, file.fileId);
    const held = Math.max(0, ...distribution.storages.map((storage) => storage.blocks.reduce((sum, [, length]) => sum + length, 0)));
    computed.localReplicationRate = distribution.size === 0 ? 1 : Math.min(1, held / distribution.size);
    computed.providerId = distribution.providerId;
  }
  const withStatus = selection.names.includes('aggregateQosStatus');
  if (qos && (withStatus || selection.names.includes('effQosInheritancePath'))) {
    computed.qos = await qos.fileQos(file.fileId, { withStatus });
  }
  return toRestAttributes(file, selection, xattrs, computed);
}

async function hasCustomMetadata(lfs: LogicalFileSystem, who: Identity, fileId: string): Promise<boolean> {
  if (Object.keys(await lfs.getXattrs(who, fileId)).length > 0) return true;
  const present = async (read: () => Promise<unknown>): Promise<boolean> =>
    read().then(
      () => true,
      (error: unknown) => {
        if (OpError.is(error) && error.kind === 'notFound') return false;
        throw error;
      },
    );
  return (await present(() => lfs.getJsonMetadata(who, fileId))) || present(() => lfs.getRdfMetadata(who, fileId));
}

function downloadTarget(file: FileAttributes): { fileId: string; size: number } {
  return { fileId: file.fileId, size: file.size };
}
