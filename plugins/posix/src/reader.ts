import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StorageError, type ByteRange } from '@op-worker/core';
import { OPEN_READ } from './root.js';

/** Chunk size of read streams: fewer system calls than Node's 64 KiB default on large files. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Reads of at most this many bytes are done with one `read` into a buffer before the
 * stream is returned, which saves the stream's own reads and the closing round trip.
 */
export const SMALL_READ_BYTES = 64 * 1024;

/**
 * Open a stream of the bytes `[offset, offset + length)` of the regular file at
 * `absolute`. The file is opened with O_NOFOLLOW and O_NONBLOCK, so a symbolic link is
 * rejected and a FIFO cannot block the call. `verify` may reject the opened file before
 * a byte is read. The stream closes the file when it ends or is destroyed. A range of
 * at most `SMALL_READ_BYTES` (or a whole file that small) is read before this returns,
 * into a stream that already contains it.
 */
export async function openReadStream(
  absolute: string,
  range: ByteRange = { offset: 0 },
  verify?: (handle: FileHandle) => void,
): Promise<Readable> {
  const handle = await open(absolute, OPEN_READ);
  if (range.length !== undefined && range.length <= SMALL_READ_BYTES) return readKnownSmallRange(handle, range.offset, range.length, verify);

  let size: number;
  try {
    verify?.(handle);
    size = await regularFileSize(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }

  const length = range.length ?? Math.max(0, size - range.offset);
  if (length === 0) {
    await handle.close();
    return Readable.from([]);
  }
  if (length <= SMALL_READ_BYTES) return readSmall(handle, range.offset, length);

  const end = range.length === undefined ? undefined : range.offset + range.length - 1;
  return createReadStream('', {
    fd: handle,
    start: range.offset,
    end,
    highWaterMark: READ_CHUNK_BYTES,
    autoClose: true,
  });
}

/**
 * Read a small range whose length the caller has from metadata, without the stat that a stream
 * needs for the size: open, read and close are the only system calls. Files that are
 * not regular are found by a stat only when the read fails or returns fewer bytes than
 * requested, as it does for directories and FIFOs.
 * NOTE: a character or block device node inside the storage would be read like a file.
 * Creating one needs CAP_MKNOD on the storage host.
 */
async function readKnownSmallRange(handle: FileHandle, offset: number, length: number, verify?: (handle: FileHandle) => void): Promise<Readable> {
  try {
    verify?.(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }
  if (length === 0) {
    await handle.close();
    return Readable.from([]);
  }

  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  try {
    filled = await readInto(handle, buffer, offset).catch(async (error: unknown) => {
      // A FIFO fails a positional read (ESPIPE) or one without data (EAGAIN); the stat names the file type instead.
      await regularFileSize(handle);
      throw error;
    });
    if (filled < length) await regularFileSize(handle);
  } finally {
    await handle.close();
  }
  return bufferedStream(buffer.subarray(0, filled));
}

/** Fill `buffer` from `offset` of the file, repeating after short reads; returns the bytes read, fewer at the end of the file. */
async function readInto(handle: FileHandle, buffer: Buffer, offset: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, offset + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Size of the open file; throws unless it is a regular file. */
async function regularFileSize(handle: FileHandle): Promise<number> {
  const info = await handle.stat();
  if (info.isDirectory()) throw new StorageError('IsADirectory', 'cannot read a directory');
  if (!info.isFile()) throw new StorageError('Unsupported', 'only regular files can be read');
  return info.size;
}

/**
 * Read up to `length` bytes from `offset` and close the file. Like a stream over the
 * same range, the result is shorter when the file ends first.
 */
async function readSmall(handle: FileHandle, offset: number, length: number): Promise<Readable> {
  const buffer = Buffer.allocUnsafe(length);
  let filled: number;
  try {
    filled = await readInto(handle, buffer, offset);
  } finally {
    await handle.close();
  }
  return bufferedStream(buffer.subarray(0, filled));
}

/** Create an ended stream whose buffer contains all of `bytes`. */
function bufferedStream(bytes: Buffer): Readable {
  const stream = new Readable({ read() {} });
  stream.push(bytes);
  stream.push(null);
  return stream;
}
