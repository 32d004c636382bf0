import { COLLECTIONS, decodeFileId, locationKey, updateDocument, type Core, type FileLocationDoc } from '@op-worker/core';
import { streamOf } from '../src/fixture.js';

/**
 * Leave a file's bytes split between two storages that both have a full copy. In their
 * file locations `first` keeps `[0, split)` and `second` keeps `[split, size)`. The bytes
 * each storage no longer records are overwritten with `#` on the storage itself.
 * Only a read that takes each range from the storage recording it returns the content.
 */
export async function splitReplicas(core: Core, fileId: string, size: number, split: number, first: string, second: string): Promise<void> {
  const { fileUuid } = decodeFileId(fileId);
  await keepOnly(core, fileUuid, first, 0, split);
  await keepOnly(core, fileUuid, second, split, size - split);
  await scribble(core, fileUuid, first, split, size - split);
  await scribble(core, fileUuid, second, 0, split);
}

async function keepOnly(core: Core, fileUuid: string, storageId: string, offset: number, length: number): Promise<void> {
  await updateDocument<FileLocationDoc>(core.store, COLLECTIONS.location, locationKey(fileUuid, storageId), (location) => {
    location.blocks = [[offset, length]];
  });
}

async function scribble(core: Core, fileUuid: string, storageId: string, offset: number, length: number): Promise<void> {
  const location = await core.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(fileUuid, storageId));
  if (!location) throw new Error(`file ${fileUuid} has no location on storage ${storageId}`);
  const helper = await core.storages.helper(storageId);
  await helper.write(location.value.storageFileId, streamOf(Buffer.alloc(length, '#')), { offset, size: length });
}
