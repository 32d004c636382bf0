import type Router from '@koa/router';
import { OpError, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppState } from '../state.js';
import { fileIdParam } from './files.js';

/**
 * Extended attributes and JSON metadata of a file. Names starting with `cdmi_` are kept
 * for CDMI's own bookkeeping (mimetype, value encoding) and are hidden unless
 * `show_internal=true`, as in Onedata.
 */

const INTERNAL_PREFIX = 'cdmi_';

interface GetXattrsQuery {
  attribute?: string;
  inherited: boolean;
  show_internal: boolean;
  resolve_symlink: boolean;
}

const getXattrsQuery = queryValidator<GetXattrsQuery>({
  type: 'object',
  properties: {
    attribute: { type: 'string', minLength: 1 },
    inherited: { type: 'boolean', default: false },
    show_internal: { type: 'boolean', default: false },
    resolve_symlink: { type: 'boolean', default: true },
  },
  additionalProperties: false,
});

const symlinkQuery = queryValidator<{ resolve_symlink: boolean }>({
  type: 'object',
  properties: { resolve_symlink: { type: 'boolean', default: true } },
  additionalProperties: false,
});

const setXattrsBody = bodyValidator<Record<string, JsonValue>>({ type: 'object', minProperties: 1 });

const removeXattrsBody = bodyValidator<{ keys: string[] }>({
  type: 'object',
  properties: { keys: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 } },
  required: ['keys'],
  additionalProperties: false,
});

interface JsonMetadataQuery {
  filter_type?: 'keypath';
  filter?: string;
  inherited: boolean;
  resolve_symlink: boolean;
}

const jsonMetadataQuery = queryValidator<JsonMetadataQuery>({
  type: 'object',
  properties: {
    filter_type: { type: 'string', enum: ['keypath'] },
    filter: { type: 'string' },
    inherited: { type: 'boolean', default: false },
    resolve_symlink: { type: 'boolean', default: true },
  },
  additionalProperties: false,
});

/** Register `/data/{id}/metadata/xattrs` and `/data/{id}/metadata/json`. */
export function registerMetadataRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
  router.get('/data/:id/metadata/xattrs', async (ctx) => {
    const query = getXattrsQuery(ctx.query);
    rejectInherited(query.inherited);

    const all = await lfs.getXattrs(identityOf(ctx), fileIdParam(ctx));
    const visible = Object.fromEntries(
      Object.entries(all).filter(([name]) => query.show_internal || !name.startsWith(INTERNAL_PREFIX)),
    );
    if (query.attribute === undefined) {
      ctx.body = visible;
      return;
    }
    if (!(query.attribute in visible)) throw OpError.notFound(`extended attribute "${query.attribute}"`, { key: 'attribute' });
    ctx.body = { [query.attribute]: visible[query.attribute] };
  });

  router.put('/data/:id/metadata/xattrs', async (ctx) => {
    symlinkQuery(ctx.query);
    const values = setXattrsBody(await readJsonBody(ctx.req));
    await lfs.setXattrs(identityOf(ctx), fileIdParam(ctx), values);
    ctx.status = 204;
  });

  router.delete('/data/:id/metadata/xattrs', async (ctx) => {
    symlinkQuery(ctx.query);
    const body = removeXattrsBody(await readJsonBody(ctx.req));
    await lfs.removeXattrs(identityOf(ctx), fileIdParam(ctx), body.keys);
    ctx.status = 204;
  });

  router.get('/data/:id/metadata/json', async (ctx) => {
    const query = jsonMetadataQuery(ctx.query);
    rejectInherited(query.inherited);

    const document = await lfs.getJsonMetadata(identityOf(ctx), fileIdParam(ctx));
    ctx.body = JSON.stringify(query.filter === undefined ? document : selectKeyPath(document, query.filter));
    ctx.type = 'application/json';
  });

  router.put('/data/:id/metadata/json', async (ctx) => {
    const query = jsonMetadataQuery(ctx.query);
    if (query.filter !== undefined) {
      throw new OpError('notImplemented', 'setting a part of the JSON metadata with "filter" is not implemented; send the whole document');
    }
    const document = await readJsonBody(ctx.req);
    if (document === undefined) throw new OpError('missingValue', 'missing JSON metadata document in the request body', { key: 'body' });
    await lfs.setJsonMetadata(identityOf(ctx), fileIdParam(ctx), document as JsonValue);
    ctx.status = 204;
  });

  router.delete('/data/:id/metadata/json', async (ctx) => {
    symlinkQuery(ctx.query);
    await lfs.removeJsonMetadata(identityOf(ctx), fileIdParam(ctx));
    ctx.status = 204;
  });
}

function rejectInherited(inherited: boolean): void {
  if (inherited) throw new OpError('notImplemented', 'inherited metadata ("inherited=true") is not implemented');
}

/**
 * Select a part of a JSON document by an Onedata key path: keys separated by dots,
 * array elements as `[n]` (e.g. `a.b.[2].c`). A missing part is `notFound`.
 */
export function selectKeyPath(document: JsonValue, keyPath: string): JsonValue {
  let current: JsonValue = document;
  for (const step of keyPath.split('.')) {
    const arrayIndex = /^\[(\d+)\]$/.exec(step);
    if (arrayIndex !== null && Array.isArray(current)) {
      const element: JsonValue | undefined = current[Number(arrayIndex[1])];
      if (element === undefined) throw OpError.notFound(`JSON metadata key path "${keyPath}"`, { key: 'filter' });
      current = element;
    } else if (current !== null && typeof current === 'object' && !Array.isArray(current) && step in current) {
      current = current[step] as JsonValue;
    } else {
      throw OpError.notFound(`JSON metadata key path "${keyPath}"`, { key: 'filter' });
    }
  }
  return current;
}
