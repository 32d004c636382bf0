import { constants } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveInsideRoot, StorageError } from '@op-worker/core';
import { errnoCode } from './errors.js';

/** Open flags that never follow a symbolic link in the last path component. */
export const OPEN_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const OPEN_WRITE_EXISTING = constants.O_WRONLY | constants.O_NOFOLLOW;
export const OPEN_CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * The storage root directory, and the only place that turns storage paths into file
 * system paths. A path is first resolved lexically with `resolveInsideRoot`, then the
 * real path of its parent directory is checked to lie inside the root, so that a
 * symbolic link among the parent directories cannot lead outside. The last component is
 * never followed because files are opened with O_NOFOLLOW and stat uses lstat.
 *
 * NOTE: the parent check and the following call are two steps, so a link swapped in
 * between them by someone with write access to the storage is not caught.
 */
export class PosixRoot {
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
