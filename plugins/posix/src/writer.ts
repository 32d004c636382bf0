import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, type WriteOptions, type WriteResult } from '@op-worker/core';
import { errnoCode } from './errors.js';
import { OPEN_CREATE_NEW, OPEN_READ, OPEN_WRITE_EXISTING } from './root.js';

/** Prefix of the temporary files of whole writes; listings hide such names. */
export const TEMP_NAME_PREFIX = '.op-worker-tmp-';

export interface WriterModes {
  /** Permission bits of new files. */
  fileMode: number;
  /** Permission bits of new directories, before the process umask. */
  dirMode: number;
}

/**
 * Replace the file at `absolute` as a whole. The data goes to a temporary file in the
 * same directory, which is renamed over the target only after the stream ended and the
 * size matched, so readers see either the old or the new content. A replaced file keeps
 * its permission bits; a new file gets `fileMode`. With `durable`, the file and then its
 * directory are fsynced.
 */
export async function writeWhole(
  absolute: string,
  data: Readable,
  options: WriteOptions,
  modes: WriterModes,
): Promise<WriteResult> {
  const directory = path.dirname(absolute);
  const mode = await modeToKeep(absolute, modes.fileMode);

  const temporary = path.join(directory, TEMP_NAME_PREFIX + randomBytes(8).toString('hex'));
  const handle = await inDirectory(directory, modes.dirMode, () => open(temporary, OPEN_CREATE_NEW, mode));
  let renamed = false;

  try {
    await handle.chmod(mode);
    const written = await copyInto(handle, data, 0, options.size);
    if (options.durable) await handle.sync();
    await handle.close();

    await rename(temporary, absolute);
    renamed = true;
    if (options.durable) await syncDirectory(directory);
    return { written, size: written };
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
    }
  }
}

/**
 * Write the stream into the file at `absolute` from byte `offset`, keeping the bytes
 * outside the written range. A gap past the end reads as zero bytes (a sparse hole on
 * most file systems). The file is created with `fileMode` when missing.
 */
export async function writeAtOffset(
  absolute: string,
  data: Readable,
  options: WriteOptions & { offset: number },
  modes: WriterModes,
): Promise<WriteResult> {
  const handle = await inDirectory(path.dirname(absolute), modes.dirMode, () => openForUpdate(absolute, modes.fileMode));

  try {
    const written = await copyInto(handle, data, options.offset, options.size);
    if (options.durable) await handle.sync();
    const { size } = await handle.stat();
    return { written, size };
  } finally {
    await handle.close();
  }
}

/**
 * Run `create`, which makes a file in `directory`. When it fails with ENOENT, create the
 * directory and its parents with `dirMode` and run it once more. Directories usually
 * exist, so trying first saves a `mkdir` round trip on most writes.
 */
async function inDirectory<T>(directory: string, dirMode: number, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
  await mkdir(directory, { recursive: true, mode: dirMode });
  return create();
}

/** Open an existing file for writing in place, or create it with `fileMode`. */
async function openForUpdate(absolute: string, fileMode: number): Promise<FileHandle> {
  try {
    const created = await open(absolute, OPEN_CREATE_NEW, fileMode);
    await created.chmod(fileMode);
    return created;
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    return open(absolute, OPEN_WRITE_EXISTING);
  }
}

/**
 * Pipe `data` into `handle` from `position` and return the bytes written. When
 * `expectedSize` is given, more bytes fail the write at once and fewer fail it at the end,
 * both with ConditionNotMatch.
 */
async function copyInto(handle: FileHandle, data: Readable, position: number, expectedSize?: number): Promise<number> {
  const counter = new ByteCounter(expectedSize);
  let next = position;

  await pipeline(data, counter, async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      await writeFully(handle, chunk, next);
      next += chunk.length;
    }
  });

  if (expectedSize !== undefined && counter.bytes !== expectedSize) {
    throw sizeMismatch(expectedSize, counter.bytes);
  }
  return counter.bytes;
}

/** Write all of `chunk` at `position`, repeating after short writes. */
async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly expectedSize?: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      callback(sizeMismatch(this.expectedSize, this.bytes));
      return;
    }
    callback(null, chunk);
  }
}

function sizeMismatch(expected: number, actual: number): StorageError {
  const amount = actual > expected ? `at least ${actual}` : `${actual}`;
  return new StorageError('ConditionNotMatch', `write expected ${expected} bytes but the stream had ${amount}`, {
    context: { expectedSize: expected },
  });
}

/** Permission bits of the existing regular file, or `fileMode` when there is none. */
async function modeToKeep(absolute: string, fileMode: number): Promise<number> {
  try {
    const info = await lstat(absolute);
    if (info.isDirectory()) throw new StorageError('IsADirectory', 'cannot replace a directory with a file');
    return info.isFile() ? info.mode & 0o7777 : fileMode;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return fileMode;
    throw error;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, OPEN_READ);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
