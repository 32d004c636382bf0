import { Readable } from 'node:stream';
import { OpError, StorageError, type FileAttributes, type Identity, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import type { AppContext } from '../state.js';
import { encodeTarHeader, TAR_BLOCK, tarPadding, type TarHeader } from './tar-header.js';

/** Children read per listing call while walking a directory for a TAR download. */
const PAGE = 1000;

/** Files probed for readability at the same time while planning an archive. */
const PROBE_CONCURRENCY = 16;

/** Two zero blocks end a TAR archive. */
const END_OF_ARCHIVE = Buffer.alloc(2 * TAR_BLOCK);

/** One archive entry at a fixed place: its header starts at `offset`, its data follows the header. */
interface PlannedEntry {
  header: TarHeader;
  offset: number;
  headerLength: number;
  /** The regular file whose first `header.size` bytes are the entry's data. */
  fileId?: string;
}

interface TarPlan {
  entries: PlannedEntry[];
  /** Archive length in bytes, end blocks included. */
  size: number;
}

/**
 * Send a directory as a TAR stream (ustar, with pax headers for names longer than 100
 * bytes and files of 8 GiB or more), entries in depth-first name order below a top folder
 * named after the directory. Files the caller cannot read are left out and logged, as
 * Onedata does. Symbolic links become TAR symlink entries.
 *
 * The archive is laid out before the first byte is sent, so it has a `Content-Length`,
 * and its bytes depend only on the names, modes, mtimes, sizes and contents below the
 * directory. That makes `Range: bytes=N-` resumable: the 206 body is the full archive
 * from byte N, and files wholly before N are not read. Other Range forms are ignored and
 * the whole archive is sent with 200, which HTTP allows.
 *
 * NOTE: the plan keeps one small record per entry in memory, and every non-empty file is
 * opened once while planning to find out whether it can be read.
 */
export async function sendDirectoryTar(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, directory: FileAttributes): Promise<void> {
  const plan = await planArchive(ctx, lfs, who, directory);
  const start = resumeOffset(ctx.get('Range'), plan.size);

  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('Content-Disposition', `attachment; filename="${encodeURIComponent(directory.name)}.tar"`);
  ctx.type = 'application/x-tar';
  if (start === undefined) {
    ctx.status = 200;
  } else {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${start}-${plan.size - 1}/${plan.size}`);
  }

  const from = start ?? 0;
  ctx.body = Readable.from(logFailure(ctx, directory, archiveBytes(lfs, who, plan, from)), { objectMode: false });
  ctx.length = plan.size - from;
}

/**
 * Return the start of an open-ended `bytes=N-` range, or undefined to send the whole
 * archive. A start at or past the end is 416 with `Content-Range: bytes *` + `/<size>`.
 */
function resumeOffset(rangeHeader: string, size: number): number | undefined {
  const match = /^bytes=(\d+)-$/.exec(rangeHeader.trim());
  if (match === null) return undefined;

  const start = Number(match[1]);
  if (!Number.isSafeInteger(start) || start >= size) {
    throw new ApiError(
      416,
      'rangeNotSatisfiable',
      `range "${rangeHeader}" starts at or past the end of the ${size}-byte archive`,
      { range: rangeHeader, size },
      { 'Content-Range': `bytes */${size}` },
    );
  }
  return start;
}

/** Walk the directory and lay out every entry of its archive. */
async function planArchive(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, directory: FileAttributes): Promise<TarPlan> {
  const entries: PlannedEntry[] = [];
  let offset = 0;
  const add = (header: TarHeader, fileId?: string): void => {
    const headerLength = encodeTarHeader(header).length;
    entries.push({ header, offset, headerLength, ...(fileId === undefined ? {} : { fileId }) });
    offset += headerLength + header.size + tarPadding(header.size);
  };

  await planTree(ctx, lfs, who, directory, directory.name, add);
  return { entries, size: offset + END_OF_ARCHIVE.length };
}

async function planTree(
  ctx: AppContext,
  lfs: LogicalFileSystem,
  who: Identity,
  directory: FileAttributes,
  name: string,
  add: (header: TarHeader, fileId?: string) => void,
): Promise<void> {
  add({ name: `${name}/`, type: 'directory', mode: directory.mode, mtime: directory.mtime, size: 0 });

  let token: string | undefined;
  for (;;) {
    const page = await lfs.listChildren(who, directory.fileId, { limit: PAGE, token });
    const readable = await probeFiles(ctx, lfs, who, page.children);

    for (const child of page.children) {
      const childName = `${name}/${child.name}`;
      if (child.type === 'DIR') await planTree(ctx, lfs, who, child, childName, add);
      else if (child.type === 'SYMLNK') add({ name: childName, type: 'symlink', linkname: child.symlinkValue ?? '', mode: child.mode, mtime: child.mtime, size: 0 });
      else if (readable.has(child.fileId)) add({ name: childName, type: 'file', mode: child.mode, mtime: child.mtime, size: child.size }, child.fileId);
    }
    if (page.isLast || page.nextPageToken === null) return;
    token = page.nextPageToken;
  }
}

/** Return the ids of the regular files in `children` whose data can be read now. */
async function probeFiles(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, children: readonly FileAttributes[]): Promise<Set<string>> {
  const files = children.filter((child) => child.type !== 'DIR' && child.type !== 'SYMLNK');
  const readable = new Set<string>();

  for (let index = 0; index < files.length; index += PROBE_CONCURRENCY) {
    const batch = files.slice(index, index + PROBE_CONCURRENCY);
    const results = await Promise.all(batch.map((file) => canRead(ctx, lfs, who, file)));
    batch.forEach((file, position) => {
      if (results[position] === true) readable.add(file.fileId);
    });
  }
  return readable;
}

/**
 * Open the file and read its first byte. A storage or permission failure is logged and
 * the function returns false, so the file is left out of the archive; other errors propagate.
 */
async function canRead(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, file: FileAttributes): Promise<boolean> {
  try {
    const read = await lfs.read(who, file.fileId, { offset: 0, length: 1 });
    for await (const chunk of read.stream as AsyncIterable<Buffer>) {
      if (chunk.length > 0) break;
    }
    read.stream.destroy();
    return true;
  } catch (error) {
    if (!(OpError.is(error) || StorageError.is(error) || isSystemError(error))) throw error;
    ctx.state.log.warn({ err: error, fileId: file.fileId, path: file.path }, 'file left out of a TAR download');
    return false;
  }
}

/** Yield the archive's bytes from `start` to its end. */
async function* archiveBytes(lfs: LogicalFileSystem, who: Identity, plan: TarPlan, start: number): AsyncGenerator<Buffer> {
  for (const entry of plan.entries) {
    const dataStart = entry.offset + entry.headerLength;
    const end = dataStart + entry.header.size + tarPadding(entry.header.size);
    if (end <= start) continue;

    if (start < dataStart) yield encodeTarHeader(entry.header).subarray(Math.max(0, start - entry.offset));
    if (entry.fileId !== undefined && entry.header.size > 0) {
      const skip = Math.max(0, start - dataStart);
      if (skip < entry.header.size) yield* fileBytes(lfs, who, entry.fileId, skip, entry.header.size);
    }
    const padding = tarPadding(entry.header.size);
    const paddingStart = dataStart + entry.header.size;
    if (padding > 0) yield Buffer.alloc(padding).subarray(Math.max(0, start - paddingStart));
  }

  const endStart = plan.size - END_OF_ARCHIVE.length;
  yield END_OF_ARCHIVE.subarray(Math.max(0, start - endStart));
}

/**
 * Yield bytes `[offset, size)` of a file planned with `size` bytes. A file that shrank
 * since the plan fails the download, because its entry can no longer be filled.
 */
async function* fileBytes(lfs: LogicalFileSystem, who: Identity, fileId: string, offset: number, size: number): AsyncGenerator<Buffer> {
  const read = await lfs.read(who, fileId, { offset, length: size - offset });
  let received = 0;
  for await (const chunk of read.stream as AsyncIterable<Buffer>) {
    received += chunk.length;
    yield chunk;
  }
  if (received !== size - offset) {
    throw new OpError('unavailable', `file ${fileId} changed during a TAR download: expected ${size - offset} bytes from offset ${offset}, read ${received}`, {
      fileId,
      expected: size - offset,
      received,
    });
  }
}

/** Log a failure of the archive stream once, then let it abort the response. */
async function* logFailure(ctx: AppContext, directory: FileAttributes, bytes: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* bytes;
  } catch (error) {
    ctx.state.log.warn({ err: error, fileId: directory.fileId }, 'TAR download failed part-way');
    throw error;
  }
}

function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
