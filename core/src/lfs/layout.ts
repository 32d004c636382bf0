import type { StorageRecord } from '../spaces/api.js';
import { toStoragePath } from '../paths.js';
import type { SpaceSupport } from './model.js';

/**
 * Path of a file's data on a storage. `canonical` mirrors the logical path below the
 * space's folder (imported storages need it, and renames move data); `flat` derives it
 * from the file uuid (renames touch only metadata), sharded by the uuid's first two
 * characters so that no folder grows without bound.
 */
export function storageFileId(
  storage: Pick<StorageRecord, 'storagePathType'>,
  support: Pick<SpaceSupport, 'storagePrefix'>,
  fileUuid: string,
  segmentsBelowSpace: readonly string[],
): string {
  const relative = storage.storagePathType === 'canonical'
    ? toStoragePath(segmentsBelowSpace)
    : `${fileUuid.slice(0, 2)}/${fileUuid}`;
  return joinStoragePath(support.storagePrefix, relative);
}

/** Storage path of a directory below the space folder; only canonical layouts have them. */
export function storageDirId(support: Pick<SpaceSupport, 'storagePrefix'>, segmentsBelowSpace: readonly string[]): string {
  return joinStoragePath(support.storagePrefix, toStoragePath(segmentsBelowSpace));
}

function joinStoragePath(prefix: string, relative: string): string {
  if (prefix === '') return relative;
  return relative === '' ? prefix : `${prefix}/${relative}`;
}
