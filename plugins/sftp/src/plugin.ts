import { posix } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  NO_CAPABILITIES,
  resolveInsideRoot,
  type ByteRange,
  type Capabilities,
  type ListOptions,
  type ListPage,
  type StorageConfig,
  type StorageHelper,
  type StorageHelperContext,
  type StorageStat,
  type WriteOptions,
  type WriteResult,
} from '@op-worker/core';
import { SftpConnectionPool, OPEN_FLAGS, type SftpConnection } from './client.js';
import { describeSettings, parseSftpSettings, type SftpSettings } from './config.js';
import { SFTP_STATUS, failure, isConnectionLost, sftpStatus, toStorageError, type ErrorScene } from './errors.js';
import { listDirectory, toStorageStat } from './lister.js';
import { SftpRangeReader } from './reader.js';
import { ensureDirectory, typeAt, writeAtOffset, writeWhole, type WriteTarget } from './writer.js';

/** Capabilities of every SFTP helper, whatever its configuration. */
export const SFTP_CAPABILITIES: Readonly<Capabilities> = Object.freeze({
  ...NO_CAPABILITIES,
  stat: true,
  list: true,
  list_with_start_after: true,
  read: true,
  read_with_range: true,
  write: true,
  write_at_offset: true,
  write_multi_max_size: 0,
  truncate: true,
  delete: true,
  mkdir: true,
  directories: true,
  rename: true,
  copy: true,
  chmod: true,
  // fsync@openssh.com; a server without it fails durable writes with Unsupported.
  durable_write: true,
});

/** Build a helper from a configuration validated against `sftpConfigSchema`. No I/O. */
export async function createSftpHelper(config: StorageConfig, context: StorageHelperContext): Promise<SftpHelper> {
  const settings = parseSftpSettings(config);
  const logger = context.logger.child({ plugin: 'sftp', storageId: context.storageId });
  return new SftpHelper(settings, logger);
}

/**
 * A storage helper for a directory tree on an SSH server. Storage paths map one to
 * one below `rootPath` (the canonical layout). Connections are opened lazily and
 * pooled; see `SftpConnectionPool`.
 */
export class SftpHelper implements StorageHelper {
  readonly capabilities = SFTP_CAPABILITIES;
  private readonly pool: SftpConnectionPool;
  /** Temporary files of whole writes whose connection dropped; removed on a later write. */
  private readonly leftovers = new Set<string>();

  constructor(
    private readonly settings: SftpSettings,
    private readonly logger: Logger,
  ) {
    this.pool = new SftpConnectionPool(settings, logger);
    logger.debug({ settings: describeSettings(settings) }, 'sftp helper created');
  }

  async stat(path: string): Promise<StorageStat> {
    const remotePath = this.remote(path, 'stat');
    return this.pool.use('stat', remotePath, async (connection) => {
      try {
        return toStorageStat(await connection.lstat(remotePath));
      } catch (error) {
        throw this.notFoundOrSame(error, 'stat', remotePath, path);
      }
    });
  }

  async read(path: string, range?: ByteRange): Promise<Readable> {
    const remotePath = this.remote(path, 'read');
    const start = range?.offset ?? 0;
    const end = range?.length === undefined ? Infinity : start + range.length;
    const connection = await this.pool.acquire('read');

    try {
      const handle = await this.openForReading(connection, remotePath, path);
      if (end <= start) {
        await connection.close(handle);
        this.pool.release(connection);
        return Readable.from([]);
      }
      return this.rangeReader(connection, handle, start, end, remotePath, () => this.pool.release(connection));
    } catch (error) {
      this.pool.release(connection, isConnectionLost(error));
      throw toStorageError(error, this.scene('read', remotePath));
    }
  }

  async write(path: string, data: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const target = this.target(path, 'write');
    return this.pool.use('write', target.remotePath, async (connection) => {
      await this.removeLeftovers(connection);
      return options.offset === undefined
        ? writeWhole(connection, target, data, options, (tempPath) => this.leftovers.add(tempPath))
        : writeAtOffset(connection, target, data, options.offset, options);
    });
  }

