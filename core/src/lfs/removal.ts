import { OpError } from '../errors.js';
import { encodeFileId } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import { storageDirId, storageFileId } from './layout.js';
import {
  COLLECTIONS,
  DETACHED_DATA_DIR,
  locationKey,
  spaceTrashUuid,
  TRASH_DIR_NAME,
  type FileDoc,
  type FileLocationDoc,
  type SpaceDoc,
} from './model.js';
import { onStorage } from './storage-errors.js';
import type { Identity } from './types.js';
import type { SpaceAccess } from '../authz/membership.js';
import { LfsCreation } from './creation.js';
import { type ResolvedFile, entryOf } from './base.js';

/** Whether removing a file also deletes its data on the storages. */
export type DataRemoval = 'delete-data' | 'keep-data';

/** Deleting files and trees, through the space trash for directories. */
export abstract class LfsRemoval extends LfsCreation {
  async remove(who: Identity, fileId: string): Promise<void> {
    const resolved = await this.resolveForChange(who, fileId);
    const file: ResolvedFile = { doc: entryOf(resolved), space: resolved.space };
    if (file.doc.parentUuid === null) throw OpError.posix('eperm', 'a space root cannot be deleted');
    if (file.doc.uuid === spaceTrashUuid(file.space.spaceId)) throw OpError.posix('eperm', 'the trash directory cannot be deleted');
    await this.authorizeUnlink(who, resolved);

    if (file.doc.type === 'DIR' && !file.doc.inodeUuid) {
      await this.removeDirectory(who, file);
    } else {
      await this.removeTree(who, file);
    }
    await this.touchDirectory(file.doc.parentUuid, this.clock.now());
  }

  /**
   * Delete a directory and everything below it. When `who` may delete every entry, the
   * directory goes through the trash at once. Otherwise the tree is deleted in place,
   * entry by entry: denied entries and the directories above them stay, and the call
   * throws posix `eacces` naming the first denied path.
   * NOTE: for users other than owners and administrators the whole tree is read before
   * the reply, so deleting a very large tree is as slow as walking it.
   */
  protected async removeDirectory(who: Identity, file: ResolvedFile): Promise<void> {
    const access = await this.authz.membership.accessOf(who, file.space);
    const parent = await this.fileDoc(file.doc.parentUuid!);
    const denied = await this.removePermitted(who, access, file.space, parent, file.doc, 'check');
    if (denied === undefined) {
      await this.moveToTrash(who, file);
      return;
    }

    const kept = await this.removePermitted(who, access, file.space, parent, file.doc, 'apply');
    if (kept === undefined) return;
    throw OpError.posix(
      'eacces',
      `cannot delete "${kept.path}": ${kept.error.message}; it and the directories above it were kept, everything else below "${file.doc.name}" was deleted`,
      { path: kept.path },
    );
  }

  /**
   * Remove a file or a whole tree from the namespace at once, leaving whatever data is
   * on the storages untouched. Import uses it for entries that vanished from an
   * imported storage, where deleting "their" data could only hit something else.
   */
  async forget(who: Identity, fileId: string): Promise<void> {
    const resolved = await this.resolveForChange(who, fileId);
    const file: ResolvedFile = { doc: entryOf(resolved), space: resolved.space };
    if (file.doc.parentUuid === null) throw OpError.posix('eperm', 'a space root cannot be deleted');
    await this.authorizeUnlink(who, resolved);
    await this.removeTree(who, file, 'keep-data');
    await this.touchDirectory(file.doc.parentUuid, this.clock.now());
  }

  /**
   * Check that `who` may take a file's name away: delete access to the file and
   * delete-child access to its directory. `remove` checks the contents of a deleted
   * directory one by one with `removePermitted`.
   */
  protected async authorizeUnlink(who: Identity, file: ResolvedFile): Promise<void> {
    const entry = entryOf(file);
    if (entry.parentUuid === null) return;
    await this.authorize(who, file, 'delete');
    await this.authorize(who, { space: file.space, doc: await this.fileDoc(entry.parentUuid) }, 'delete_child');
  }

  /**
   * Walk a tree depth-first in name order and delete (`apply`) or only check (`check`)
   * every entry that `who` may unlink: delete access to the entry and delete-child access
   * to its directory, as for a single delete. A directory goes only when everything in it
   * went, so an entry that is denied keeps itself and every directory above it, as
   * `rm -rf` does. Returns the first denied entry with the reason, or undefined when the
   * whole tree may go. `check` stops at the first denial; owners and administrators are
   * never denied, so for them it reads nothing.
   */
  protected async removePermitted(
    who: Identity,
    access: SpaceAccess,
    space: SpaceDoc,
    parent: FileDoc,
    entry: FileDoc,
    mode: 'check' | 'apply',
  ): Promise<{ path: string; error: OpError } | undefined> {
    if (access.bypass && mode === 'check') return undefined;

    let denied: { path: string; error: OpError } | undefined;
    if (entry.type === 'DIR' && entry.inodeUuid === undefined) {
      denied = await this.removeChildrenPermitted(who, access, space, entry, mode);
      if (denied !== undefined && mode === 'check') return denied;
    }
    const error = await this.unlinkDenial(who, access, space, parent, entry);
    if (error !== undefined) return denied ?? { path: await this.pathOf(entry), error };
    if (denied !== undefined) return denied;

    if (mode === 'apply') await this.unlink(space, entry);
    return undefined;
  }

