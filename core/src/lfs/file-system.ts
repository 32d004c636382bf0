import { Readable } from 'node:stream';
import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId, encodeFileId, newFileUuid, type FileGuid } from '../ids/file-id.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import { assertValidName, splitLogicalPath } from '../paths.js';
import type { StorageRecord, StorageRegistry } from '../spaces/api.js';
import type { StorageHelper } from '../storage/helper.js';
import { TYPES, type Clock } from '../tokens.js';
import type { LogicalFileSystem } from './api.js';
import { toAttributes, toLinkAttributes } from './attributes.js';
import { storageDirId, storageFileId } from './layout.js';
import { encodePageToken, listChildrenPage } from './listing.js';
import { decodeWalkToken, encodeWalkToken, walkFiles, type ListRecursiveRequest, type ListRecursiveResult } from './recursive.js';
import {
  addBlock,
  COLLECTIONS,
  DEFAULT_DIR_MODE,
  DEFAULT_FILE_MODE,
  DETACHED_DATA_DIR,
  locationKey,
  spaceRootUuid,
  spaceTrashUuid,
  TRASH_DIR_NAME,
  truncateBlocks,
  type FileDoc,
  type FileLocationDoc,
  type SpaceDoc,
  type SpaceSupport,
  type XattrsDoc,
} from './model.js';
import { onStorage } from './storage-errors.js';
import type {
  CreateFileRequest,
  FileAttributes,
  FileChange,
  FileDistribution,
  Identity,
  JsonValue,
  ListChildrenRequest,
  ListChildrenResult,
  ReadResult,
  SpaceInfo,
  WriteRequest,
} from './types.js';
import { toSpaceInfo } from '../spaces/space-service.js';

/** Options of the core services. */
export interface CoreOptions {
  /** Id of this provider, recorded in file locations. */
  providerId: string;
}

/** A file's document together with what is needed to reach its data. */
interface ResolvedFile {
  /** The inode: the document that holds the data, size, times and metadata. */
  doc: FileDoc;
  space: SpaceDoc;
  /** Set when the id named a hard link: the document that holds the link's name and parent. */
  link?: FileDoc;
}

/** The document that holds a resolved file's name and parent: the link, or else the inode. */
function entryOf(file: ResolvedFile): FileDoc {
  return file.link ?? file.doc;
}

/** A storage that holds (or will hold) a file's data. */
interface Placement {
  support: SpaceSupport;
  record: StorageRecord;
  helper: StorageHelper;
  path: string;
}

const SPACE_ID_PATTERN = /^[0-9a-f]{32}$/;

