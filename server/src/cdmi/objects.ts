import { OpError } from '@op-worker/core';
import { logicalPath, type CdmiRequest } from './common.js';
import { getContainer, putContainer } from './containers.js';
import { getDataObject, putDataObject } from './data-objects.js';

/**
 * CDMI containers (directories) and data objects (regular files) addressed by path
 * `/cdmi/<space name>/...`. A trailing slash names a container. `/cdmi/` itself is the
 * caller's root, whose children are their spaces.
 */

export async function handleGet(request: CdmiRequest): Promise<void> {
  if (request.container) await getContainer(request);
  else await getDataObject(request);
}

export async function handlePut(request: CdmiRequest): Promise<void> {
  if (request.container) await putContainer(request);
  else await putDataObject(request);
}

/** Delete a data object, or a container with everything below it; no version header is needed. */
export async function handleDelete(request: CdmiRequest): Promise<void> {
  const { lfs, who, segments, ctx } = request;
  if (segments.length === 0) throw OpError.posix('eperm', 'the CDMI root cannot be deleted');

  const file = await lfs.lookupPath(who, logicalPath(segments));
  await lfs.remove(who, file.fileId);
  ctx.status = 204;
}
