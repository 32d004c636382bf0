import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OpError, StorageError, type FileAttributes, type Identity, type LogicalFileSystem } from '@op-worker/core';
import tar from 'tar-stream';
import type { AppContext } from '../state.js';

/** Children read per listing call while walking a directory for a TAR download. */
const PAGE = 1000;

/**
 * Send a directory as a TAR stream (ustar with pax headers for long names), entries in
 * depth-first name order below a top folder named after the directory. Files the caller
 * cannot read are left out and logged, as Onedata does. Symbolic links become TAR
 * symlink entries.
 *
 * NOTE: a Range header is ignored here, so an interrupted TAR download restarts from the
 * beginning. Resuming needs the archive length before streaming, which is not computed yet.
 */
export async function sendDirectoryTar(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, directory: FileAttributes): Promise<void> {
  const pack = tar.pack();
  ctx.status = 200;
  ctx.type = 'application/x-tar';
  ctx.set('Content-Disposition', `attachment; filename="${encodeURIComponent(directory.name)}.tar"`);
  // tar-stream packs are streamx streams, which Koa does not recognise as Node streams.
  ctx.body = Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });

  void writeTree(ctx, lfs, who, pack, directory, directory.name).then(
    () => pack.finalize(),
    (error: unknown) => {
      ctx.state.log.warn({ err: error, fileId: directory.fileId }, 'TAR download failed part-way');
      pack.destroy(error as Error);
    },
  );
}

async function writeTree(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, pack: tar.Pack, directory: FileAttributes, name: string): Promise<void> {
  pack.entry({ name: `${name}/`, type: 'directory', mode: directory.mode, mtime: new Date(directory.mtime * 1000) });

  let token: string | undefined;
  for (;;) {
    const page = await lfs.listChildren(who, directory.fileId, { limit: PAGE, token });
    for (const child of page.children) {
      const childName = `${name}/${child.name}`;
      if (child.type === 'DIR') await writeTree(ctx, lfs, who, pack, child, childName);
      else if (child.type === 'SYMLNK') pack.entry({ name: childName, type: 'symlink', linkname: child.symlinkValue ?? '', mode: child.mode });
      else await writeFile(ctx, lfs, who, pack, child, childName);
    }
    if (page.isLast || page.nextPageToken === null) return;
    token = page.nextPageToken;
  }
}

async function writeFile(ctx: AppContext, lfs: LogicalFileSystem, who: Identity, pack: tar.Pack, file: FileAttributes, name: string): Promise<void> {
  // The entry header needs the size before any data, so the first chunk is read before
  // the header is written: a file whose data cannot be opened is left out whole.
  let size: number;
  let chunks: AsyncIterator<Buffer>;
  let first: IteratorResult<Buffer>;
  try {
    const read = await lfs.read(who, file.fileId);
    size = read.fileSize;
    chunks = (read.stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    first = await chunks.next();
  } catch (error) {
    if (!(OpError.is(error) || StorageError.is(error) || isSystemError(error))) throw error;
    ctx.state.log.warn({ err: error, fileId: file.fileId, path: file.path }, 'file left out of a TAR download');
    return;
  }

  const entry = pack.entry({ name, type: 'file', size, mode: file.mode, mtime: new Date(file.mtime * 1000) });
  async function* rest(): AsyncGenerator<Buffer> {
    if (!first.done) yield first.value;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  await pipeline(Readable.from(rest()), entry);
}

function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
