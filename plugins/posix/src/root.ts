import { constants, readlinkSync, statSync } from 'node:fs';
import { realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { resolveInsideRoot, StorageError } from '@op-worker/core';
import { errnoCode } from './errors.js';

/** Open flags that never follow a symbolic link in the last path component. */
export const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const OPEN_WRITE_EXISTING = constants.O_WRONLY | constants.O_NOFOLLOW;
export const OPEN_CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** How long a read may rely on an earlier check of its parent directory, in milliseconds. */
export const VERIFIED_DIRECTORY_TTL_MS = 1000;

/** Bound of the remembered parent checks; the memory is cleared when it is full. */
const MAX_VERIFIED_DIRECTORIES = 10_000;

/** Whether the kernel names open files under /proc/self/fd (Linux). */
const OPENED_PATHS_VISIBLE = canReadOpenedPaths();

function canReadOpenedPaths(): boolean {
  try {
    return statSync('/proc/self/fd').isDirectory();
  } catch {
    return false;
  }
}

/**
 * The storage root directory, and the only place that turns storage paths into file
 * system paths. A path is first resolved lexically with `resolveInsideRoot`, then the
 * real path of its parent directory is checked to lie inside the root, so that a
 * symbolic link among the parent directories cannot lead outside. The last component is
 * never followed because files are opened with O_NOFOLLOW and stat uses lstat.
 *
 * NOTE: the parent check and the following call are two steps, so a link swapped in
 * between them by someone with write access to the storage is not caught, except by
 * reads (see `resolveForRead`).
 *
 * Reads take a cheaper path, because `realpath` costs a system call per path component
 * and dominated small downloads. The parent check is reused for
 * `VERIFIED_DIRECTORY_TTL_MS`, and the opened file is checked through `/proc/self/fd`
 * (`assertOpenedInside`), which gives the path of the file the kernel really opened.
 * So no byte from outside the root is read, even through a link swapped in at any
 * moment. A swapped parent directory can at most make a read open (and at once close) a
 * file outside, and only within the TTL after the last check.
 */
export class PosixRoot {
  /**
   * Parent directories checked for reads, each with the time its check expires (epoch ms)
   * and the check itself, which concurrent reads of one directory share.
   */
  private readonly verifiedDirectories = new Map<string, { expires: number; check: Promise<void> }>();

  private constructor(readonly directory: string) {}

  /** Resolve `mountPoint` to its real path; throws ConfigInvalid unless it is a directory. */
  static async open(mountPoint: string): Promise<PosixRoot> {
    try {
      const directory = await realpath(mountPoint);
      const info = await stat(directory);
      if (!info.isDirectory()) {
        throw new StorageError('ConfigInvalid', `mountPoint "${mountPoint}" is not a directory; set it to a directory`);
      }
      return new PosixRoot(directory);
    } catch (error) {
      if (StorageError.is(error)) throw error;
      throw new StorageError(
        'ConfigInvalid',
        `mountPoint "${mountPoint}" cannot be used (${errnoCode(error) ?? String(error)}); set it to an existing directory`,
        { cause: error },
      );
    }
  }

  /** Resolve a storage path and check that its parent directories stay inside the root. */
  async resolve(storagePath: string): Promise<string> {
    const absolute = resolveInsideRoot(this.directory, storagePath);
    if (absolute !== this.directory) await this.assertParentInside(absolute);
    return absolute;
  }

  /**
   * Resolve a storage path for a read. Like `resolve`, but the parent check may come from
   * a recent one; the caller must pass the opened file to `assertOpenedInside`. Where
   * `/proc/self/fd` is missing (not Linux), the parent is checked every time.
   */
  async resolveForRead(storagePath: string): Promise<string> {
    const absolute = resolveInsideRoot(this.directory, storagePath);
    if (absolute === this.directory) return absolute;
    if (!OPENED_PATHS_VISIBLE) return this.resolve(storagePath);

    const parent = path.dirname(absolute);
    const now = Date.now();
    const known = this.verifiedDirectories.get(parent);
    if (known !== undefined && known.expires > now) {
      await known.check;
      return absolute;
    }

    const check = this.assertParentInside(absolute);
    if (this.verifiedDirectories.size >= MAX_VERIFIED_DIRECTORIES) this.verifiedDirectories.clear();
    this.verifiedDirectories.set(parent, { expires: now + VERIFIED_DIRECTORY_TTL_MS, check });
    // A failed check is not remembered, so the next read checks again.
    check.catch(() => {
      if (this.verifiedDirectories.get(parent)?.check === check) this.verifiedDirectories.delete(parent);
    });
    await check;
    return absolute;
  }

  /**
   * Throw PermissionDenied unless the file open as `handle` lies inside the root. The
   * kernel's name of an open file leaves no gap between check and use. A no-op where
   * `/proc/self/fd` is missing, where `resolveForRead` checked the parent instead.
   */
  assertOpenedInside(handle: FileHandle): void {
    if (!OPENED_PATHS_VISIBLE) return;
    // Synchronous on purpose: procfs reads no disk, and a thread-pool round trip would
    // cost more than the call.
    const opened = readlinkSync(`/proc/self/fd/${handle.fd}`);
    if (opened !== this.directory && !opened.startsWith(this.directory + path.sep)) {
      throw new StorageError('PermissionDenied', 'path leads outside the storage root through a symbolic link');
    }
  }

  /** Throw PermissionDenied when the nearest existing ancestor of `absolute` is outside. */
  private async assertParentInside(absolute: string): Promise<void> {
    let ancestor = path.dirname(absolute);

    for (;;) {
      try {
        const real = await realpath(ancestor);
        if (real !== this.directory && !real.startsWith(this.directory + path.sep)) {
          throw new StorageError('PermissionDenied', 'path leads outside the storage root through a symbolic link');
        }
        return;
      } catch (error) {
        const code = errnoCode(error);
        if ((code !== 'ENOENT' && code !== 'ENOTDIR') || ancestor === this.directory) throw error;
        ancestor = path.dirname(ancestor);
      }
    }
  }
}
