import type Router from '@koa/router';
import type { IncomingMessage } from 'node:http';
import { OpError, type Identity, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { ACL_XATTR, parseAcl } from '../http/acl.js';
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

export const getXattrsQuery = queryValidator<GetXattrsQuery>({
  type: 'object',
  properties: {
    attribute: { type: 'string', minLength: 1 },
    inherited: { type: 'boolean', default: false },
    show_internal: { type: 'boolean', default: false },
    resolve_symlink: { type: 'boolean', default: true },
  },
  additionalProperties: false,
});

export const symlinkQuery = queryValidator<{ resolve_symlink: boolean }>({
  type: 'object',
  properties: { resolve_symlink: { type: 'boolean', default: true } },
  additionalProperties: false,
});

export const setXattrsBody = bodyValidator<Record<string, JsonValue>>({ type: 'object', minProperties: 1 });

export const removeXattrsBody = bodyValidator<{ keys: string[] }>({
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

export const jsonMetadataQuery = queryValidator<JsonMetadataQuery>({
  type: 'object',
  properties: {
    filter_type: { type: 'string', enum: ['keypath'] },
    filter: { type: 'string' },
    inherited: { type: 'boolean', default: false },
    resolve_symlink: { type: 'boolean', default: true },
  },
  additionalProperties: false,
});

/** Largest RDF document accepted, in bytes. */
const MAX_RDF_BYTES = 1024 * 1024;

/** Register `/data/{id}/metadata/xattrs`, `/json` and `/rdf`. */
export function registerMetadataRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
  router.get('/data/:id/metadata/xattrs', async (ctx) => {
    const query = getXattrsQuery(ctx.query);
    const who = identityOf(ctx);
    const sources = query.inherited ? await lfs.listAncestorIds(who, fileIdParam(ctx)) : [fileIdParam(ctx)];
    // Ancestors first, so the nearest file's value wins.
    let all: Record<string, JsonValue> = {};
    for (const id of sources) all = { ...all, ...(await lfs.getXattrs(who, id)) };
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
    // Store the ACL in the form the authorizer reads. The authorizer skips malformed entries, which would leave the file to its mode bits.
    if (values[ACL_XATTR] !== undefined) values[ACL_XATTR] = parseAcl(values[ACL_XATTR]) as unknown as JsonValue;
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
    const who = identityOf(ctx);
    const document = query.inherited ? await inheritedJson(lfs, who, fileIdParam(ctx)) : await lfs.getJsonMetadata(who, fileIdParam(ctx));
    ctx.body = JSON.stringify(query.filter === undefined ? document : selectKeyPath(document, parseKeyPath(query.filter)));
    ctx.type = 'application/json';
  });

  router.put('/data/:id/metadata/json', async (ctx) => {
    const query = jsonMetadataQuery(ctx.query);
    if (query.inherited) throw OpError.badValue('inherited', 'query parameter "inherited" applies only to reading JSON metadata');
    const document = await readJsonBody(ctx.req);
    if (document === undefined) throw new OpError('missingValue', 'missing JSON metadata document in the request body', { key: 'body' });

    const who = identityOf(ctx);
    const fileId = fileIdParam(ctx);
    if (query.filter === undefined) {
      await lfs.setJsonMetadata(who, fileId, document as JsonValue);
    } else {
      const steps = parseKeyPath(query.filter);
      const current = await lfs.getJsonMetadata(who, fileId).catch((error: unknown) => {
        if (OpError.is(error) && error.kind === 'notFound') return {};
        throw error;
      });
      await lfs.setJsonMetadata(who, fileId, setKeyPath(current, steps, document as JsonValue));
    }
    ctx.status = 204;
  });

  router.get('/data/:id/metadata/rdf', async (ctx) => {
    symlinkQuery(ctx.query);
    ctx.type = 'application/rdf+xml';
    ctx.body = await lfs.getRdfMetadata(identityOf(ctx), fileIdParam(ctx));
  });

  router.put('/data/:id/metadata/rdf', async (ctx) => {
    symlinkQuery(ctx.query);
    if (!ctx.is('application/rdf+xml')) {
      throw new ApiError(415, 'unsupportedMediaType', `RDF metadata must be sent as Content-Type: application/rdf+xml, got "${ctx.get('Content-Type') || 'none'}"`, { key: 'Content-Type' });
    }
    const document = (await buffer(ctx.req, MAX_RDF_BYTES)).toString('utf8');
    await lfs.setRdfMetadata(identityOf(ctx), fileIdParam(ctx), document);
    ctx.status = 204;
  });

  router.delete('/data/:id/metadata/rdf', async (ctx) => {
    symlinkQuery(ctx.query);
    await lfs.removeRdfMetadata(identityOf(ctx), fileIdParam(ctx));
    ctx.status = 204;
  });

  router.delete('/data/:id/metadata/json', async (ctx) => {
    symlinkQuery(ctx.query);
    await lfs.removeJsonMetadata(identityOf(ctx), fileIdParam(ctx));
    ctx.status = 204;
  });
}

/** One step of a key path: an object key or an array index. */
export type KeyPathStep = { key: string } | { index: number };

/**
 * Parse an Onedata key path: keys separated by dots, array elements as `[n]` (e.g.
 * `a.b.[2].c`). Empty keys and malformed brackets are `badValue` naming `filter`.
 */
export function parseKeyPath(keyPath: string): KeyPathStep[] {
  return keyPath.split('.').map((step) => {
    const arrayIndex = /^\[(\d+)\]$/.exec(step);
    if (arrayIndex !== null) return { index: Number(arrayIndex[1]) };
    if (step === '' || step.includes('[') || step.includes(']')) {
      throw OpError.badValue('filter', `key path "${keyPath}" is invalid: use keys separated by dots and array indexes as [n], e.g. a.b.[2].c`);
    }
    return { key: step };
  });
}

/** Select a part of a JSON document by key path; a missing part is `notFound`. */
export function selectKeyPath(document: JsonValue, steps: readonly KeyPathStep[]): JsonValue {
  let current: JsonValue = document;
  for (const step of steps) {
    const next = childOf(current, step);
    if (next === undefined) throw OpError.notFound('JSON metadata at the key path', { key: 'filter' });
    current = next;
  }
  return current;
}

function childOf(value: JsonValue, step: KeyPathStep): JsonValue | undefined {
  if ('index' in step) return Array.isArray(value) ? value[step.index] : undefined;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, step.key)) return value[step.key];
  return undefined;
}

