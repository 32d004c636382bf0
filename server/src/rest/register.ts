import type Router from '@koa/router';
import type { JsonValue, StorageImporter } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppState } from '../state.js';
import { REST_PREFIX } from './files.js';

interface RegisterBody {
  spaceId: string;
  storageId: string;
  storageFileId: string;
  destinationPath: string;
  size?: number;
  mode?: string;
  atime?: number;
  mtime?: number;
  ctime?: number;
  uid?: string | number;
  gid?: string | number;
  xattrs?: Record<string, JsonValue>;
  json?: JsonValue;
  rdf?: string;
  autoDetectAttributes: boolean;
}

/** Owner ids come as decimal strings in the spec and as numbers in its example; both are accepted. */
const POSIX_ID = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]{1,10}$' }] };
const SECONDS = { type: 'integer', minimum: 0 };

export const registerBody = bodyValidator<RegisterBody>({
  type: 'object',
  properties: {
    spaceId: { type: 'string', minLength: 1 },
    storageId: { type: 'string', minLength: 1 },
    storageFileId: { type: 'string', minLength: 1 },
    destinationPath: { type: 'string', minLength: 1 },
    size: { type: 'integer', minimum: 0 },
    mode: { type: 'string', pattern: '^0?[0-7]{1,4}$' },
    atime: SECONDS,
    mtime: SECONDS,
    ctime: SECONDS,
    uid: POSIX_ID,
    gid: POSIX_ID,
    xattrs: { type: 'object' },
    json: {},
    rdf: { type: 'string' },
    autoDetectAttributes: { type: 'boolean', default: true },
  },
  required: ['spaceId', 'storageId', 'storageFileId', 'destinationPath'],
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/** Register `POST /data/register`: manual import of one file that lies on a space's imported storage. */
export function registerRegistrationRoute(router: Router<AppState>, importer: StorageImporter): void {
  router.post('/data/register', async (ctx) => {
    noQuery(ctx.query);
    const body = registerBody(await readJsonBody(ctx.req));

    const file = await importer.registerFile(identityOf(ctx), {
      spaceId: body.spaceId,
      storageId: body.storageId,
      storageFileId: body.storageFileId,
      destinationPath: body.destinationPath,
      size: body.size,
      mode: body.mode === undefined ? undefined : parseInt(body.mode, 8),
      atime: body.atime,
      mtime: body.mtime,
      ctime: body.ctime,
      uid: body.uid === undefined ? undefined : Number(body.uid),
      gid: body.gid === undefined ? undefined : Number(body.gid),
      xattrs: body.xattrs,
      json: body.json,
      rdf: body.rdf === undefined ? undefined : decodeRdf(body.rdf),
      autoDetectAttributes: body.autoDetectAttributes,
    });

    ctx.status = 201;
    ctx.set('Location', `${ctx.protocol}://${ctx.host}${REST_PREFIX}/data/${file.fileId}`);
    ctx.body = { fileId: file.fileId };
  });
}

/** The spec sends RDF base64-encoded, with line breaks allowed inside. */
function decodeRdf(encoded: string): string {
  const compact = encoded.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw ApiError.badData('rdf', 'rdf must be base64-encoded RDF/XML');
  return Buffer.from(compact, 'base64').toString('utf8');
}
