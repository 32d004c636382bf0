import { encodeFileId } from '../ids/file-id.js';
import type { FileAttributes } from '../lfs/types.js';

/** The share through which a file was reached, and the uuid of the share's root. */
export interface ShareScope {
  shareId: string;
  rootFileUuid: string;
}

/** Permission bits shown to readers through a share: the "other" class only, as in Onedata's public view. */
export const SHARE_VISIBLE_MODE_BITS = 0o007;

/**
 * Rewrite attributes read through a share for the public view: file ids become
 * share-scoped so that a guest can follow them, the share root has no parent, and the
 * mode keeps only the "other" bits. `fileUuid` and `parentUuid` are the entry's own
 * uuids (the hard link's, when the file is a link).
 */
export function scopeAttributes(
  attributes: FileAttributes,
  scope: ShareScope,
  fileUuid: string,
  parentUuid: string | null,
): FileAttributes {
  const atRoot = fileUuid === scope.rootFileUuid;
  return {
    ...attributes,
    fileId: encodeFileId({ fileUuid, spaceId: attributes.spaceId, shareId: scope.shareId }),
    parentFileId: atRoot || parentUuid === null ? null : encodeFileId({ fileUuid: parentUuid, spaceId: attributes.spaceId, shareId: scope.shareId }),
    mode: attributes.mode & SHARE_VISIBLE_MODE_BITS,
  };
}