/** Return a copy of `document` with the part at the key path replaced, creating missing objects and arrays. */
export function setKeyPath(document: JsonValue, steps: readonly KeyPathStep[], value: JsonValue): JsonValue {
  const [step, ...rest] = steps;
  if (step === undefined) return value;

  if ('index' in step) {
    const array = Array.isArray(document) ? [...document] : [];
    while (array.length < step.index) array.push(null);
    array[step.index] = setKeyPath(array[step.index] ?? null, rest, value);
    return array;
  }
  const object = document !== null && typeof document === 'object' && !Array.isArray(document) ? { ...document } : {};
  object[step.key] = setKeyPath(object[step.key] ?? null, rest, value);
  return object;
}

/** Merge the JSON metadata of the space root, every ancestor and the file; nearer keys win. */
async function inheritedJson(lfs: LogicalFileSystem, who: Identity, fileId: string): Promise<JsonValue> {
  let merged: JsonValue = {};
  let found = false;
  for (const id of await lfs.listAncestorIds(who, fileId)) {
    const document = await lfs.getJsonMetadata(who, id).catch((error: unknown) => {
      if (OpError.is(error) && error.kind === 'notFound') return undefined;
      throw error;
    });
    if (document === undefined) continue;
    found = true;
    merged = isObject(merged) && isObject(document) ? { ...merged, ...document } : document;
  }
  if (!found) throw OpError.notFound('JSON metadata of the file and its ancestors');
  return merged;
}

function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Read a whole small request body, rejecting one larger than `maxBytes` with 413. */
async function buffer(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new ApiError(413, 'payloadTooLarge', `RDF metadata is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
