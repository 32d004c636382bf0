import { copyTree, OpError, splitLogicalPath, type FileAttributes, type FileType, type JsonValue } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { assertNameAllowed, findFile, logicalPath, type CdmiRequest } from './common.js';

/**
 * The `copy` and `move` fields of a CDMI PUT body: the object at the request URI is
 * made from a source given as `/<space>/<path>`, `/cdmi_objectid/<id>` or
 * `/cdmi_objectid/<id>/<relative path>` (the leading slash is optional). A copy gets a
 * new object id; a moved object keeps its id.
 */

export interface TransferRequest {
  kind: 'copy' | 'move';
  source: string;
}

/** Body fields of which a CDMI PUT may carry at most one. */
const EXCLUSIVE_FIELDS = ['copy', 'move', 'value', 'reference', 'deserialize', 'deserializevalue'] as const;
const UNSUPPORTED_FIELDS = ['reference', 'deserialize', 'deserializevalue'] as const;

/** Read `copy`/`move` from a body; throws 400 `malformedData` when it names more than one exclusive field. */
export function parseTransferFields(body: Record<string, JsonValue | undefined>): TransferRequest | undefined {
  const present = EXCLUSIVE_FIELDS.filter((field) => body[field] !== undefined);
  if (present.length > 1) {
    throw new ApiError(400, 'malformedData', `body fields ${present.join(', ')} exclude each other; send at most one of ${EXCLUSIVE_FIELDS.join(', ')}`);
  }
  for (const field of UNSUPPORTED_FIELDS) {
    if (body[field] !== undefined) throw new OpError('notImplemented', `CDMI "${field}" is not implemented`, { key: field });
  }

  for (const kind of ['copy', 'move'] as const) {
    const source = body[kind];
    if (source === undefined) continue;
    if (typeof source !== 'string' || source.trim() === '') {
      throw new ApiError(400, 'badValue', `body field "${kind}" must be the source URI, e.g. "/space/dir/file"`, { key: kind });
    }
    return { kind, source };
  }
  return undefined;
}

/**
 * Create the object at the request URI by copying or moving the source. The target
 * must not exist yet (posix eexist otherwise, nothing changed); a source of the other
 * type (a container for a data object URI or the reverse) is 400.
 */
export async function copyOrMove(request: CdmiRequest, transfer: TransferRequest, targetType: FileType): Promise<FileAttributes> {
  const { lfs, who, segments } = request;
  const source = await resolveSource(request, transfer);
  if (source.type !== targetType) {
    const wanted = targetType === 'DIR' ? 'a container' : 'a data object';
    throw new ApiError(400, 'badValue', `${transfer.kind} source "${transfer.source}" is not ${wanted}, as the request URI requires`, { key: transfer.kind });
  }

  const name = segments.at(-1);
  if (segments.length < 2 || name === undefined) throw OpError.posix('eperm', `${transfer.kind} target must be inside a space`);
  assertNameAllowed(name);
  const existing = await findFile(lfs, who, segments);
  if (existing !== undefined) throw OpError.posix('eexist', `${transfer.kind} target "${existing.path}" already exists; delete it first`);
  const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));

  if (transfer.kind === 'move') return lfs.rename(who, source.fileId, parent.fileId, name);
  return copyTree(lfs, who, { sourceId: source.fileId, targetParentId: parent.fileId, targetName: name });
}

async function resolveSource(request: CdmiRequest, transfer: TransferRequest): Promise<FileAttributes> {
  const { lfs, who } = request;
  const segments = splitSourceUri(transfer);
  try {
    if (segments[0] === 'cdmi_objectid') {
      const [objectId, ...relative] = segments.slice(1);
      if (objectId === undefined) throw new ApiError(400, 'badValue', `${transfer.kind} source "${transfer.source}" has no object id`, { key: transfer.kind });
      return relative.length === 0 ? await lfs.getAttributes(who, objectId) : await lfs.lookupRelative(who, objectId, relative.join('/'));
    }
    return await lfs.lookupPath(who, logicalPath(segments));
  } catch (error) {
    if (OpError.is(error) && (error.kind === 'notFound' || error.details['errno'] === 'enoent')) {
      throw new ApiError(400, 'badValue', `${transfer.kind} source "${transfer.source}" not found`, { key: transfer.kind });
    }
    throw error;
  }
}

/** Split a source URI into path segments; it is a raw path, not percent-encoded. */
function splitSourceUri(transfer: TransferRequest): string[] {
  const text = transfer.source.trim().replace(/^\//, '').replace(/\/$/, '');
  try {
    return splitLogicalPath(text);
  } catch (error) {
    throw new ApiError(400, 'badValue', `${transfer.kind} source "${transfer.source}" is not a valid path: ${(error as Error).message}`, { key: transfer.kind });
  }
}
