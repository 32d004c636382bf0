import type { Readable } from 'node:stream';
import type { TokenCaveat } from '../auth/caveats.js';
import type { Ace } from '../authz/acl.js';

/** Who performs an operation; `core/src/authz` decides what they may do. */
export interface Identity {
  userId: string;
  /** Provider administrators may manage storages, spaces and users. */
  isAdmin: boolean;
  /** Id of the token the request used, for logs. */
  tokenId?: string;
  /** Set for a request without a token: it may only read files through share-scoped ids. */
  guest?: boolean;
  /** Caveats of the token the request used; the file system enforces the `data.*` ones. */
  caveats?: readonly TokenCaveat[];
}

/** The identity of requests without a token. No space lists this user id as a member. */
export const GUEST_IDENTITY: Identity = Object.freeze({ userId: 'nobody', isAdmin: false, guest: true });

export type FileType = 'REG' | 'DIR' | 'SYMLNK';

/** Attributes of a file, as the REST API and CDMI show them. Times are UNIX seconds. */
export interface FileAttributes {
  fileId: string;
  name: string;
  type: FileType;
  /** Permission bits, e.g. 0o664. */
  mode: number;
  /** Bytes; for directories 0. */
  size: number;
  spaceId: string;
  /** Null for a space root. */
  parentFileId: string | null;
  ownerUserId: string;
  displayUid: number;
  displayGid: number;
  creationTime: number;
  atime: number;
  mtime: number;
  ctime: number;
  hardlinkCount: number;
  /** Target path of a symbolic link; null for other files. */
  symlinkValue: string | null;
  /** Ids of the shares whose root is this file. */
  directShareIds: string[];
  /** Logical path `/<space name>/...`. */
  path: string;
  /** Listing cursor of this entry in its parent (its name). */
  index: string;
  /**
   * The file's ACL, empty when it has none (its mode bits apply). Read only by
   * `getAttributes` and `listChildren`; undefined where it was not read.
   */
  acl?: Ace[];
}

export interface SpaceInfo {
  spaceId: string;
  name: string;
  /** File id of the space root directory. */
  dirId: string;
  ownerUserId: string;
  /** Ids of the storages that support the space, the first one preferred for new data. */
  storageIds: string[];
}

export interface ListChildrenRequest {
  /** 1..1000, default 1000. */
  limit?: number;
  /** `nextPageToken` of a previous page. */
  token?: string;
  /** Start at the first name >= index. */
  index?: string;
  /** Shift the start by this many entries (-500..500) relative to `index`. */
  offset?: number;
}

export interface ListChildrenResult {
  children: FileAttributes[];
  isLast: boolean;
  /** Null on the last page. */
  nextPageToken: string | null;
}

export interface CreateFileRequest {
  /** `LNK` makes a hard link to `targetFileId`; `SYMLNK` a symbolic link whose value is `targetFilePath`. */
  type: 'REG' | 'DIR' | 'LNK' | 'SYMLNK';
  /** Target of a hard link (type `LNK`). */
  targetFileId?: string;
  /** Value of a symbolic link (type `SYMLNK`), stored as given. */
  targetFilePath?: string;
  /** Defaults: 0o664 for files, 0o775 for directories. */
  mode?: number;
  /** Initial content of a regular file. */
  content?: Readable;
  /** Expected content length, when known. */
  size?: number;
  /** Initial content is written from this byte (zero-filled before). */
  offset?: number;
}

export interface WriteRequest {
  /** Write in place from this byte; undefined truncates and replaces the content. */
  offset?: number;
  /** Expected number of bytes, when known (Content-Length). */
  size?: number;
}

export interface ReadResult {
  stream: Readable;
  /** Size of the whole file when the read started. */
  fileSize: number;
}

/** JSON document stored as a file's JSON metadata. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where a file's data is, per storage of its space. */
export interface FileDistribution {
  type: FileType;
  /** Logical size in bytes; 0 for directories. */
  size: number;
  providerId: string;
  storages: Array<{
    storageId: string;
    providerId: string;
    /** Path of the data on the storage; null when the storage holds no bytes of the file. */
    storageFileId: string | null;
    /** Held byte ranges as [offset, length] pairs. */
    blocks: Array<[number, number]>;
  }>;
}

/** One entry of a space's change feed, as file facts at the time of the change. Times are milliseconds. */
export interface FileChange {
  seq: number;
  fileId: string;
  /** Logical path when the change was read; for a file deleted since, built from its last parent. */
  filePath: string;
  deleted: boolean;
  timeMs: number;
  name: string;
  type: FileType;
  size: number;
  mode?: number;
  ownerUserId?: string;
  atimeMs?: number;
  mtimeMs?: number;
  ctimeMs?: number;
}