  /** Best effort: a temporary file that cannot be removed now stays listed for the next write. */
  private async removeLeftovers(connection: SftpConnection): Promise<void> {
    for (const tempPath of [...this.leftovers]) {
      if (!connection.alive) return;
      try {
        await connection.unlink(tempPath);
        this.leftovers.delete(tempPath);
      } catch (error) {
        if (isConnectionLost(error)) return;
        // Already gone, or not ours to remove any more: nothing is left to retry.
        this.leftovers.delete(tempPath);
        this.logger.debug({ err: error, tempPath }, 'leftover temporary file not removed');
      }
    }
  }

  async truncate(path: string, size: number): Promise<void> {
    const remotePath = this.remote(path, 'truncate');
    await this.pool.use('truncate', remotePath, async (connection) => {
      try {
        await connection.setstat(remotePath, { size });
      } catch (error) {
        throw await this.refineFailure(connection, error, 'truncate', remotePath, path);
      }
    });
  }

  async mkdir(path: string, mode?: number): Promise<void> {
    const target = this.target(path, 'mkdir');
    await this.pool.use('mkdir', target.remotePath, (connection) =>
      ensureDirectory(connection, target.remotePath, target, mode ?? this.settings.dirMode, 'AlreadyExists'),
    );
  }

  async list(path: string, options: ListOptions = {}): Promise<ListPage> {
    const remotePath = this.remote(path, 'list');
    return this.pool.use('list', remotePath, (connection) => listDirectory(connection, remotePath, options, this.scene('list', remotePath)));
  }

