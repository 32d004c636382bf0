import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { StorageError, type WriteResult } from '@op-worker/core';
import { OPEN_FLAGS, type SftpConnection } from './client.js';
import { SFTP_STATUS, SourceStreamError, failure, sftpStatus, type ErrorScene } from './errors.js';

/**
 * Bytes per WRITE request: OpenSSH's largest write payload (256 KiB less 1 KiB of
 * header room), so that one chunk is one request.
 */
export const WRITE_CHUNK_BYTES = 255 * 1024;

/** WRITE requests kept in flight, which bounds the buffers of one upload to about 2 MiB. */
const WRITES_IN_FLIGHT = 8;

/**
 * Name prefix of the temporary file a whole write streams into before it is renamed
 * onto the target. Listings hide names with this prefix.
 */
export const TEMP_PREFIX = '.opw-tmp-';

/** Destination of a write: its path, the storage root and the permission bits. */
export interface WriteTarget {
  /** Absolute path on the server. */
  remotePath: string;
  /** Storage root on the server; directories are never created above it. */
  rootPath: string;
  fileMode: number;
  dirMode: number;
  scene: ErrorScene;
}

/** The part of a WriteTarget that `ensureDirectory` reads. */
export type DirectoryTarget = Pick<WriteTarget, 'rootPath' | 'dirMode' | 'scene'>;

export interface WriteSettings {
  size?: number;
  durable?: boolean;
}

/**
 * Replace a file as a whole: stream into a temporary file beside it, then rename it
 * onto the target with posix-rename@openssh.com. Readers see the old or the new file,
 * never a part; a failure removes the temporary file when the connection still works,
 * and otherwise hands its path to `onLeftover`.
 */
export async function writeWhole(
  connection: SftpConnection,
  target: WriteTarget,
  data: Readable,
  settings: WriteSettings,
  onLeftover: (tempPath: string) => void = () => undefined,
): Promise<WriteResult> {
  const tempPath = posix.join(posix.dirname(target.remotePath), TEMP_PREFIX + randomUUID());
  const createFlags = OPEN_FLAGS.WRITE | OPEN_FLAGS.CREATE | OPEN_FLAGS.EXCLUSIVE;
  const handle = await openCreatingParents(connection, tempPath, createFlags, target);
  let open = true;

  try {
    // The server's umask applies at creation; set the configured bits exactly.
    await connection.fsetstat(handle, { mode: target.fileMode });
    const written = await writeStreamAt(connection, handle, data, 0);
    checkSize(settings.size, written, target);
    if (settings.durable) await connection.fsync(handle);

    open = false;
    await connection.close(handle);
    await replaceTarget(connection, tempPath, target);
    return { written, size: written };
  } catch (error) {
    await discardTemp(connection, open ? handle : undefined, tempPath);
    // A lost connection could not remove the temporary file; the caller removes it later.
    if (!connection.alive) onLeftover(tempPath);
    throw error;
  }
}

/**
 * Write the stream's bytes in place from `offset`, creating the file (and its
 * parents) when missing. A gap past the end reads back as zeros, as pwrite(2) leaves it.
 */
export async function writeAtOffset(
  connection: SftpConnection,
  target: WriteTarget,
  data: Readable,
  offset: number,
  settings: WriteSettings,
): Promise<WriteResult> {
  const handle = await openForUpdate(connection, target);

  try {
    const written = await writeStreamAt(connection, handle, data, offset);
    checkSize(settings.size, written, target);
    if (settings.durable) await connection.fsync(handle);

    const size = (await connection.fstat(handle)).size;
    return { written, size };
  } finally {
    await closeQuietly(connection, handle);
  }
}

/**
 * Create `remoteDir` and its missing parents below the storage root with `mode`.
 * An existing directory is fine. Something else in the way is NotADirectory, or
 * `leafConflict` when it sits at `remoteDir` itself; a missing root is NotFound
 * naming it.
 */
export async function ensureDirectory(
  connection: SftpConnection,
  remoteDir: string,
  target: DirectoryTarget,
  mode = target.dirMode,
  leafConflict: 'NotADirectory' | 'AlreadyExists' = 'NotADirectory',
): Promise<void> {
  const scene = { ...target.scene, remotePath: remoteDir };
  const existing = await typeAt(connection, remoteDir);
  if (existing === 'directory') return;
  if (existing !== 'missing') throw failure(leafConflict, scene, `a ${existing} exists where a directory is needed`);

  if (remoteDir === target.rootPath || !remoteDir.startsWith(target.rootPath)) {
    throw failure('NotFound', scene, 'the storage root directory does not exist; create it or fix rootPath');
  }
  await ensureDirectory(connection, posix.dirname(remoteDir), target);

  try {
    await connection.mkdir(remoteDir, { mode });
    await connection.chmod(remoteDir, mode);
  } catch (error) {
    // Lost a race with another creator: their directory serves as well as ours.
    if (sftpStatus(error) === SFTP_STATUS.FAILURE && (await typeAt(connection, remoteDir)) === 'directory') return;
    throw error;
  }
}

