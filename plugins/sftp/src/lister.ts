import type { ListEntry, ListOptions, ListPage, StorageStat } from '@op-worker/core';
import type { Attributes, SftpConnection } from './client.js';
import { SFTP_STATUS, failure, sftpStatus, type ErrorScene } from './errors.js';
import { TEMP_PREFIX, typeAt } from './writer.js';

/** Entries in one page when the caller gives no limit. */
export const DEFAULT_PAGE_SIZE = 1000;

/** POSIX file type bits of `st_mode`, as SFTP attributes carry them. */
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/**
 * One page of a directory in byte order of the UTF-8 names, after `startAfter`.
 *
 * SFTP's READDIR returns entries in no defined order and cannot resume at a name, so
 * every page reads the whole directory and sorts it. One page costs O(n log n) for n
 * entries. Paging through the whole directory moves O(n² / limit) entries on the wire.
 */
export async function listDirectory(connection: SftpConnection, remotePath: string, options: ListOptions, scene: ErrorScene): Promise<ListPage> {
  const entries = await readWholeDirectory(connection, remotePath, scene);
  const limit = options.limit !== undefined && options.limit > 0 ? options.limit : DEFAULT_PAGE_SIZE;

  const sorted = entries.sort((a, b) => Buffer.compare(a.key, b.key));
  const from = options.startAfter === undefined ? 0 : firstAfter(sorted, Buffer.from(options.startAfter));
  const page = sorted.slice(from, from + limit);

  return {
    entries: page.map(({ name, stat }) => ({ name, stat })),
    isLast: from + page.length >= sorted.length,
  };
}

/** StorageStat of SFTP attributes; SFTP v3 times are whole seconds. */
export function toStorageStat(attrs: Attributes): StorageStat {
  const stat: StorageStat = {
    type: fileType(attrs.mode),
    size: fileType(attrs.mode) === 'directory' ? 0 : attrs.size,
    mode: attrs.mode & 0o7777,
    uid: attrs.uid,
    gid: attrs.gid,
    mtimeMs: attrs.mtime * 1000,
    atimeMs: attrs.atime * 1000,
  };
  stat.etag = `${attrs.size.toString(16)}-${attrs.mtime.toString(16)}`;
  return stat;
}

interface SortableEntry extends ListEntry {
  key: Buffer;
}

async function readWholeDirectory(connection: SftpConnection, remotePath: string, scene: ErrorScene): Promise<SortableEntry[]> {
  try {
    const raw = await connection.readdir(remotePath);
    return raw
      .filter(({ filename }) => filename !== '.' && filename !== '..' && !filename.startsWith(TEMP_PREFIX))
      .map(({ filename, attrs }) => ({ name: filename, key: Buffer.from(filename), stat: toStorageStat(attrs) }));
  } catch (error) {
    if (sftpStatus(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
  }

  // OpenSSH reports ENOTDIR as "no such file" too; only a missing directory lists empty.
  const existing = await typeAt(connection, remotePath);
  if (existing === 'missing') return [];
  throw failure('NotADirectory', scene, `cannot list a ${existing}`);
}

/** Index of the first entry whose key sorts after `after` (binary search). */
function firstAfter(sorted: readonly SortableEntry[], after: Buffer): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (Buffer.compare((sorted[middle] as SortableEntry).key, after) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function fileType(mode: number): StorageStat['type'] {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'directory';
    case S_IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}