  /** Apply `removePermitted` to each child of `dir`, page by page; denied children stay, so pages resume after the last name seen. */
  private async removeChildrenPermitted(
    who: Identity,
    access: SpaceAccess,
    space: SpaceDoc,
    dir: FileDoc,
    mode: 'check' | 'apply',
  ): Promise<{ path: string; error: OpError } | undefined> {
    let first: { path: string; error: OpError } | undefined;
    let startAfter: string | undefined;
    for (;;) {
      const children = await this.store.listChildren(dir.uuid, { startAfter, limit: 100 });
      for (const child of children) {
        const doc = await this.store.get<FileDoc>(COLLECTIONS.file, child.childId);
        if (!doc) {
          if (mode === 'apply') await this.store.removeChild(dir.uuid, child.name, child.childId);
          continue;
        }
        const denied = await this.removePermitted(who, access, space, dir, doc.value, mode);
        if (denied !== undefined && mode === 'check') return denied;
        first ??= denied;
      }
      if (children.length < 100) return first;
      startAfter = children[children.length - 1]!.name;
    }
  }

  /** Find why `who` may not unlink `entry` from `parent`; undefined when it may. */
  private async unlinkDenial(who: Identity, access: SpaceAccess, space: SpaceDoc, parent: FileDoc, entry: FileDoc): Promise<OpError | undefined> {
    const inode = entry.inodeUuid === undefined ? undefined : await this.store.get<FileDoc>(COLLECTIONS.file, entry.inodeUuid);
    const target = inode ? { space, doc: inode.value, link: entry } : { space, doc: entry };
    try {
      await this.authz.check(who, target, 'delete', access);
      await this.authz.check(who, { space, doc: parent }, 'delete_child', access);
      return undefined;
    } catch (error) {
      if (OpError.is(error) && error.kind === 'posix') return error;
      throw error;
    }
  }

  /**
   * Delete a directory through the space's trash: it is moved there under its uuid at
   * once, so its name is free and it is out of sight, and its contents are deleted in the
   * background. A worker that stops before the background delete ends leaves the rest in
   * the trash. NOTE: nothing empties a trash left over from a previous run yet.
   */
  protected async moveToTrash(who: Identity, file: ResolvedFile): Promise<void> {
    const trash = await this.ensureTrash(file.space);
    await this.rename(who, encodeFileId({ fileUuid: file.doc.uuid, spaceId: file.doc.spaceId }), encodeFileId({ fileUuid: trash.uuid, spaceId: trash.spaceId }), file.doc.uuid);

    const moved = await this.fileDoc(file.doc.uuid);
    void this.removeTree(who, { space: file.space, doc: moved }).catch((error: unknown) =>
      this.logger.error({ err: error, fileUuid: file.doc.uuid, spaceId: file.space.spaceId }, 'background delete of a trashed directory failed'),
    );
  }

  /** The space's trash directory, created on first use. It is not among the root's children. */
  protected async ensureTrash(space: SpaceDoc): Promise<FileDoc> {
    const uuid = spaceTrashUuid(space.spaceId);
    const existing = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (existing) return existing.value;

    const now = this.clock.now();
    const trash: FileDoc = {
      uuid,
      spaceId: space.spaceId,
      parentUuid: space.rootUuid,
      name: TRASH_DIR_NAME,
      type: 'DIR',
      mode: 0o700,
      size: 0,
      ownerUserId: space.ownerUserId,
      uid: 0,
      gid: 0,
      creationTimeMs: now,
      atimeMs: now,
      mtimeMs: now,
      ctimeMs: now,
    };
    await this.makeStorageDirectory(space, trash);
    try {
      await this.store.create(COLLECTIONS.file, uuid, trash);
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
    }
    return trash;
  }

  async getTrashDirId(who: Identity, spaceId: string): Promise<string> {
    const space = await this.accessibleSpace(who, spaceId);
    return encodeFileId({ fileUuid: (await this.ensureTrash(space)).uuid, spaceId });
  }