@injectable()
export class LogicalFileSystemImpl implements LogicalFileSystem {
  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.StorageRegistry) private readonly storages: StorageRegistry,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly logger: Logger,
    @inject(TYPES.CoreOptions) private readonly options: CoreOptions,
  ) {}


  async listSpaces(who: Identity): Promise<SpaceInfo[]> {
    const spaces: SpaceInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<SpaceDoc>(COLLECTIONS.space, { cursor, limit: 100 });
      for (const { value } of page.documents) {
        if (canAccessSpace(who, value)) spaces.push(toSpaceInfo(value));
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return spaces.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  }

  async getSpace(who: Identity, spaceId: string): Promise<SpaceInfo> {
    return toSpaceInfo(await this.accessibleSpace(who, spaceId));
  }

  async lookupPath(who: Identity, logicalPath: string): Promise<FileAttributes> {
    const [spaceName, ...rest] = splitLogicalPath(logicalPath);
    if (spaceName === undefined) throw OpError.badValue('path', 'path must start with a space name');

    const index = await this.store.get<{ spaceId: string }>(COLLECTIONS.spaceName, spaceName);
    if (!index) throw OpError.notFound(`space "${spaceName}"`, { path: logicalPath });
    const space = await this.accessibleSpace(who, index.value.spaceId);

    const doc = await this.walk(space, await this.fileDoc(space.rootUuid), rest);
    return toAttributes(doc, '/' + [space.name, ...rest].join('/'));
  }

  async lookupRelative(who: Identity, baseId: string, relativePath: string): Promise<FileAttributes> {
    const base = await this.resolveBase(who, baseId);
    const segments = splitLogicalPath(relativePath);
    const doc = await this.walk(base.space, base.doc, segments);
    return this.attributes(doc);
  }

  async getAttributes(who: Identity, fileId: string): Promise<FileAttributes> {
    return this.resolvedAttributes(await this.resolve(who, fileId));
  }

  async getHardlinks(who: Identity, fileId: string): Promise<string[]> {
    const { doc } = await this.resolve(who, fileId);
    const uuids = [...(doc.detached ? [] : [doc.uuid]), ...(doc.linkUuids ?? [])];
    return uuids.map((uuid) => encodeFileId({ fileUuid: uuid, spaceId: doc.spaceId }));
  }

  async getSymlinkValue(who: Identity, fileId: string): Promise<string> {
    const { doc } = await this.resolve(who, fileId);
    if (doc.type !== 'SYMLNK') throw OpError.posix('einval', `"${doc.name}" is not a symbolic link`);
    return doc.symlinkValue ?? '';
  }


  async create(who: Identity, parentId: string, name: string, request: CreateFileRequest): Promise<FileAttributes> {
    const parent = await this.resolve(who, parentId);
    return this.createIn(who, parent, assertValidName(name), request);
  }

  async createAtPath(
    who: Identity,
    baseId: string,
    relativePath: string,
    request: CreateFileRequest & { createParents?: boolean },
  ): Promise<FileAttributes> {
    const base = await this.resolveBase(who, baseId);
    const segments = splitLogicalPath(relativePath);
    const name = segments.pop();
    if (name === undefined) throw OpError.badValue('path', 'path must name the file to create');

    let parent: ResolvedFile = base;
    for (const segment of segments) {
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
  private async createDirectoryTolerant(who: Identity, parent: ResolvedFile, name: string): Promise<ResolvedFile> {
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

  private async createIn(who: Identity, parent: ResolvedFile, name: string, request: CreateFileRequest): Promise<FileAttributes> {
    if (parent.doc.type !== 'DIR') throw OpError.posix('enotdir', `"${parent.doc.name}" is not a directory`);
    assertNotReserved(parent.doc, name);
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
  private async createHardlink(who: Identity, parent: ResolvedFile, name: string, targetFileId: string | undefined): Promise<FileAttributes> {
    if (targetFileId === undefined || targetFileId === '') {
      throw new OpError('missingValue', 'a hard link needs a target file id (target_file_id)', { key: 'target_file_id' });
    }
    const target = await this.resolve(who, targetFileId);
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
  private async materialise(parent: ResolvedFile, doc: FileDoc, request: CreateFileRequest): Promise<void> {
    if (doc.type === 'SYMLNK') return;
    if (doc.type === 'DIR') {
      await this.makeStorageDirectory(parent.space, doc);
      return;
    }
    const content = request.content ?? Readable.from([]);
    await this.writeData({ doc, space: parent.space }, content, { offset: request.offset, size: request.size });
  }

  private async makeStorageDirectory(space: SpaceDoc, doc: FileDoc): Promise<void> {
    const support = space.supports[0];
    if (!support) return;
    const record = await this.storages.get(support.storageId);
    const helper = await this.storages.helper(support.storageId);
    if (record.storagePathType !== 'canonical' || !helper.capabilities.directories) return;
    const segments = await this.segmentsBelowSpace(doc);
    await onStorage(() => helper.mkdir(storageDirId(support, segments), doc.mode));
  }


  async listChildren(who: Identity, dirId: string, request: ListChildrenRequest): Promise<ListChildrenResult> {
    const { doc } = await this.resolve(who, dirId);
    if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);

    const page = await listChildrenPage(this.store, doc.uuid, request);
    const docs = await this.store.getMany<FileDoc>(COLLECTIONS.file, page.entries.map((entry) => entry.childId));
    const parentPath = await this.pathOf(doc);

    const inodeUuids = [...docs.values()].map((child) => child.value.inodeUuid).filter((uuid): uuid is string => uuid !== undefined);
    const inodes = inodeUuids.length === 0 ? new Map<string, { value: FileDoc }>() : await this.store.getMany<FileDoc>(COLLECTIONS.file, inodeUuids);

    const children: FileAttributes[] = [];
    for (const entry of page.entries) {
      const child = docs.get(entry.childId);
      // A name whose document is gone is left over from an interrupted delete; skip it.
      if (!child) continue;
      const path = `${parentPath}/${entry.name}`;
      const inode = child.value.inodeUuid === undefined ? undefined : inodes.get(child.value.inodeUuid);
      children.push(inode ? toLinkAttributes(child.value, inode.value, path) : toAttributes(child.value, path));
    }
    return { children, isLast: page.isLast, nextPageToken: page.nextPageToken };
  }


  async read(who: Identity, fileId: string, range?: { offset: number; length?: number }): Promise<ReadResult> {
    const file = await this.resolve(who, fileId);
    assertRegular(file.doc);
    const fileSize = file.doc.size;
    const offset = range?.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw OpError.badValue('offset', `offset must be a non-negative integer, got ${offset}`);

    // Reads never go past the logical size, so bytes of an interrupted write beyond it stay hidden.
    const available = Math.max(0, fileSize - offset);
    const length = Math.min(range?.length ?? available, available);
    if (length === 0) return { stream: Readable.from([]), fileSize };

    const placement = await this.readablePlacement(file, offset, length);
    const stream = await onStorage(() => placement.helper.read(placement.path, { offset, length }));
    return { stream, fileSize };
  }

  async write(who: Identity, fileId: string, data: Readable, request: WriteRequest): Promise<FileAttributes> {
    const file = await this.resolve(who, fileId);
    assertRegular(file.doc);
    const doc = await this.writeData(file, data, request);
    await this.recordChange(doc, false);
    return this.attributes(doc);
  }

  /**
   * Store content on the space's preferred storage, then record the new size, times and
   * blocks. Metadata changes only after the storage write succeeded.
   */
  private async writeData(file: ResolvedFile, data: Readable, request: WriteRequest): Promise<FileDoc> {
    const placement = await this.writablePlacement(file);
    const { helper, path } = placement;
    const durable = helper.capabilities.durable_write;
    const offset = request.offset;
    if (offset !== undefined && (!Number.isSafeInteger(offset) || offset < 0)) {
      throw OpError.badValue('offset', `offset must be a non-negative integer, got ${offset}`);
    }

    if (offset === undefined) {
      const result = await onStorage(() => helper.write(path, data, { size: request.size, durable }));
      return this.recordWrite(file.doc, placement, { replace: true, offset: 0, written: result.written });
    }

    // Bytes past the logical size may be left from an interrupted write: cut them so that a
    // gap before `offset` reads as zeros.
    if (offset > file.doc.size && helper.capabilities.truncate) {
      const stat = await onStorage(() => helper.stat(path)).catch(() => undefined);
      if (stat && stat.size > file.doc.size) await onStorage(() => helper.truncate(path, file.doc.size));
    }
    const result = await onStorage(() => helper.write(path, data, { offset, size: request.size, durable }));
    return this.recordWrite(file.doc, placement, { replace: false, offset, written: result.written });
  }

  private async recordWrite(
    doc: FileDoc,
    placement: Placement,
    write: { replace: boolean; offset: number; written: number },
  ): Promise<FileDoc> {
    const now = this.clock.now();
    const end = write.offset + write.written;

    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.size = write.replace ? write.written : Math.max(value.size, end);
      value.mtimeMs = now;
      value.ctimeMs = now;
    });
    const size = updated.value.size;

    await upsertDocument<FileLocationDoc>(
      this.store,
      COLLECTIONS.location,
      locationKey(doc.uuid, placement.record.storageId),
      () => this.newLocation(doc, placement),
      (location) => {
        location.storageFileId = placement.path;
        delete location.storageMtimeMs;
        // The storage holds [0, size) after a whole write; an offset write adds its range
        // and the zero-filled gap before it.
        location.blocks = write.replace ? [[0, size]] : addBlock(location.blocks, 0, end);
        location.blocks = truncateBlocks(location.blocks, size);
      },
    );
    await this.invalidateOtherReplicas(doc, placement.record.storageId);
    return updated.value;
  }

  async truncate(who: Identity, fileId: string, size: number): Promise<FileAttributes> {
    const file = await this.resolve(who, fileId);
    assertRegular(file.doc);
    if (!Number.isSafeInteger(size) || size < 0) throw OpError.badValue('size', `size must be a non-negative integer, got ${size}`);

    const placement = await this.writablePlacement(file);
    await onStorage(() => placement.helper.truncate(placement.path, size));
    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, file.doc.uuid, (value) => {
      value.size = size;
      value.mtimeMs = now;
      value.ctimeMs = now;
    });
    await upsertDocument<FileLocationDoc>(
      this.store,
      COLLECTIONS.location,
      locationKey(file.doc.uuid, placement.record.storageId),
      () => this.newLocation(file.doc, placement),
      (location) => {
        location.blocks = addBlock(truncateBlocks(location.blocks, size), 0, size);
      },
    );
    await this.invalidateOtherReplicas(file.doc, placement.record.storageId);
    await this.recordChange(updated.value, false);
    return this.attributes(updated.value);
  }


  async rename(who: Identity, fileId: string, newParentId: string, newName: string): Promise<FileAttributes> {
    // A hard link is renamed as its own document: it has a name but no data to move.
    const resolved = await this.resolve(who, fileId);
    const source: ResolvedFile = { doc: entryOf(resolved), space: resolved.space };
    const target = await this.resolve(who, newParentId);
    assertValidName(newName);
    if (source.doc.parentUuid === null) throw OpError.posix('eperm', 'a space root cannot be moved');
    if (target.doc.type !== 'DIR') throw OpError.posix('enotdir', `"${target.doc.name}" is not a directory`);
    if (target.doc.uuid !== spaceTrashUuid(target.space.spaceId)) assertNotReserved(target.doc, newName);
    if (target.space.spaceId !== source.space.spaceId) {
      throw OpError.posix('exdev', 'moving files between spaces is not supported; copy them instead');
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
  private async replaceExistingTarget(who: Identity, source: FileDoc, target: ResolvedFile, name: string): Promise<void> {
    const existingId = await this.store.getChild(target.doc.uuid, name);
    if (existingId === undefined) return;
    const existing = await this.fileDoc(existingId);

    if (existing.type === 'DIR' && source.type !== 'DIR') throw OpError.posix('eisdir', `"${name}" is a directory`);
    if (existing.type !== 'DIR' && source.type === 'DIR') throw OpError.posix('enotdir', `"${name}" is not a directory`);
    if (existing.type === 'DIR' && (await this.store.listChildren(existing.uuid, { limit: 1 })).length > 0) {
      throw OpError.posix('enotempty', `directory "${name}" is not empty`);
    }
    await this.removeTree(who, { space: target.space, doc: existing });
  }

  /** On canonical storages the data's path follows the logical path, so move it there first. */
  private async moveCanonicalData(source: ResolvedFile, oldSegments: string[], newSegments: string[]): Promise<void> {
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

  async remove(who: Identity, fileId: string): Promise<void> {
    const resolved = await this.resolve(who, fileId);
    const file: ResolvedFile = { doc: entryOf(resolved), space: resolved.space };
    if (file.doc.parentUuid === null) throw OpError.posix('eperm', 'a space root cannot be deleted');
    if (file.doc.uuid === spaceTrashUuid(file.space.spaceId)) throw OpError.posix('eperm', 'the trash directory cannot be deleted');

    if (file.doc.type === 'DIR' && !file.doc.inodeUuid) {
      await this.moveToTrash(who, file);
    } else {
      await this.removeTree(who, file);
    }
    await this.touchDirectory(file.doc.parentUuid, this.clock.now());
  }

  /**
   * Delete a directory through the space's trash: it is moved there under its uuid at
   * once, so its name is free and it is out of sight, and its contents are deleted in the
   * background. A worker that stops before the background delete ends leaves the rest in
   * the trash. NOTE: nothing empties a trash left over from a previous run yet.
   */
  private async moveToTrash(who: Identity, file: ResolvedFile): Promise<void> {
    const trash = await this.ensureTrash(file.space);
    await this.rename(who, encodeFileId({ fileUuid: file.doc.uuid, spaceId: file.doc.spaceId }), encodeFileId({ fileUuid: trash.uuid, spaceId: trash.spaceId }), file.doc.uuid);

    const moved = await this.fileDoc(file.doc.uuid);
    void this.removeTree(who, { space: file.space, doc: moved }).catch((error: unknown) =>
      this.logger.error({ err: error, fileUuid: file.doc.uuid, spaceId: file.space.spaceId }, 'background delete of a trashed directory failed'),
    );
  }

  /** The space's trash directory, created on first use. It is not among the root's children. */
  private async ensureTrash(space: SpaceDoc): Promise<FileDoc> {
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
  private async removeTree(who: Identity, file: ResolvedFile): Promise<void> {
    if (file.doc.type === 'DIR') {
      for (;;) {
        const children = await this.store.listChildren(file.doc.uuid, { limit: 100 });
        if (children.length === 0) break;
        for (const child of children) {
          const doc = await this.store.get<FileDoc>(COLLECTIONS.file, child.childId);
          if (doc) await this.removeTree(who, { space: file.space, doc: doc.value });
          else await this.store.removeChild(file.doc.uuid, child.name, child.childId);
        }
      }
    }
    await this.unlink(file.space, file.doc);
  }

  /** Remove one file or empty directory: its name first, then its data, then its documents. */
  private async unlink(space: SpaceDoc, doc: FileDoc): Promise<void> {
    if (doc.inodeUuid !== undefined) {
      await this.unlinkHardlink(space, doc);
      return;
    }
    const segments = await this.segmentsBelowSpace(doc).catch(() => undefined);
    if (doc.parentUuid !== null) await this.store.removeChild(doc.parentUuid, doc.name, doc.uuid);
    if (doc.linkUuids !== undefined && doc.linkUuids.length > 0) {
      await this.detach(space, doc, segments ?? []);
      return;
    }
    await this.purge(space, doc, segments);
  }

  /** Remove a hard link's name; the inode goes too when this was its last name. */
  private async unlinkHardlink(space: SpaceDoc, link: FileDoc): Promise<void> {
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
      await this.purge(space, inode.value, undefined);
    }
  }

  /**
   * Keep an inode whose own name was deleted while hard links remain. On canonical
   * storages its data path would be taken by the next file of that name, so the data
   * moves to a folder of its own and the new path is recorded in the file location.
   */
  private async detach(space: SpaceDoc, doc: FileDoc, segments: string[]): Promise<void> {
    for (const support of space.supports) {
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
  private async purge(space: SpaceDoc, doc: FileDoc, segments: string[] | undefined): Promise<void> {
    for (const support of space.supports) {
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


  async setMode(who: Identity, fileId: string, mode: number): Promise<FileAttributes> {
    const file = await this.resolve(who, fileId);
    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, file.doc.uuid, (value) => {
      value.mode = validMode(mode);
      value.ctimeMs = now;
    });
    await this.recordChange(updated.value, false);
    return this.attributes(updated.value);
  }

  async getXattrs(who: Identity, fileId: string): Promise<Record<string, JsonValue>> {
    const { doc } = await this.resolve(who, fileId);
    return (await this.store.get<XattrsDoc>(COLLECTIONS.xattrs, doc.uuid))?.value ?? {};
  }

  async setXattrs(who: Identity, fileId: string, values: Record<string, JsonValue>): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    for (const name of Object.keys(values)) assertXattrName(name);
    await upsertDocument<XattrsDoc>(this.store, COLLECTIONS.xattrs, doc.uuid, () => ({}), (current) => ({ ...current, ...values }));
    await this.touchMetadata(doc);
  }

  async removeXattrs(who: Identity, fileId: string, names: readonly string[]): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    await upsertDocument<XattrsDoc>(this.store, COLLECTIONS.xattrs, doc.uuid, () => ({}), (current) => {
      for (const name of names) delete current[name];
    });
    await this.touchMetadata(doc);
  }

  async getJsonMetadata(who: Identity, fileId: string): Promise<JsonValue> {
    const { doc } = await this.resolve(who, fileId);
    const stored = await this.store.get<{ value: JsonValue }>(COLLECTIONS.json, doc.uuid);
    if (!stored) throw OpError.notFound(`JSON metadata of "${doc.name}"`);
    return stored.value.value;
  }

  async setJsonMetadata(who: Identity, fileId: string, value: JsonValue): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    await this.store.put(COLLECTIONS.json, doc.uuid, { value });
    await this.touchMetadata(doc);
  }

  async removeJsonMetadata(who: Identity, fileId: string): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    await this.store.delete(COLLECTIONS.json, doc.uuid);
    await this.touchMetadata(doc);
  }


  async listRecursive(who: Identity, dirId: string, request: ListRecursiveRequest): Promise<ListRecursiveResult> {
    const { doc } = await this.resolve(who, dirId);
    if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);
    const limit = request.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw OpError.badValue('limit', `limit must be an integer from 1 to 1000, got ${limit}`);

    const tokenAfter = request.token ? decodeWalkToken(request.token) : undefined;
    const after = tokenAfter ?? request.startAfter;
    const list = async (id: string, startAfter: string | undefined, count: number) =>
      (await this.listChildren(who, id, { limit: count, token: startAfter === undefined ? undefined : encodePageToken(startAfter) })).children;
    const lookup = async (id: string, name: string) => {
      const childId = await this.store.getChild(decodeFileId(id).fileUuid, name);
      return childId === undefined ? undefined : this.attributes(await this.fileDoc(childId));
    };

    const walk = await walkFiles(list, lookup, dirId, { after, prefix: request.prefix, limit });
    const last = walk.files[walk.files.length - 1];
    return {
      files: walk.files,
      inaccessiblePaths: [],
      isLast: walk.isLast,
      nextPageToken: walk.isLast || !last ? null : encodeWalkToken(last.path),
    };
  }

  async listAncestorIds(who: Identity, fileId: string): Promise<string[]> {
    const file = await this.resolve(who, fileId);
    const ids: string[] = [];
    let current: FileDoc | undefined = entryOf(file);
    while (current) {
      ids.unshift(encodeFileId({ fileUuid: current.uuid, spaceId: current.spaceId }));
      current = current.parentUuid === null ? undefined : await this.fileDoc(current.parentUuid);
    }
    return ids;
  }

  async getDistribution(who: Identity, fileId: string): Promise<FileDistribution> {
    const { doc, space } = await this.resolve(who, fileId);
    const storages: FileDistribution['storages'] = [];
    for (const support of space.supports) {
      const location = doc.type === 'DIR' ? undefined : await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(doc.uuid, support.storageId));
      const blocks = location?.value.blocks ?? [];
      storages.push({
        storageId: support.storageId,
        providerId: location?.value.providerId ?? this.options.providerId,
        storageFileId: location && blocks.length > 0 ? location.value.storageFileId : null,
        blocks: blocks.map(([offset, length]) => [offset, length] as [number, number]),
      });
    }
    return { type: doc.type, size: doc.type === 'DIR' ? 0 : doc.size, providerId: this.options.providerId, storages };
  }

  async getRdfMetadata(who: Identity, fileId: string): Promise<string> {
    const { doc } = await this.resolve(who, fileId);
    const stored = await this.store.get<{ value: string }>(COLLECTIONS.rdf, doc.uuid);
    if (!stored) throw OpError.notFound(`RDF metadata of "${doc.name}"`);
    return stored.value.value;
  }

  async setRdfMetadata(who: Identity, fileId: string, value: string): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    await this.store.put(COLLECTIONS.rdf, doc.uuid, { value });
    await this.touchMetadata(doc);
  }

  async removeRdfMetadata(who: Identity, fileId: string): Promise<void> {
    const { doc } = await this.resolve(who, fileId);
    await this.store.delete(COLLECTIONS.rdf, doc.uuid);
    await this.touchMetadata(doc);
  }

  async readChanges(who: Identity, spaceId: string, afterSeq: number, limit: number): Promise<FileChange[]> {
    const space = await this.accessibleSpace(who, spaceId);
    const records = await this.store.readChanges(spaceId, { afterSeq, limit });
    const changes: FileChange[] = [];
    for (const record of records) {
      if (record.collection !== COLLECTIONS.file) continue;
      const data = (record.data ?? {}) as Partial<FileDoc>;
      const parentPath = data.parentUuid ? await this.pathOfUuid(data.parentUuid) : undefined;
      changes.push({
        seq: record.seq,
        fileId: encodeFileId({ fileUuid: record.key, spaceId }),
        filePath: parentPath === undefined ? `/${space.name}` : `${parentPath}/${data.name ?? ''}`,
        deleted: record.deleted,
        timeMs: record.timeMs,
        name: data.name ?? '',
        type: data.type ?? 'REG',
        size: data.size ?? 0,
        mode: data.mode,
        ownerUserId: data.ownerUserId,
        atimeMs: data.atimeMs,
        mtimeMs: data.mtimeMs,
        ctimeMs: data.ctimeMs,
      });
    }
    return changes;
  }

  async lastChangeSeq(who: Identity, spaceId: string): Promise<number> {
    await this.accessibleSpace(who, spaceId);
    return this.store.lastChangeSeq(spaceId);
  }

  /** Path of a file by uuid, or undefined when it no longer exists. */
  private async pathOfUuid(uuid: string): Promise<string | undefined> {
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (!document) return undefined;
    return this.pathOf(document.value).catch(() => undefined);
  }

  /** Decode a file id, load its document, and check that the caller may use its space. */
  private async resolve(who: Identity, fileId: string): Promise<ResolvedFile> {
    const guid = decodeFileId(fileId);
    return this.resolveGuid(who, guid);
  }

  private async resolveGuid(who: Identity, guid: FileGuid): Promise<ResolvedFile> {
    if (guid.shareId !== undefined) {
      throw new OpError('notImplemented', 'access through share file ids is not available yet');
    }
    const space = await this.accessibleSpace(who, guid.spaceId);
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, guid.fileUuid);
    if (!document || document.value.spaceId !== guid.spaceId || document.value.detached) {
      throw OpError.notFound('file', { fileId: encodeFileId(guid) });
    }
    const inodeUuid = document.value.inodeUuid;
    if (inodeUuid === undefined) return { doc: document.value, space };
    return { doc: await this.fileDoc(inodeUuid), space, link: document.value };
  }

  /** A base for relative paths: a file id, or a space id meaning the space root. */
  private async resolveBase(who: Identity, baseId: string): Promise<ResolvedFile> {
    if (SPACE_ID_PATTERN.test(baseId)) {
      return this.resolveGuid(who, { fileUuid: spaceRootUuid(baseId), spaceId: baseId });
    }
    return this.resolve(who, baseId);
  }

  private async accessibleSpace(who: Identity, spaceId: string): Promise<SpaceDoc> {
    const document = await this.store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    if (!canAccessSpace(who, document.value)) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${document.value.name}"`, { spaceId });
    }
    return document.value;
  }

  private async fileDoc(uuid: string): Promise<FileDoc> {
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (!document) throw OpError.notFound('file', { fileUuid: uuid });
    return document.value;
  }

  private async walk(space: SpaceDoc, start: FileDoc, segments: readonly string[]): Promise<FileDoc> {
    let doc = start;
    for (const segment of segments) {
      if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);
      const childId = await this.store.getChild(doc.uuid, segment);
      if (childId === undefined) throw OpError.notFound(`"${segment}" in "${doc.name}"`, { name: segment, spaceId: space.spaceId });
      doc = await this.fileDoc(childId);
    }
    return doc;
  }

  /** Names from the space root (exclusive) down to the file (inclusive). */
  private async segmentsBelowSpace(doc: FileDoc): Promise<string[]> {
    const segments: string[] = [];
    let current = doc;
    while (current.parentUuid !== null) {
      segments.unshift(current.name);
      current = await this.fileDoc(current.parentUuid);
    }
    return segments;
  }

  private async pathOf(doc: FileDoc): Promise<string> {
    const segments = await this.segmentsBelowSpace(doc);
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    return '/' + [space?.value.name ?? doc.spaceId, ...segments].join('/');
  }

  private async attributes(doc: FileDoc): Promise<FileAttributes> {
    if (doc.inodeUuid !== undefined) return toLinkAttributes(doc, await this.fileDoc(doc.inodeUuid), await this.pathOf(doc));
    return toAttributes(doc, await this.pathOf(doc));
  }

  private async resolvedAttributes(file: ResolvedFile): Promise<FileAttributes> {
    if (file.link) return toLinkAttributes(file.link, file.doc, await this.pathOf(file.link));
    return this.attributes(file.doc);
  }

  /** Moving a directory below itself would detach a cycle from the tree. */
  private async assertNotInside(target: FileDoc, source: FileDoc): Promise<void> {
    let current: FileDoc | undefined = target;
    while (current) {
      if (current.uuid === source.uuid) throw OpError.posix('einval', `cannot move "${source.name}" into itself`);
      current = current.parentUuid === null ? undefined : await this.fileDoc(current.parentUuid);
    }
  }

  /** The storage new data goes to: the space's first support. */
  private async writablePlacement(file: ResolvedFile): Promise<Placement> {
    const support = file.space.supports[0];
    if (!support) {
      throw OpError.badValue('spaceId', `space "${file.space.name}" is not supported by any storage; support it first`, {
        spaceId: file.space.spaceId,
      });
    }
    return this.placement(file, support);
  }

  /** A storage that holds `[offset, offset + length)` of the file. */
  private async readablePlacement(file: ResolvedFile, offset: number, length: number): Promise<Placement> {
    for (const support of file.space.supports) {
      const location = await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(file.doc.uuid, support.storageId));
      if (!location) continue;
      const covered = location.value.blocks.some(([start, size]) => start <= offset && start + size >= offset + length);
      if (covered) return this.placement(file, support);
    }
    throw new OpError('unavailable', `no storage holds bytes ${offset}-${offset + length - 1} of "${file.doc.name}"`, {
      fileId: encodeFileId({ fileUuid: file.doc.uuid, spaceId: file.doc.spaceId }),
    });
  }

  private async placement(file: ResolvedFile, support: SpaceSupport): Promise<Placement> {
    const record = await this.storages.get(support.storageId);
    const helper = await this.storages.helper(support.storageId);
    return { support, record, helper, path: await this.dataPath(file.doc, support, record) };
  }

  /**
   * Where a file's data is on a storage. On canonical storages it follows the logical
   * path, which a rename of any ancestor changes, so it is derived rather than stored.
   */
  private async dataPath(doc: FileDoc, support: SpaceSupport, record: StorageRecord): Promise<string> {
    if (record.storagePathType === 'flat' || doc.detached) {
      const location = await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(doc.uuid, support.storageId));
      if (location) return location.value.storageFileId;
    }
    return storageFileId(record, support, doc.uuid, await this.segmentsBelowSpace(doc));
  }

  private newLocation(doc: FileDoc, placement: Placement): FileLocationDoc {
    return {
      fileUuid: doc.uuid,
      spaceId: doc.spaceId,
      storageId: placement.record.storageId,
      providerId: this.options.providerId,
      storageFileId: placement.path,
      blocks: [],
    };
  }

  /** After a write only the written storage is current; other replicas hold no valid blocks. */
  private async invalidateOtherReplicas(doc: FileDoc, writtenStorageId: string): Promise<void> {
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    for (const support of space?.value.supports ?? []) {
      if (support.storageId === writtenStorageId) continue;
      const key = locationKey(doc.uuid, support.storageId);
      if (!(await this.store.get(COLLECTIONS.location, key))) continue;
      await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, key, (location) => {
        location.blocks = [];
      });
    }
  }

  private async touchDirectory(uuid: string, now: number): Promise<void> {
    await updateDocument<FileDoc>(this.store, COLLECTIONS.file, uuid, (value) => {
      value.mtimeMs = now;
      value.ctimeMs = now;
    }).catch((error: unknown) => {
      if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
    });
  }

  private async touchMetadata(doc: FileDoc): Promise<void> {
    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.ctimeMs = now;
    });
    await this.recordChange(updated.value, false);
  }

  private async recordChange(doc: FileDoc, deleted: boolean): Promise<void> {
    await this.store.appendChange(doc.spaceId, {
      collection: COLLECTIONS.file,
      key: doc.uuid,
      deleted,
      data: {
        name: doc.name,
        parentUuid: doc.parentUuid,
        type: doc.type,
        size: doc.size,
        mode: doc.mode,
        ownerUserId: doc.ownerUserId,
        atimeMs: doc.atimeMs,
        mtimeMs: doc.mtimeMs,
        ctimeMs: doc.ctimeMs,
      },
    });
  }
}

function canAccessSpace(who: Identity, space: SpaceDoc): boolean {
  return who.isAdmin || space.ownerUserId === who.userId || space.members.includes(who.userId);
}

function assertRegular(doc: FileDoc): void {
  if (doc.type === 'DIR') throw OpError.posix('eisdir', `"${doc.name}" is a directory`);
  if (doc.type === 'SYMLNK') throw OpError.posix('einval', `"${doc.name}" is a symbolic link; read its target instead`);
}

/** The trash and detached-data folders share the storage folder of the space root, so their names are taken there. */
function assertNotReserved(parent: FileDoc, name: string): void {
  if (parent.parentUuid === null && (name === TRASH_DIR_NAME || name === DETACHED_DATA_DIR)) {
    throw OpError.posix('eperm', `"${name}" is reserved in a space root`, { name });
  }
}

function validMode(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw OpError.badValue('mode', `mode must be an integer from 0 to 0o7777 (4095), got ${mode}`);
  }
  return mode;
}

function assertXattrName(name: string): void {
  if (name.length === 0 || name.length > 255 || name.includes('\0')) {
    throw OpError.badValue('xattr', `extended attribute name "${name.slice(0, 40)}" is empty, too long or contains a NUL byte`);
  }
}
