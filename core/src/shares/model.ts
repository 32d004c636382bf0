import type { FileType } from '../lfs/types.js';

/**
 * A share: a file or directory published read-only. Anyone may read it, and everything
 * below it, through share-scoped file ids (`shareGuid#<fileUuid>#<spaceId>#<shareId>`).
 * Stored in the `share` collection, keyed by `shareId`. Times are milliseconds.
 */
export interface ShareDoc {
  shareId: string;
  name: string;
  /** Markdown text shown with the share. */
  description: string;
  spaceId: string;
  /** Uuid of the shared file's entry (a hard link's own document when a link was shared). */
  rootFileUuid: string;
  rootFileType: FileType;
  /** The user who created the share. */
  creatorUserId: string;
  creationTimeMs: number;
}

/** A share as clients see it. */
export interface ShareInfo {
  shareId: string;
  name: string;
  description: string;
  spaceId: string;
  /** Share-scoped id of the shared file, readable without a token. */
  rootFileId: string;
  rootFileType: FileType;
  creationTime: number;
}

export interface CreateShareRequest {
  name: string;
  description?: string;
  /** Id of the file or directory to share; a space's root directory shares the whole space. */
  rootFileId: string;
}

export interface UpdateShareRequest {
  name?: string;
  description?: string;
}
