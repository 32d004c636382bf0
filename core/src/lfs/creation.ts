import { Readable } from 'node:stream';
import { OpError } from '../errors.js';
import { decodeFileId, newFileUuid } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import { assertValidName, splitLogicalPath } from '../paths.js';
import { toLinkAttributes } from './attributes.js';
import { storageDirId } from './layout.js';
import { COLLECTIONS, DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, type FileDoc, type SpaceDoc } from './model.js';
import { onStorage } from './storage-errors.js';
import type { CreateFileRequest, FileAttributes, Identity } from './types.js';
import { LfsContent } from './content.js';
import { type ResolvedFile, assertChangeable, assertNotReserved, validMode } from './base.js';

/** Creating files, directories, hard links and symbolic links. */
export abstract class LfsCreation extends LfsContent {
  async create(who: Identity, parentId: string, name: string, request: CreateFileRequest): Promise<FileAttributes> {
    const parent = await this.resolveForChange(who, parentId);
    return this.createIn(who, parent, assertValidName(name), request);
  }

  async createAtPath(
    who: Identity,
    baseId: string,
    relativePath: string,
    request: CreateFileRequest & { createParents?: boolean },
  ): Promise<FileAttributes> {
    const base = assertChangeable(await this.resolveBase(who, baseId));
    const segments = splitLogicalPath(relativePath);
    const name = segments.pop();
    if (name === undefined) throw OpError.badValue('path', 'path must name the file to create');

    let parent: ResolvedFile = base;
    for (const segment of segments) {
      await this.authorize(who, parent, 'traverse');
      const childId = await this.store.getChild(parent.doc.uuid, segment);
      if (childId !== undefined) {
        parent = { space: parent.space, doc: await this.fileDoc(childId) };
        if (parent.doc.type !== 'DIR') throw OpError.posix('enotdir', `"${segment}" is not a directory`, { name: segment });
        continue;
      }
      if (!request.createParents) {
        throw OpError.notFound(`directory "${segment}"`, { path: relativePath });
      }
      parent = await this.createDirectoryTolerant(who, parent, segment);
    }
    return this.createIn(who, parent, name, request);
  }