/** Return the file type an lstat finds at a path, or `missing`. */
export async function typeAt(connection: SftpConnection, remotePath: string): Promise<'file' | 'directory' | 'symlink' | 'other' | 'missing'> {
  try {
    const stats = await connection.lstat(remotePath);
    if (stats.isDirectory()) return 'directory';
    if (stats.isFile()) return 'file';
    return stats.isSymbolicLink() ? 'symlink' : 'other';
  } catch (error) {
    if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) return 'missing';
    throw error;
  }
}

/**
 * Write a stream at `start` with several WRITE requests in flight. The requests go
 * to distinct offsets, so their order on the server does not matter. Returns the
 * number of bytes written.
 */
export async function writeStreamAt(connection: SftpConnection, handle: Buffer, data: Readable, start: number): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let firstError: unknown;
  let position = start;

  for await (const chunk of chunksOf(data, WRITE_CHUNK_BYTES)) {
    const request: Promise<void> = connection
      .write(handle, chunk, position)
      .catch((error: unknown) => {
        firstError ??= error;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
    position += chunk.length;

    if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    if (firstError !== undefined) break;
  }

  await Promise.all(inFlight);
  if (firstError !== undefined) throw firstError;
  return position - start;
}

/**
 * Regroup a stream's chunks into buffers of exactly `size` bytes (the last may be
 * shorter). Large chunks are sliced without copying. Errors of the stream itself are
 * marked as SourceStreamError so they are not mistaken for server failures.
 */
async function* chunksOf(data: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let bytes = 0;
  const iterator = data[Symbol.asyncIterator]();

  while (true) {
    let next: IteratorResult<unknown>;
    try {
      next = await iterator.next();
    } catch (error) {
      if (StorageError.is(error)) throw error;
      throw new SourceStreamError(error instanceof Error ? error.message : String(error), { cause: error });
    }
    if (next.done) break;

    let chunk = toBuffer(next.value);
    while (chunk.length > 0) {
      const take = Math.min(size - bytes, chunk.length);
      parts.push(chunk.subarray(0, take));
      bytes += take;
      chunk = chunk.subarray(take);

      if (bytes === size) {
        yield parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes);
        parts = [];
        bytes = 0;
      }
    }
  }

  if (bytes > 0) yield Buffer.concat(parts, bytes);
}

function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value);
  throw new SourceStreamError(`the data stream yielded a ${typeof value}, not bytes`);
}

function checkSize(expected: number | undefined, written: number, target: WriteTarget): void {
  if (expected === undefined || expected === written) return;
  throw failure('ConditionNotMatch', target.scene, `the stream held ${written} bytes, but the write announced ${expected}`);
}

/** Open a file for a write at an offset: the existing file if any, else a new one. */
async function openForUpdate(connection: SftpConnection, target: WriteTarget): Promise<Buffer> {
  try {
    return await connection.open(target.remotePath, OPEN_FLAGS.READ | OPEN_FLAGS.WRITE);
  } catch (error) {
    if (sftpStatus(error) === SFTP_STATUS.FAILURE) throw await explainOpenFailure(connection, target, error);
    if (sftpStatus(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
  }

  const handle = await openCreatingParents(connection, target.remotePath, OPEN_FLAGS.WRITE | OPEN_FLAGS.CREATE, target);
  try {
    await connection.fsetstat(handle, { mode: target.fileMode });
  } catch (error) {
    await closeQuietly(connection, handle);
    throw error;
  }
  return handle;
}

/** Open with `flags`; when the parent directory is missing, create it and try once more. */
async function openCreatingParents(connection: SftpConnection, remotePath: string, flags: number, target: WriteTarget): Promise<Buffer> {
  try {
    return await connection.open(remotePath, flags, { mode: target.fileMode });
  } catch (error) {
    if (sftpStatus(error) === SFTP_STATUS.FAILURE) throw await explainOpenFailure(connection, target, error);
    if (sftpStatus(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
  }

  await ensureDirectory(connection, posix.dirname(remotePath), target);
  return connection.open(remotePath, flags, { mode: target.fileMode });
}

/** rename the finished temporary file onto the target, replacing a file there. */
async function replaceTarget(connection: SftpConnection, tempPath: string, target: WriteTarget): Promise<void> {
  try {
    await connection.posixRename(tempPath, target.remotePath);
  } catch (error) {
    if (sftpStatus(error) !== SFTP_STATUS.FAILURE) throw error;
    if ((await typeAt(connection, target.remotePath)) === 'directory') {
      throw failure('IsADirectory', target.scene, 'a directory exists at the path of the file');
    }
    throw error;
  }
}

async function explainOpenFailure(connection: SftpConnection, target: WriteTarget, error: unknown): Promise<unknown> {
  const existing = await typeAt(connection, target.remotePath).catch(() => 'missing');
  if (existing === 'directory') return failure('IsADirectory', target.scene, 'a directory exists at the path of the file');
  return error;
}

async function discardTemp(connection: SftpConnection, handle: Buffer | undefined, tempPath: string): Promise<void> {
  if (!connection.alive) return;
  if (handle) await closeQuietly(connection, handle);
  await connection.unlink(tempPath).catch(() => undefined);
}

async function closeQuietly(connection: SftpConnection, handle: Buffer): Promise<void> {
  if (!connection.alive) return;
  await connection.close(handle).catch(() => undefined);
}