  /** Delete a file, or a directory depth-first: children before their parent. */
  protected async removeTree(who: Identity, file: ResolvedFile, data: DataRemoval = 'delete-data'): Promise<void> {
    if (file.doc.type === 'DIR') {
      for (;;) {
        const children = await this.store.listChildren(file.doc.uuid, { limit: 100 });
        if (children.length === 0) break;
        for (const child of children) {
          const doc = await this.store.get<FileDoc>(COLLECTIONS.file, child.childId);
          if (doc) await this.removeTree(who, { space: file.space, doc: doc.value }, data);
          else await this.store.removeChild(file.doc.uuid, child.name, child.childId);
        }
      }
    }
    await this.unlink(file.space, file.doc, data);
  }

  /** Remove one file or empty directory: its name first, then its data, then its documents. */
  protected async unlink(space: SpaceDoc, doc: FileDoc, data: DataRemoval = 'delete-data'): Promise<void> {
    if (doc.inodeUuid !== undefined) {
      await this.unlinkHardlink(space, doc, data);
      return;
    }
    const segments = await this.segmentsBelowSpace(doc).catch(() => undefined);
    if (doc.parentUuid !== null) await this.store.removeChild(doc.parentUuid, doc.name, doc.uuid);
    if (doc.linkUuids !== undefined && doc.linkUuids.length > 0) {
      await this.detach(space, doc, segments ?? [], data);
      return;
    }
    await this.purge(space, doc, segments, data);
  }

  /** Remove a hard link's name; the inode goes too when this was its last name. */
  protected async unlinkHardlink(space: SpaceDoc, link: FileDoc, data: DataRemoval): Promise<void> {
    if (link.parentUuid !== null) await this.store.removeChild(link.parentUuid, link.name, link.uuid);
    await this.store.delete(COLLECTIONS.file, link.uuid);
    await this.recordChange(link, true);

    const inode = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, link.inodeUuid!, (value) => {
      value.linkUuids = (value.linkUuids ?? []).filter((uuid) => uuid !== link.uuid);
      value.ctimeMs = this.clock.now();
    }).catch((error: unknown) => {
      if (OpError.is(error) && error.kind === 'notFound') return undefined;
      throw error;
    });
    if (inode && inode.value.detached && (inode.value.linkUuids ?? []).length === 0) {
      await this.purge(space, inode.value, undefined, data);
    }
  }

  /**
   * Keep an inode whose own name was deleted while hard links remain. On canonical
   * storages its data path would be taken by the next file of that name, so the data
   * moves to a folder of its own and the new path is recorded in the file location.
   */
  protected async detach(space: SpaceDoc, doc: FileDoc, segments: string[], data: DataRemoval): Promise<void> {
    for (const support of data === 'keep-data' ? [] : space.supports) {
      const record = await this.storages.get(support.storageId);
      const key = locationKey(doc.uuid, support.storageId);
      if (record.storagePathType !== 'canonical' || !(await this.store.get(COLLECTIONS.location, key))) continue;
      const helper = await this.storages.helper(support.storageId);
      const from = storageFileId(record, support, doc.uuid, segments);
      const to = storageDirId(support, [DETACHED_DATA_DIR, doc.uuid]);
      if (helper.capabilities.directories) await onStorage(() => helper.mkdir(storageDirId(support, [DETACHED_DATA_DIR])));
      await onStorage(() => helper.rename!(from, to));
      await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, key, (location) => {
        location.storageFileId = to;
      });
    }
    const detached = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.detached = true;
      value.ctimeMs = this.clock.now();
    });
    await this.recordChange(detached.value, true);
  }

  /** Delete a file's data on every storage, then its documents. */
  protected async purge(space: SpaceDoc, doc: FileDoc, segments: string[] | undefined, data: DataRemoval): Promise<void> {
    for (const support of space.supports) {
      if (data === 'keep-data') {
        await this.store.delete(COLLECTIONS.location, locationKey(doc.uuid, support.storageId));
        continue;
      }
      const helper = await this.storages.helper(support.storageId);
      if (doc.type === 'DIR') {
        const record = await this.storages.get(support.storageId);
        if (record.storagePathType === 'canonical' && helper.capabilities.directories && segments) {
          await onStorage(() => helper.rmdir(storageDirId(support, segments))).catch((error: unknown) =>
            this.logger.warn({ err: error, fileUuid: doc.uuid }, 'directory left on storage after delete'),
          );
        }
        continue;
      }
      const key = locationKey(doc.uuid, support.storageId);
      if (!(await this.store.get<FileLocationDoc>(COLLECTIONS.location, key))) continue;
      const record = await this.storages.get(support.storageId);
      const path = await this.dataPath(doc, support, record);
      await onStorage(() => helper.delete(path));
      await this.store.delete(COLLECTIONS.location, key);
    }

    await this.store.delete(COLLECTIONS.xattrs, doc.uuid);
    await this.store.delete(COLLECTIONS.json, doc.uuid);
    await this.store.delete(COLLECTIONS.rdf, doc.uuid);
    await this.store.delete(COLLECTIONS.file, doc.uuid);
    await this.recordChange(doc, true);
  }
}
