import type { MetadataStore, StoredDocument } from '../metadata/store.js';
import type { FileType, JsonValue } from './types.js';

/** Collections of the metadata store used by the logical file system. */
export const COLLECTIONS = {
  file: 'file',
  location: 'file_location',
  xattrs: 'xattrs',
  json: 'json_metadata',
  space: 'space',
  spaceName: 'space_name',
  storage: 'storage',
  importStats: 'import_stats',
  rdf: 'rdf_metadata',
  share: 'share',
} as const;

/** A file's metadata document, keyed by its uuid. Times are milliseconds since the epoch. */
export interface FileDoc {
  uuid: string;
  spaceId: string;
  /** Uuid of the parent directory; null for a space root. */
  parentUuid: string | null;
  name: string;
  type: FileType;
  mode: number;
  /** Logical size in bytes: never larger than the data stored, so no file claims bytes it lacks. */
  size: number;
  ownerUserId: string;
  uid: number;
  gid: number;
  creationTimeMs: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Value of a symbolic link. */
  symlinkValue?: string;
  /**
   * Set on a hard link: the uuid of the file document (the inode) whose data, size, times
   * and metadata the link shares. The link document itself holds only its name and parent.
   */
  inodeUuid?: string;
  /** Set on an inode: the uuids of its hard links. */
  linkUuids?: string[];
  /**
   * Set on an inode whose own name was deleted while hard links remained. Its data then
   * lives at the path recorded in its file locations, not at a path derived from its name.
   */
  detached?: boolean;
  /** Ids of the shares whose root is this file. */
  shareIds?: string[];
}

/**
 * Which bytes of a file one storage holds. Keyed by `<fileUuid>:<storageId>`. The provider
 * id is kept so that several providers supporting one space need no data migration.
 */
export interface FileLocationDoc {
  fileUuid: string;
  spaceId: string;
  storageId: string;
  providerId: string;
  /** Path of the data on the storage. */
  storageFileId: string;
  /** Held byte ranges as [offset, length] pairs, sorted and not overlapping. */
  blocks: Array<[number, number]>;
  /** Modification time of the data on an imported storage when it was last scanned; unset after a write through the worker. */
  storageMtimeMs?: number;
}

export interface SpaceSupport {
  storageId: string;
  /** Quota in bytes; 0 means unlimited. */
  size: number;
  /** Directory of the space on that storage ('' is the storage root, used for imported storages). */
  storagePrefix: string;
}

export interface SpaceDoc {
  spaceId: string;
  name: string;
  ownerUserId: string;
  rootUuid: string;
  members: string[];
  supports: SpaceSupport[];
  creationTimeMs: number;
}

export type XattrsDoc = Record<string, JsonValue>;

export function locationKey(fileUuid: string, storageId: string): string {
  return `${fileUuid}:${storageId}`;
}

/** Uuid of a space's trash directory, which contains directories being deleted in the background. */
export function spaceTrashUuid(spaceId: string): string {
  return `trash_${spaceId}`;
}

/** Name of the trash directory below the space root; it is not listed among the root's children. */
export const TRASH_DIR_NAME = '.trash';

/** Storage folder, below a space's storage prefix, for the data of inodes whose name was deleted. */
export const DETACHED_DATA_DIR = '.detached';

/**
 * Prefix of names the worker and its helpers use on storages for their own objects
 * (temporary upload files, verification probes). Users cannot create such names, and
 * import never registers them.
 */
export const RESERVED_NAME_PREFIX = '.op-worker-';

/** Tell whether a name is reserved for the worker: the prefix anywhere, trash and detached data in a space root. */
export function isReservedName(name: string, inSpaceRoot: boolean): boolean {
  if (name.startsWith(RESERVED_NAME_PREFIX)) return true;
  return inSpaceRoot && (name === TRASH_DIR_NAME || name === DETACHED_DATA_DIR);
}

/** Uuid of a space's root directory; fixed so that it can be derived from the space id. */
export function spaceRootUuid(spaceId: string): string {
  return `space_${spaceId}`;
}

export const DEFAULT_FILE_MODE = 0o664;
export const DEFAULT_DIR_MODE = 0o775;

/** Add a written range to a sorted list of blocks, merging overlaps and neighbours. */
export function addBlock(blocks: ReadonlyArray<[number, number]>, offset: number, length: number): Array<[number, number]> {
  if (length <= 0) return blocks.map(([o, l]) => [o, l]);

  const merged: Array<[number, number]> = [];
  let start = offset;
  let end = offset + length;
  for (const [blockOffset, blockLength] of blocks) {
    const blockEnd = blockOffset + blockLength;
    if (blockEnd < start || blockOffset > end) {
      merged.push([blockOffset, blockLength]);
    } else {
      start = Math.min(start, blockOffset);
      end = Math.max(end, blockEnd);
    }
  }
  merged.push([start, end - start]);
  return merged.sort((a, b) => a[0] - b[0]);
}

/** Cut blocks to `[0, size)`. */
export function truncateBlocks(blocks: ReadonlyArray<[number, number]>, size: number): Array<[number, number]> {
  const kept: Array<[number, number]> = [];
  for (const [offset, length] of blocks) {
    if (offset >= size) continue;
    kept.push([offset, Math.min(length, size - offset)]);
  }
  return kept;
}

/**
 * Read several documents of one collection in one store call: `get` for a single key,
 * which costs SQLite less than the batched query, else `getMany`.
 */
export async function readDocuments<T>(store: MetadataStore, collection: string, keys: readonly string[]): Promise<Map<string, StoredDocument<T>>> {
  if (keys.length !== 1) return store.getMany<T>(collection, keys);
  const key = keys[0] as string;
  const document = await store.get<T>(collection, key);
  return document === undefined ? new Map() : new Map([[key, document]]);
}
