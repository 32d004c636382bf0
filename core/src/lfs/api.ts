import type { Readable } from 'node:stream';
import type { FileAccess } from '../authz/access.js';
import type { ListRecursiveRequest, ListRecursiveResult } from './recursive.js';
import type {
  CreateFileRequest,
  FileChange,
  FileDistribution,
  FileAttributes,
  Identity,
  JsonValue,
  ListChildrenRequest,
  ListChildrenResult,
  ReadResult,
  SpaceInfo,
  WriteRequest,
} from './types.js';

/**
 * The logical file system: the one API through which REST, CDMI and embedding
 * programs reach files. File ids are client-facing CDMI object ids. Errors are
 * `OpError`: `badIdentifier` for malformed ids, `notFound` for missing files and
 * spaces, `posix` with an errno for file system conditions (eexist, enotdir, eisdir,
 * enotempty, eperm), `rangeNotSatisfiable`, `badValue` for invalid arguments.
 */
export interface LogicalFileSystem {
  /** Spaces the user belongs to (all spaces for admins). */
  listSpaces(who: Identity): Promise<SpaceInfo[]>;
  getSpace(who: Identity, spaceId: string): Promise<SpaceInfo>;

  /** Resolve `/<space name>/a/b` (leading slash optional) to a file. */
  lookupPath(who: Identity, logicalPath: string): Promise<FileAttributes>;
  /** Resolve a path relative to a directory id or a space id. */
  lookupRelative(who: Identity, baseId: string, relativePath: string): Promise<FileAttributes>;

  getAttributes(who: Identity, fileId: string): Promise<FileAttributes>;

  /** Create a file or directory; throws posix eexist when the name is taken. */
  create(who: Identity, parentId: string, name: string, request: CreateFileRequest): Promise<FileAttributes>;
  /**
   * Create at a path relative to a directory or space id. With `createParents`,
   * missing intermediate directories are made; otherwise a missing one is `notFound`.
   */
  createAtPath(
    who: Identity,
    baseId: string,
    relativePath: string,
    request: CreateFileRequest & { createParents?: boolean },
  ): Promise<FileAttributes>;

  listChildren(who: Identity, dirId: string, request: ListChildrenRequest): Promise<ListChildrenResult>;

  /** Stream `[offset, offset + length)` of a regular file; past-the-end bytes are not returned. */
  read(who: Identity, fileId: string, range?: { offset: number; length?: number }): Promise<ReadResult>;
  /** Write content; see `WriteRequest`. The file's size and times are updated after the data is stored. */
  write(who: Identity, fileId: string, data: Readable, request: WriteRequest): Promise<FileAttributes>;
  truncate(who: Identity, fileId: string, size: number): Promise<FileAttributes>;

  /** Move and/or rename; an existing target file is replaced, an existing target directory must be empty. */
  rename(who: Identity, fileId: string, newParentId: string, newName: string): Promise<FileAttributes>;
  /** Delete a file, or a directory with everything below it. A space root cannot be deleted (posix eperm). */
  remove(who: Identity, fileId: string): Promise<void>;
  /** Remove a file or tree from the namespace only, keeping its data on the storages (for import). */
  forget(who: Identity, fileId: string): Promise<void>;

  setMode(who: Identity, fileId: string, mode: number): Promise<FileAttributes>;

  /**
   * Check that `who` has every listed access to a file, throwing the error the
   * operation needing it would throw. For requests made of several operations, so
   * that a later denial cannot leave the earlier ones done.
   */
  checkAccess(who: Identity, fileId: string, accesses: readonly FileAccess[]): Promise<void>;

  /** Extended attributes (user-visible, string or JSON values). */
  getXattrs(who: Identity, fileId: string): Promise<Record<string, JsonValue>>;
  setXattrs(who: Identity, fileId: string, values: Record<string, JsonValue>): Promise<void>;
  removeXattrs(who: Identity, fileId: string, names: readonly string[]): Promise<void>;

  /** JSON metadata document; `notFound` when none is set. */
  getJsonMetadata(who: Identity, fileId: string): Promise<JsonValue>;
  setJsonMetadata(who: Identity, fileId: string, value: JsonValue): Promise<void>;
  removeJsonMetadata(who: Identity, fileId: string): Promise<void>;

  /** Ids of every name of the file's inode (hard links), its own first unless that name was deleted. */
  getHardlinks(who: Identity, fileId: string): Promise<string[]>;
  /** Target path of a symbolic link; posix einval for other files. */
  getSymlinkValue(who: Identity, fileId: string): Promise<string>;
  /** Id of the space's trash directory, which holds directories being deleted. */
  getTrashDirId(who: Identity, spaceId: string): Promise<string>;

  /** Non-directory files below a directory, depth-first in name order, with relative paths. */
  listRecursive(who: Identity, dirId: string, request: ListRecursiveRequest): Promise<ListRecursiveResult>;
  /** Ids from the space root down to the file itself. */
  listAncestorIds(who: Identity, fileId: string): Promise<string[]>;
  /** Where the file's data is on each storage of its space. */
  getDistribution(who: Identity, fileId: string): Promise<FileDistribution>;

  /** RDF metadata document (text); `notFound` when none is set. */
  getRdfMetadata(who: Identity, fileId: string): Promise<string>;
  setRdfMetadata(who: Identity, fileId: string, value: string): Promise<void>;
  removeRdfMetadata(who: Identity, fileId: string): Promise<void>;

  /**
   * File changes of a space with `seq > afterSeq`, in order; other kinds of change are
   * skipped, and so are files outside a token's data caveats. Needs the
   * `space_view_changes_stream` privilege. An empty result means no visible change up to
   * the end of the feed, so a caller may go on from a `lastChangeSeq` read before the call.
   */
  readChanges(who: Identity, spaceId: string, afterSeq: number, limit: number): Promise<FileChange[]>;
  /** Sequence number of the newest change of a space; needs `space_view_changes_stream`. */
  lastChangeSeq(who: Identity, spaceId: string): Promise<number>;
}