  /** Make a directory, or take the one a concurrent request made under the same name. */
  protected async createDirectoryTolerant(who: Identity, parent: ResolvedFile, name: string): Promise<ResolvedFile> {
    try {
      const created = await this.createIn(who, parent, name, { type: 'DIR' });
      return { space: parent.space, doc: await this.fileDoc(decodeFileId(created.fileId).fileUuid) };
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'posix' && error.details.errno === 'eexist')) throw error;
      const existing = await this.store.getChild(parent.doc.uuid, name);
      if (existing === undefined) throw error;
      const doc = await this.fileDoc(existing);
      if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${name}" is not a directory`, { name });
      return { space: parent.space, doc };
    }
  }

  protected async createIn(who: Identity, parent: ResolvedFile, name: string, request: CreateFileRequest): Promise<FileAttributes> {
    if (parent.doc.type !== 'DIR') throw OpError.posix('enotdir', `"${parent.doc.name}" is not a directory`);
    assertNotReserved(parent.doc, name);
    await this.authorize(who, parent, request.type === 'DIR' ? 'add_subcontainer' : 'add_object');
    if (request.type === 'LNK') return this.createHardlink(who, parent, name, request.targetFileId);
    if (request.type === 'SYMLNK' && (request.targetFilePath === undefined || request.targetFilePath === '')) {
      throw new OpError('missingValue', 'a symbolic link needs a target path (target_file_path)', { key: 'target_file_path' });
    }
    const mode = validMode(request.mode ?? (request.type === 'DIR' ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE));
    const now = this.clock.now();
    const doc: FileDoc = {
      uuid: newFileUuid(),
      spaceId: parent.space.spaceId,
      parentUuid: parent.doc.uuid,
      name,
      type: request.type,
      mode,
      size: request.type === 'SYMLNK' ? Buffer.byteLength(request.targetFilePath ?? '') : 0,
      ownerUserId: who.userId,
      uid: 0,
      gid: 0,
      creationTimeMs: now,
      atimeMs: now,
      mtimeMs: now,
      ctimeMs: now,
      ...(request.type === 'SYMLNK' ? { symlinkValue: request.targetFilePath } : {}),
    };

    // The document goes first and the name second: a crash in between leaves an
    // unreachable document, never a name that points at nothing.
    await this.store.create(COLLECTIONS.file, doc.uuid, doc);
    try {
      await this.store.addChild(parent.doc.uuid, name, doc.uuid);
    } catch (error) {
      await this.store.delete(COLLECTIONS.file, doc.uuid);
      if (OpError.is(error) && error.kind === 'alreadyExists') {
        throw OpError.posix('eexist', `"${name}" already exists`, { name });
      }
      throw error;
    }

    try {
      await this.materialise(parent, doc, request);
    } catch (error) {
      await this.unlink(parent.space, doc).catch((cleanup) =>
        this.logger.error({ err: cleanup, fileUuid: doc.uuid }, 'cleanup after a failed create failed'),
      );
      throw error;
    }

    await this.touchDirectory(parent.doc.uuid, now);
    await this.recordChange(doc, false);
    const stored = await this.fileDoc(doc.uuid);
    return this.attributes(stored);
  }

  /**
   * Give an existing file a second name. The link document holds only the name and
   * parent; data, size, times and metadata stay on the inode, which lists its links.
   */
  protected async createHardlink(who: Identity, parent: ResolvedFile, name: string, targetFileId: string | undefined): Promise<FileAttributes> {
    if (targetFileId === undefined || targetFileId === '') {
      throw new OpError('missingValue', 'a hard link needs a target file id (target_file_id)', { key: 'target_file_id' });
    }
    const target = await this.resolveForChange(who, targetFileId);
    if (target.doc.type === 'DIR') throw OpError.posix('eperm', `"${target.doc.name}" is a directory, which cannot have hard links`);
    if (target.space.spaceId !== parent.space.spaceId) throw OpError.posix('exdev', 'a hard link must be in the space of its target');

    const now = this.clock.now();
    const link: FileDoc = { ...target.doc, uuid: newFileUuid(), parentUuid: parent.doc.uuid, name, inodeUuid: target.doc.uuid, creationTimeMs: now };
    delete link.linkUuids;
    delete link.detached;
    delete link.shareIds;

    await this.store.create(COLLECTIONS.file, link.uuid, link);
    try {
      await this.store.addChild(parent.doc.uuid, name, link.uuid);
    } catch (error) {
      await this.store.delete(COLLECTIONS.file, link.uuid);
      if (OpError.is(error) && error.kind === 'alreadyExists') throw OpError.posix('eexist', `"${name}" already exists`, { name });
      throw error;
    }
    const inode = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, target.doc.uuid, (value) => {
      value.linkUuids = [...(value.linkUuids ?? []), link.uuid];
      value.ctimeMs = now;
    });

    await this.touchDirectory(parent.doc.uuid, now);
    await this.recordChange(link, false);
    return toLinkAttributes(link, inode.value, await this.pathOf(link));
  }

  /** Create the storage side of a new file: its (possibly empty) data, or a canonical directory. */
  protected async materialise(parent: ResolvedFile, doc: FileDoc, request: CreateFileRequest): Promise<void> {
    if (doc.type === 'SYMLNK') return;
    if (doc.type === 'DIR') {
      await this.makeStorageDirectory(parent.space, doc);
      return;
    }
    const content = request.content ?? Readable.from([]);
    await this.writeData({ doc, space: parent.space }, content, { offset: request.offset, size: request.size });
  }

  protected async makeStorageDirectory(space: SpaceDoc, doc: FileDoc): Promise<void> {
    const support = space.supports[0];
    if (!support) return;
    const record = await this.storages.get(support.storageId);
    const helper = await this.storages.helper(support.storageId);
    if (record.storagePathType !== 'canonical' || !helper.capabilities.directories) return;
    const segments = await this.segmentsBelowSpace(doc);
    await onStorage(() => helper.mkdir(storageDirId(support, segments), doc.mode));
  }
}
