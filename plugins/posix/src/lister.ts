import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ListEntry, ListOptions, ListPage, StorageStat } from '@op-worker/core';
import { errnoCode } from './errors.js';
import { TEMP_NAME_PREFIX } from './writer.js';

/** Entries whose lstat calls run at once while a page is built. */
const STAT_CONCURRENCY = 32;

/**
 * List one page of the directory at `absolute`, in byte order of the UTF-8 names,
 * resuming after `startAfter`. A missing directory returns an empty last page. Each
 * call reads the whole directory, because readdir has no keyset position, so a page
 * costs O(entries in the directory), and names that vanish before their lstat are left
 * out. Temporary files of whole writes in progress are hidden.
 */
export async function listDirectory(absolute: string, options: ListOptions = {}): Promise<ListPage> {
  let names: string[];
  try {
    names = await readdir(absolute);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { entries: [], isLast: true };
    throw error;
  }

  const after = options.startAfter === undefined ? undefined : Buffer.from(options.startAfter);
  const candidates = names
    .filter((name) => !name.startsWith(TEMP_NAME_PREFIX))
    .map((name) => ({ name, bytes: Buffer.from(name) }))
    .filter((entry) => after === undefined || Buffer.compare(entry.bytes, after) > 0)
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));

  const limit = options.limit ?? candidates.length;
  const page = candidates.slice(0, limit);
  const entries = await statEntries(absolute, page.map((entry) => entry.name));
  return { entries, isLast: page.length === candidates.length };
}

async function statEntries(directory: string, names: string[]): Promise<ListEntry[]> {
  const entries: ListEntry[] = [];

  for (let start = 0; start < names.length; start += STAT_CONCURRENCY) {
    const batch = names.slice(start, start + STAT_CONCURRENCY);
    const stats = await Promise.all(batch.map((name) => lstatOrUndefined(path.join(directory, name))));
    batch.forEach((name, index) => {
      const info = stats[index];
      if (info !== undefined) entries.push({ name, stat: toStorageStat(info) });
    });
  }
  return entries;
}

async function lstatOrUndefined(absolute: string): Promise<Stats | undefined> {
  try {
    return await lstat(absolute);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Convert lstat results; a symbolic link is reported as `symlink`, never followed. */
export function toStorageStat(info: Stats): StorageStat {
  return {
    type: info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'other',
    size: info.isDirectory() ? 0 : info.size,
    mode: info.mode & 0o7777,
    uid: info.uid,
    gid: info.gid,
    mtimeMs: info.mtimeMs,
    atimeMs: info.atimeMs,
    ctimeMs: info.ctimeMs,
    etag: `${info.ino.toString(16)}-${Math.trunc(info.mtimeMs * 1000).toString(16)}-${info.size.toString(16)}`,
  };
}
