import type Router from '@koa/router';
import { OpError, type CreateFileRequest, type FileAttributes, type Identity, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { declaredContentLength, hasRequestBody, sendFileContent } from '../http/content.js';
import { readJsonBody } from '../http/json-body.js';
import { decodePathSegments, rawPathAfter } from '../http/request-path.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { parseAttributeSelection, toRestAttributes, type AttributeSelection } from './attributes.js';

/**
 * File routes of the REST API: lookup, create, list, download, upload, attributes and
 * removal. Paths in `{path}` parameters span several segments and are decoded segment
 * by segment (see `decodePathSegments`).
 */

export const REST_PREFIX = '/api/v3/oneprovider';

interface CreateQuery {
  name: string;
  type: 'REG' | 'DIR';
  mode?: number;
  offset: number;
}

const createQuery = queryValidator<CreateQuery>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    type: { type: 'string', enum: ['REG', 'DIR'], default: 'REG' },
    mode: { type: 'integer', minimum: 0, maximum: 0o7777 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
  required: ['name'],
  additionalProperties: false,
});

interface CreateAtPathQuery {
  type: 'REG' | 'DIR';
  mode?: number;
  offset: number;
  create_parents: boolean;
}

const createAtPathQuery = queryValidator<CreateAtPathQuery>({
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['REG', 'DIR'], default: 'REG' },
    mode: { type: 'integer', minimum: 0, maximum: 0o7777 },
    offset: { type: 'integer', minimum: 0, default: 0 },
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
const listQuery = queryValidator<ListOptions>({ type: 'object', properties: listProperties, additionalProperties: false });
const listBody = bodyValidator<ListOptions>({ type: 'object', properties: listProperties, additionalProperties: false });

interface AttributesOptions {
  attributes?: string[];
}

const attributesProperties = { attributes: { type: 'array', items: { type: 'string' } } };
const attributesQuery = queryValidator<AttributesOptions>({ type: 'object', properties: attributesProperties, additionalProperties: false });
const attributesBody = bodyValidator<AttributesOptions>({ type: 'object', properties: attributesProperties, additionalProperties: false });

const setAttributesBody = bodyValidator<{ mode: string }>({
  type: 'object',
  properties: { mode: { type: 'string', pattern: '^0?[0-7]{1,4}$' } },
  required: ['mode'],
  additionalProperties: false,
});

interface OffsetQuery {
  offset?: number;
}

const updateContentQuery = queryValidator<OffsetQuery>({
  type: 'object',
  properties: { offset: { type: 'integer', minimum: 0 } },
  additionalProperties: false,
});

const downloadQuery = queryValidator<{ follow_symlinks?: boolean }>({
  type: 'object',
  properties: { follow_symlinks: { type: 'boolean' } },
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/** Register the `/lookup-file-id` and `/data/{id}...` routes (except metadata). */
export function registerFileRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
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
    const selection = parseAttributeSelection(splitNames(options.attributes));

    const page = await lfs.listChildren(who, fileIdParam(ctx), {
      limit: options.limit,
      token: options.token,
      index: options.index,
      offset: options.offset,
    });
    const children = await Promise.all(page.children.map((child) => showAttributes(lfs, who, child, selection)));
    ctx.body = { children, isLast: page.isLast, nextPageToken: page.nextPageToken };
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
    await sendFileContent(ctx, lfs, identityOf(ctx), { fileId: fileIdParam(ctx) });
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
    ctx.body = await showAttributes(lfs, who, file, parseAttributeSelection(splitNames(options.attributes)));
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
  query: { type: 'REG' | 'DIR'; mode?: number; offset: number },
  create: CreateCall,
): Promise<FileAttributes> {
  const withContent = query.type === 'REG' && hasRequestBody(ctx);
  if (query.type === 'DIR' && hasRequestBody(ctx)) {
    throw ApiError.badData('body', 'a directory is created without a request body');
  }

  return create({
    type: query.type,
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

/** Attribute lists from a query string may be comma-separated or repeated. */
function splitNames(names: string[] | undefined): string[] | undefined {
  return names?.flatMap((name) => name.split(',')).filter((name) => name !== '');
}

async function showAttributes(
  lfs: LogicalFileSystem,
  who: Identity,
  file: FileAttributes,
  selection: AttributeSelection,
): Promise<Record<string, unknown>> {
  const xattrs = selection.xattrs.length === 0 ? {} : await lfs.getXattrs(who, file.fileId);
  return toRestAttributes(file, selection, xattrs);
}

function downloadTarget(file: FileAttributes): { fileId: string; size: number } {
  if (file.type === 'DIR') {
    throw new OpError('notImplemented', `"${file.path}" is a directory; downloading a directory as an archive is not implemented`);
  }
  return { fileId: file.fileId, size: file.size };
}
