import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StorageError, type ByteRange } from '@op-worker/core';
import { OPEN_READ } from './root.js';

/** Chunk size of read streams: fewer system calls than Node's 64 KiB default on large files. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Open a stream of the bytes `[offset, offset + length)` of the regular file at
 * `absolute`. The file is opened with O_NOFOLLOW and O_NONBLOCK, so a symbolic link is
 * rejected and a FIFO cannot block the call. The stream closes the file when it ends or
 * is destroyed.
 */
export async function openReadStream(absolute: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
  const handle = await open(absolute, OPEN_READ);

  try {
    await assertRegularFile(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }

  if (range.length === 0) {
    await handle.close();
    return Readable.from([]);
  }

  const end = range.length === undefined ? undefined : range.offset + range.length - 1;
  return createReadStream('', {
    fd: handle,
    start: range.offset,
    end,
    highWaterMark: READ_CHUNK_BYTES,
    autoClose: true,
  });
}

async function assertRegularFile(handle: FileHandle): Promise<void> {
  const info = await handle.stat();
  if (info.isDirectory()) throw new StorageError('IsADirectory', 'cannot read a directory');
  if (!info.isFile()) throw new StorageError('Unsupported', 'only regular files can be read');
}
