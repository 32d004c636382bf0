import { lstat, mkdir, open, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  NO_CAPABILITIES,
  StorageError,
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
import { errnoCode, toStorageError } from './errors.js';
import { listDirectory, toStorageStat } from './lister.js';
import { openReadStream } from './reader.js';
import { OPEN_READ, OPEN_WRITE_EXISTING, PosixRoot } from './root.js';
import { writeAtOffset, writeWhole, type WriterModes } from './writer.js';
import * as xattrs from './xattrs.js';

/** Parsed options of one POSIX storage. */
export interface PosixSettings extends WriterModes {
  mountPoint: string;
  readonly: boolean;
}

/** Capabilities of a POSIX helper; a read-only storage declares no modifying operation. */
export function posixCapabilities(config: StorageConfig): Capabilities {
  const writable = config.readonly !== true;
  return {
    ...NO_CAPABILITIES,
    stat: true,
    list: true,
    list_with_start_after: true,
    read: true,
    read_with_range: true,
    directories: true,
    xattrs: xattrs.xattrsAvailable,
    write: writable,
    write_at_offset: writable,
    truncate: writable,
    delete: writable,
    mkdir: writable,
    rename: writable,
    copy: writable,
    chmod: writable,
    durable_write: writable,
  };
}

/** Create a helper for a validated configuration; throws ConfigInvalid naming the option to fix. */
export async function createPosixHelper(config: StorageConfig, context: StorageHelperContext): Promise<StorageHelper> {
  const settings = parseSettings(config);
  const root = await PosixRoot.open(settings.mountPoint);
  context.logger.info({ mountPoint: root.directory }, 'POSIX storage helper created');
  return new PosixHelper(root, settings, posixCapabilities(config));
}

function parseSettings(config: StorageConfig): PosixSettings {
  const mountPoint = config.mountPoint;
  if (typeof mountPoint !== 'string' || mountPoint === '') {
    throw new StorageError('ConfigInvalid', 'option mountPoint is required: set it to the storage directory');
  }
  return {
    mountPoint,
    fileMode: parseMode('fileMode', config.fileMode, 0o664),
    dirMode: parseMode('dirMode', config.dirMode, 0o775),
    readonly: config.readonly === true,
  };
}

/** Parse permission bits written as an octal string such as `0664`. */
export function parseMode(option: string, value: StorageConfig[string] | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^0?[0-7]{3,4}$/.test(value)) {
    throw new StorageError('ConfigInvalid', `option ${option} must be an octal mode such as "0664", not "${String(value)}"`);
  }
  return Number.parseInt(value, 8);
}

/**
 * A storage helper for a local or mounted directory. Storage paths map to the same
 * relative paths below the root, and no request can leave it (see `PosixRoot`).
 */
export class PosixHelper implements StorageHelper {
  constructor(
    private readonly root: PosixRoot,
    private readonly settings: PosixSettings,
    readonly capabilities: Capabilities,
  ) {}

  stat(storagePath: string): Promise<StorageStat> {
    return this.guard(storagePath, async (absolute) => toStorageStat(await lstat(absolute)));
  }

  /** The hot path of downloads: the parent check may be recent, the opened file is checked exactly. */
  read(storagePath: string, range?: ByteRange): Promise<Readable> {
    const root = this.root;
    return this.guard(
      storagePath,
      (absolute) => openReadStream(absolute, range, (handle) => root.assertOpenedInside(handle)),
      () => root.resolveForRead(storagePath),
    );
  }

  write(storagePath: string, data: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    return this.guard(storagePath, (absolute) => {
      const { offset } = options;
      if (offset !== undefined) return writeAtOffset(absolute, data, { ...options, offset }, this.settings);
      return writeWhole(absolute, data, options, this.settings);
    });
  }

  truncate(storagePath: string, size: number): Promise<void> {
    return this.guard(storagePath, async (absolute) => {
      const handle = await open(absolute, OPEN_WRITE_EXISTING);
      try {
        await handle.truncate(size);
      } finally {
        await handle.close();
      }
    });
  }

  mkdir(storagePath: string, mode?: number): Promise<void> {
    return this.guard(storagePath, async (absolute) => {
      await mkdir(absolute, { recursive: true, mode: mode ?? this.settings.dirMode });
    });
  }

  list(storagePath: string, options?: ListOptions): Promise<ListPage> {
    return this.guard(storagePath, async (absolute) => {
      await this.assertNotSymlink(absolute);
      return listDirectory(absolute, options);
    });
  }

  delete(storagePath: string): Promise<void> {
    return this.guard(storagePath, (absolute) => ignoreMissing(unlink(absolute)));
  }

  rmdir(storagePath: string): Promise<void> {
    return this.guard(storagePath, async (absolute) => {
      if (absolute === this.root.directory) {
        throw new StorageError('PermissionDenied', 'the storage root directory cannot be removed');
      }
      await ignoreMissing(rmdir(absolute));
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.guard(from, async (source) => {
      const target = await this.root.resolve(to);
      await mkdir(path.dirname(target), { recursive: true, mode: this.settings.dirMode });
      await rename(source, target);
    });
  }

  /** Copy through a stream, so the source is opened with O_NOFOLLOW like every read. */
  copy(from: string, to: string): Promise<void> {
    return this.guard(from, async (source) => {
      const target = await this.root.resolve(to);
      const data = await openReadStream(source);
      await writeWhole(target, data, {}, this.settings);
    });
  }

  getXattr(storagePath: string, name: string): Promise<Buffer | undefined> {
    return this.guard(storagePath, (absolute) => xattrs.getXattr(absolute, name));
  }

  setXattr(storagePath: string, name: string, value: Buffer): Promise<void> {
    return this.guard(storagePath, (absolute) => {
      this.assertWritable();
      return xattrs.setXattr(absolute, name, value);
    });
  }

  removeXattr(storagePath: string, name: string): Promise<void> {
    return this.guard(storagePath, (absolute) => {
      this.assertWritable();
      return xattrs.removeXattr(absolute, name);
    });
  }

  listXattrs(storagePath: string): Promise<string[]> {
    return this.guard(storagePath, (absolute) => xattrs.listXattrs(absolute));
  }

  chmod(storagePath: string, mode: number): Promise<void> {
    return this.guard(storagePath, async (absolute) => {
      const handle = await open(absolute, OPEN_READ);
      try {
        await handle.chmod(mode);
      } finally {
        await handle.close();
      }
    });
  }

  async close(): Promise<void> {
    // Every call opens and closes its own file handles, so nothing stays open.
  }

  /** Resolve the path inside the root (with `resolve`, or `root.resolve`), run `call`, and map whatever it throws. */
  private async guard<T>(
    storagePath: string,
    call: (absolute: string) => Promise<T>,
    resolve?: () => Promise<string>,
  ): Promise<T> {
    try {
      const absolute = await (resolve ? resolve() : this.root.resolve(storagePath));
      return await call(absolute);
    } catch (error) {
      throw toStorageError(error, { path: storagePath });
    }
  }

  /** readdir follows a symbolic link, so a listed path must not be one. */
  private async assertNotSymlink(absolute: string): Promise<void> {
    try {
      if ((await lstat(absolute)).isSymbolicLink()) {
        throw new StorageError('NotADirectory', 'a symbolic link is not listed as a directory');
      }
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }

  private assertWritable(): void {
    if (this.settings.readonly) throw new StorageError('PermissionDenied', 'the storage is configured read-only');
  }
}

async function ignoreMissing(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
}
