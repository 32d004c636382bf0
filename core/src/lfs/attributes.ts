import { encodeFileId } from '../ids/file-id.js';
import type { FileDoc } from './model.js';
import type { FileAttributes } from './types.js';

const toSeconds = (milliseconds: number): number => Math.floor(milliseconds / 1000);

/** Build the client-facing attributes of a file whose logical path is known. */
export function toAttributes(doc: FileDoc, path: string): FileAttributes {
  const links = doc.linkUuids?.length ?? 0;
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
    hardlinkCount: links + (doc.detached ? 0 : 1),
    symlinkValue: doc.type === 'SYMLNK' ? (doc.symlinkValue ?? '') : null,
    directShareIds: doc.shareIds ?? [],
    path,
    index: doc.name,
  };
}

/**
 * Attributes of a hard link: the inode's data and times under the link's own id, name,
 * parent and path.
 */
export function toLinkAttributes(link: FileDoc, inode: FileDoc, path: string): FileAttributes {
  return {
    ...toAttributes(inode, path),
    fileId: encodeFileId({ fileUuid: link.uuid, spaceId: link.spaceId }),
    name: link.name,
    index: link.name,
    parentFileId: link.parentUuid === null ? null : encodeFileId({ fileUuid: link.parentUuid, spaceId: link.spaceId }),
    directShareIds: link.shareIds ?? [],
  };
}
