import { OpError } from '../errors.js';
import { updateDocument } from '../metadata/cas.js';
import { assertValidName } from '../paths.js';
import { storageDirId, storageFileId } from './layout.js';
import { COLLECTIONS, locationKey, spaceTrashUuid, type FileDoc, type FileLocationDoc } from './model.js';
import { onStorage } from './storage-errors.js';
import type { FileAttributes, Identity } from './types.js';
import { LfsRemoval } from './removal.js';
import { type ResolvedFile, entryOf, assertNotReserved } from './base.js';

/** Moving and renaming, with POSIX semantics for an existing target. */
export abstract class LfsRename extends LfsRemoval {
  async rename(who: Identity, fileId: string, newParentId: string, newName: string): Promise<FileAttributes> {
    // A hard link is renamed as its own document: it has a name but no data to move.
    const resolved = await this.resolveForChange(who, fileId);
    const source: ResolvedFile = { doc: entryOf(resolved), space: resolved.space };
    const target = await this.resolveForChange(who, newParentId);
    assertValidName(newName);
    if (source.doc.parentUuid === null) throw OpError.posix('eperm', 'a space root cannot be moved');
    if (target.doc.type !== 'DIR') throw OpError.posix('enotdir', `"${target.doc.name}" is not a directory`);
    if (target.doc.uuid !== spaceTrashUuid(target.space.spaceId)) assertNotReserved(target.doc, newName);
    if (target.space.spaceId !== source.space.spaceId) {
      throw OpError.posix('exdev', 'moving files between spaces is not supported; copy them instead');
    }
    // Moving into the trash is how directories are deleted: it needs delete access only.
    await this.authorizeUnlink(who, resolved);
    if (target.doc.uuid !== spaceTrashUuid(target.space.spaceId)) {
      await this.authorize(who, target, source.doc.type === 'DIR' ? 'add_subcontainer' : 'add_object');
    }
    if (source.doc.parentUuid === target.doc.uuid && source.doc.name === newName) return this.attributes(source.doc);
    await this.assertNotInside(target.doc, source.doc);

    await this.replaceExistingTarget(who, source.doc, target, newName);
    const oldSegments = await this.segmentsBelowSpace(source.doc);
    const newSegments = [...(await this.segmentsBelowSpace(target.doc)), newName];
    await this.moveCanonicalData(source, oldSegments, newSegments);

    await this.store.addChild(target.doc.uuid, newName, source.doc.uuid).catch((error: unknown) => {
      if (OpError.is(error) && error.kind === 'alreadyExists') {
        throw OpError.posix('eexist', `"${newName}" already exists`, { name: newName });
      }
      throw error;
    });
    const now = this.clock.now();
    const moved = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, source.doc.uuid, (value) => {
      value.parentUuid = target.doc.uuid;
      value.name = newName;
      value.ctimeMs = now;
    });
    await this.store.removeChild(source.doc.parentUuid, source.doc.name, source.doc.uuid);
    await this.touchDirectory(source.doc.parentUuid, now);
    await this.touchDirectory(target.doc.uuid, now);
    await this.recordChange(moved.value, false);
    return this.attributes(moved.value);
  }

  /** POSIX rename semantics for an existing target name: a file replaces a file, a directory an empty directory. */
  protected async replaceExistingTarget(who: Identity, source: FileDoc, target: ResolvedFile, name: string): Promise<void> {
    const existingId = await this.store.getChild(target.doc.uuid, name);
    if (existingId === undefined) return;
    const existing = await this.fileDoc(existingId);

    if (existing.type === 'DIR' && source.type !== 'DIR') throw OpError.posix('eisdir', `"${name}" is a directory`);
    if (existing.type !== 'DIR' && source.type === 'DIR') throw OpError.posix('enotdir', `"${name}" is not a directory`);
    if (existing.type === 'DIR' && (await this.store.listChildren(existing.uuid, { limit: 1 })).length > 0) {
      throw OpError.posix('enotempty', `directory "${name}" is not empty`);
    }
    await this.authorize(who, { space: target.space, doc: existing }, 'delete');
    await this.removeTree(who, { space: target.space, doc: existing });
  }

  /** On canonical storages the data's path follows the logical path, so move it there first. */
  protected async moveCanonicalData(source: ResolvedFile, oldSegments: string[], newSegments: string[]): Promise<void> {
    for (const support of source.space.supports) {
      const record = await this.storages.get(support.storageId);
      if (record.storagePathType !== 'canonical') continue;
      const helper = await this.storages.helper(support.storageId);
      const from = storageDirId(support, oldSegments);
      const to = storageDirId(support, newSegments);

      if (source.doc.type === 'DIR') {
        if (!helper.capabilities.directories) {
          throw new OpError('notImplemented', `renaming a directory on canonical storage "${record.name}" (${record.type}) is not supported`);
        }
        await onStorage(() => helper.mkdir(storageDirId(support, newSegments.slice(0, -1))));
        await onStorage(() => helper.rename!(from, to));
        continue;
      }

      const location = await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(source.doc.uuid, support.storageId));
      if (!location) continue;
      await onStorage(() => helper.rename!(storageFileId(record, support, source.doc.uuid, oldSegments), to));
      await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, location.key, (value) => {
        value.storageFileId = to;
      });
    }
  }
}