  async delete(path: string): Promise<void> {
    const remotePath = this.remote(path, 'delete');
    await this.pool.use('delete', remotePath, async (connection) => {
      try {
        await connection.unlink(remotePath);
      } catch (error) {
        if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) return;
        throw await this.refineFailure(connection, error, 'delete', remotePath, path);
      }
    });
  }

  async rmdir(path: string): Promise<void> {
    const remotePath = this.remote(path, 'rmdir');
    if (path === '') throw failure('PermissionDenied', this.scene('rmdir', remotePath), 'the storage root is never removed');

    await this.pool.use('rmdir', remotePath, async (connection) => {
      try {
        await connection.rmdir(remotePath);
      } catch (error) {
        const explained = await this.explainRmdir(connection, error, remotePath);
        if (explained !== undefined) throw explained;
      }
    });
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.remote(from, 'rename');
    const target = this.target(to, 'rename');
    await this.pool.use('rename', source, async (connection) => {
      try {
        await connection.posixRename(source, target.remotePath);
      } catch (error) {
        await this.retryRename(connection, error, source, from, target);
      }
    });
  }

  async copy(from: string, to: string): Promise<void> {
    const source = this.remote(from, 'copy');
    const target = this.target(to, 'copy');

    // Both ends use one connection, so a copy never waits for a second pool slot.
    await this.pool.use('copy', source, async (connection) => {
      const handle = await this.openForReading(connection, source, from);
      let readerError: unknown;
      const reader = this.rangeReader(connection, handle, 0, Infinity, source, (error) => {
        readerError = error ?? undefined;
      });
      try {
        await writeWhole(connection, target, reader, {});
      } catch (error) {
        reader.destroy();
        throw readerError ?? error;
      }
    });
  }

  async chmod(path: string, mode: number): Promise<void> {
    const remotePath = this.remote(path, 'chmod');
    await this.pool.use('chmod', remotePath, async (connection) => {
      try {
        await connection.chmod(remotePath, mode & 0o7777);
      } catch (error) {
        throw this.notFoundOrSame(error, 'chmod', remotePath, path);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  toJSON(): Record<string, unknown> {
    return { type: 'sftp', settings: describeSettings(this.settings) };
  }

  private async openForReading(connection: SftpConnection, remotePath: string, path: string): Promise<Buffer> {
    let handle: Buffer;
    try {
      handle = await connection.open(remotePath, OPEN_FLAGS.READ);
    } catch (error) {
      throw this.notFoundOrSame(error, 'read', remotePath, path);
    }

    // OpenSSH opens a directory for reading without complaint; refuse it here.
    const stats = await connection.fstat(handle);
    if (stats.isDirectory()) {
      await connection.close(handle).catch(() => undefined);
      throw failure('IsADirectory', this.scene('read', remotePath), 'cannot read a directory');
    }
    return handle;
  }

  private rangeReader(
    connection: SftpConnection,
    handle: Buffer,
    start: number,
    end: number,
    remotePath: string,
    onDone: (error: unknown) => void,
  ): SftpRangeReader {
    return new SftpRangeReader({
      connection,
      handle,
      start,
      end,
      onDone,
      mapError: (error) => toStorageError(error, this.scene('read', remotePath)),
    });
  }

  /** Retry a failed rename after creating the target's parents, or explain the failure. */
  private async retryRename(connection: SftpConnection, error: unknown, source: string, from: string, target: WriteTarget): Promise<void> {
    if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) {
      if ((await typeAt(connection, source)) === 'missing') throw this.notFoundOrSame(error, 'rename', source, from);
      await ensureDirectory(connection, posix.dirname(target.remotePath), target);
      await connection.posixRename(source, target.remotePath);
      return;
    }
    if (sftpStatus(error) !== SFTP_STATUS.FAILURE) throw error;

    const [sourceType, targetType] = [await typeAt(connection, source), await typeAt(connection, target.remotePath)];
    const scene = this.scene('rename', target.remotePath);
    if (targetType === 'directory' && sourceType !== 'directory') throw failure('IsADirectory', scene, 'a directory exists at the target');
    if (targetType === 'directory') throw failure('NotEmpty', scene, 'the target directory is not empty');
    if (sourceType === 'directory' && targetType !== 'missing') throw failure('NotADirectory', scene, 'cannot replace a file by a directory');
    throw error;
  }

  /**
   * OpenSSH replies to rmdir of a file with "no such file" (ENOTDIR) and of a full
   * directory with FAILURE (ENOTEMPTY); an lstat tells them apart. Returns nothing when
   * the directory is gone, which the contract counts as success.
   */
  private async explainRmdir(connection: SftpConnection, error: unknown, remotePath: string): Promise<unknown> {
    const status = sftpStatus(error);
    if (status !== SFTP_STATUS.NO_SUCH_FILE && status !== SFTP_STATUS.FAILURE) return error;

    const scene = this.scene('rmdir', remotePath);
    const existing = await typeAt(connection, remotePath);
    if (existing === 'missing') return undefined;
    if (existing !== 'directory') return failure('NotADirectory', scene, `cannot rmdir a ${existing}`);
    if (status === SFTP_STATUS.FAILURE) return failure('NotEmpty', scene, 'the directory is not empty');
    return error;
  }

  /** Name the kind behind a FAILURE (SFTP v3 has no EISDIR or ENOTEMPTY) with one lstat. */
  private async refineFailure(connection: SftpConnection, error: unknown, operation: string, remotePath: string, path: string): Promise<unknown> {
    if (sftpStatus(error) !== SFTP_STATUS.FAILURE) return this.notFoundOrSame(error, operation, remotePath, path);

    const scene = this.scene(operation, remotePath);
    const existing = await typeAt(connection, remotePath);
    if (existing === 'directory') return failure('IsADirectory', scene, `cannot ${operation} a directory`);
    return error;
  }

  /** NotFound with a message that names a missing storage root when that is the cause. */
  private notFoundOrSame(error: unknown, operation: string, remotePath: string, path: string): unknown {
    if (sftpStatus(error) !== SFTP_STATUS.NO_SUCH_FILE) return error;
    const scene = this.scene(operation, remotePath);
    if (path === '') return failure('NotFound', scene, 'the storage root directory does not exist; create it or fix rootPath');
    return failure('NotFound', scene, 'no such file or directory');
  }

  private remote(path: string, operation: string): string {
    try {
      return resolveInsideRoot(this.settings.rootPath, path);
    } catch (error) {
      throw toStorageError(error, this.scene(operation, path));
    }
  }

  private target(path: string, operation: string): WriteTarget {
    return {
      remotePath: this.remote(path, operation),
      rootPath: this.settings.rootPath,
      fileMode: this.settings.fileMode,
      dirMode: this.settings.dirMode,
      scene: this.scene(operation, this.remote(path, operation)),
    };
  }

  private scene(operation: string, remotePath?: string): ErrorScene {
    return this.pool.scene(operation, remotePath);
  }
}
