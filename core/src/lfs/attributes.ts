import { encodeFileId } from '../ids/file-id.js';
import type { FileDoc } from './model.js';
import type { FileAttributes } from './types.js';

const toSeconds = (milliseconds: number): number => Math.floor(milliseconds / 1000);

/** Build the client-facing attributes of a file whose logical path is known. */
export function toAttributes(doc: FileDoc, path: string): FileAttributes {
  return {
    fileId: encodeFileId({ fileUuid: doc.uuid, spaceId: doc.spaceId }),
    name: doc.name,
    type: doc.type,
    mode: doc.mode,
    size: doc.type === 'DIR' ? 0 : doc.size,
    spaceId: doc.spaceId,
    parentFileId: doc.parentUuid === null ? null : encodeFileId({ fileUuid: doc.parentUuid, spaceId: doc.spaceId }),
    ownerUserId: doc.ownerUserId,
    displayUid: doc.uid,
    displayGid: doc.gid,
    creationTime: toSeconds(doc.creationTimeMs),
    atime: toSeconds(doc.atimeMs),
    mtime: toSeconds(doc.mtimeMs),
    ctime: toSeconds(doc.ctimeMs),
    hardlinkCount: 1,
    path,
    index: doc.name,
  };
}
