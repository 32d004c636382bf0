import { newFileUuid } from '../ids/file-id.js';
import type { MetadataStore } from '../metadata/store.js';
import { COLLECTIONS, locationKey, type FileDoc, type FileLocationDoc, type SpaceDoc } from '../lfs/model.js';
import type { StorageStat } from '../storage/helper.js';

/**
 * Registration of data that already lies on an imported storage: the metadata that makes
 * a storage entry a file of a space, without copying its data. Both the import scan and
 * the manual `registerFile` use it.
 */

/** Where a registered entry comes from. */
export interface StorageEntrySource {
  space: SpaceDoc;
  storageId: string;
  providerId: string;
}

/** File type of a storage entry, or undefined for entries that are not registered (symbolic links, devices). */
export function registeredType(stat: StorageStat): 'REG' | 'DIR' | undefined {
  if (stat.type === 'directory') return 'DIR';
  return stat.type === 'file' ? 'REG' : undefined;
}

/** Build the file document of a storage entry; the space owner owns it. */
export function registeredFileDoc(source: StorageEntrySource, parentUuid: string, name: string, type: 'REG' | 'DIR', stat: StorageStat): FileDoc {
  const mtimeMs = stat.mtimeMs;
  return {
    uuid: newFileUuid(),
    spaceId: source.space.spaceId,
    parentUuid,
    name,
    type,
    mode: (stat.mode ?? (type === 'DIR' ? 0o775 : 0o664)) & 0o7777,
    size: type === 'REG' ? stat.size : 0,
    ownerUserId: source.space.ownerUserId,
    uid: stat.uid ?? 0,
    gid: stat.gid ?? 0,
    creationTimeMs: stat.ctimeMs ?? mtimeMs,
    atimeMs: stat.atimeMs ?? mtimeMs,
    mtimeMs,
    ctimeMs: stat.ctimeMs ?? mtimeMs,
  };
}

/** Build the location of a registered file: the storage holds all of its `size` bytes at `storagePath`. */
export function registeredLocation(
  source: StorageEntrySource,
  doc: FileDoc,
  storagePath: string,
  storageMtimeMs: number,
  size = doc.size,
): FileLocationDoc {
  return {
    fileUuid: doc.uuid,
    spaceId: doc.spaceId,
    storageId: source.storageId,
    providerId: source.providerId,
    storageFileId: storagePath,
    blocks: size > 0 ? [[0, size] as [number, number]] : [],
    storageMtimeMs,
  };
}

/**
 * Record a storage entry as a new child of `parent`: its document, its location (for
 * regular files), its name and a change. Throws `alreadyExists` when the name is taken.
 * Returns undefined, recording nothing, for entries of other types than file or directory.
 */
export async function registerStorageEntry(
  store: MetadataStore,
  source: StorageEntrySource,
  parent: FileDoc,
  name: string,
  stat: StorageStat,
  storagePath: string,
): Promise<FileDoc | undefined> {
  const type = registeredType(stat);
  if (type === undefined) return undefined;
  const doc = registeredFileDoc(source, parent.uuid, name, type, stat);

  await store.create(COLLECTIONS.file, doc.uuid, doc);
  if (type === 'REG') {
    await store.put(COLLECTIONS.location, locationKey(doc.uuid, source.storageId), registeredLocation(source, doc, storagePath, stat.mtimeMs));
  }
  try {
    await store.addChild(parent.uuid, name, doc.uuid);
  } catch (error) {
    // Another registration took the name first: leave no orphan document behind.
    await store.delete(COLLECTIONS.location, locationKey(doc.uuid, source.storageId));
    await store.delete(COLLECTIONS.file, doc.uuid);
    throw error;
  }
  await store.appendChange(doc.spaceId, { collection: COLLECTIONS.file, key: doc.uuid, deleted: false });
  return doc;
}
