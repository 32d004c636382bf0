import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId, encodeFileId, type FileGuid } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { StorageRecord, StorageRegistry } from '../spaces/api.js';
import type { StorageHelper } from '../storage/helper.js';
import type { ShareDoc } from '../shares/model.js';
import { scopeAttributes, type ShareScope } from '../shares/scope.js';
import { type Clock } from '../tokens.js';
import type { EventBus } from '../events/bus.js';
import { subtractRange } from '../transfers/blocks.js';
import { Authorizer, type AccessMemo } from '../authz/authorizer.js';
import { isWriteAccess, type FileAccess } from '../authz/access.js';
import type { SpaceAccess } from '../authz/membership.js';
import { ACL_XATTR_NAME, aclFromXattr } from '../authz/acl.js';
import { documentCacheOf, type DocumentCache } from '../spaces/document-cache.js';
import { toAttributes, toLinkAttributes } from './attributes.js';
import { storageFileId } from './layout.js';
import {
  COLLECTIONS,
  isReservedName,
  locationKey,
  spaceRootUuid,
  type FileDoc,
  type FileLocationDoc,
  type SpaceDoc,
  type SpaceSupport,
  type XattrsDoc,
} from './model.js';
import type { FileAttributes, Identity } from './types.js';

/** Options of the core services. */
export interface CoreOptions {
  /** Id of this provider, recorded in file locations. */
  providerId: string;
}

/** A file's document together with what is needed to reach its data. */
export interface ResolvedFile {
  /** The inode: the document that contains the data location, size, times and metadata. */
  doc: FileDoc;
  space: SpaceDoc;
  /** Set when the id named a hard link: the document that contains the link's name and parent. */
  link?: FileDoc;
  /** Set when the id was share-scoped: the file was reached through this share, read-only. */
  share?: ShareScope;
  /** Documents and access that resolving read for the checks, reused by the rest of the same operation. */
  memo?: AccessMemo;
}

/** Return the document that contains a resolved file's name and parent: the link, or else the inode. */
export function entryOf(file: ResolvedFile): FileDoc {
  return file.link ?? file.doc;
}

/** A storage that holds (or will hold) a file's data. */
export interface Placement {
  support: SpaceSupport;
  record: StorageRecord;
  helper: StorageHelper;
  path: string;
}

export const SPACE_ID_PATTERN = /^[0-9a-f]{32}$/;

/**
 * State and helpers shared by the layers of the logical file system: resolving ids and
 * paths, checking space access, choosing the storage that holds a file's data, and
 * recording changes. Each layer below adds one group of operations.
 */
export abstract class LfsBase {
  /** Where `recordChange` sends `file.changed`; set by the composition root. */
  events: EventBus | undefined;
  private authorizer: Authorizer | undefined;
  /** Space and space-name documents; see `DocumentCache` for how long a change takes to show. */
  protected readonly documents: DocumentCache;

  constructor(
    protected readonly store: MetadataStore,
    protected readonly storages: StorageRegistry,
    protected readonly clock: Clock,
    protected readonly logger: Logger,
    protected readonly options: CoreOptions,
  ) {
    this.documents = documentCacheOf(store);
  }

  /** Defined by the removal layer; creation calls it to undo a failed create. */
  protected abstract unlink(space: SpaceDoc, doc: FileDoc, data?: 'delete-data' | 'keep-data'): Promise<void>;

  /** Defined by the rename layer; removal calls it to move a directory into the trash. */
  abstract rename(who: Identity, fileId: string, newParentId: string, newName: string): Promise<FileAttributes>;

  /** Decode a file id, load its document, and check that the caller may use its space. */
  protected async resolve(who: Identity, fileId: string): Promise<ResolvedFile> {
    const guid = decodeFileId(fileId);
    return this.resolveGuid(who, guid);
  }

  /**
   * Resolve a file that the operation will change. Share-scoped ids grant read access
   * only, so they are rejected with posix eacces.
   */
  protected async resolveForChange(who: Identity, fileId: string): Promise<ResolvedFile> {
    return assertChangeable(await this.resolve(who, fileId));
  }

  /**
   * Resolve a decoded id. Like a path lookup, this needs traverse access to every
   * directory above the file (above the share root only, for share-scoped ids).
   */
  protected async resolveGuid(who: Identity, guid: FileGuid): Promise<ResolvedFile> {
    if (guid.shareId !== undefined) return this.resolveShared(who, guid, guid.shareId);
    const { space, access } = await this.spaceAccess(who, guid.spaceId);
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, guid.fileUuid);
    if (!document || document.value.spaceId !== guid.spaceId || document.value.detached) {
      throw OpError.notFound('file', { fileId: encodeFileId(guid) });
    }
    const memo: AccessMemo = { spaceAccess: access, xattrs: new Map() };
    const inodeUuid = document.value.inodeUuid;
    await this.authz.checkAncestorTraverse(who, space, document.value, { spaceAccess: access, memo, aclUuid: inodeUuid ?? document.value.uuid });

    if (inodeUuid === undefined) return { doc: document.value, space, memo };
    return { doc: await this.fileDoc(inodeUuid), space, link: document.value, memo };
  }

  /**
   * Resolve a share-scoped id. Anyone, a guest included, may reach the share root and
   * everything below it; space membership is not needed. A file outside the share, a
   * removed share or an id whose space differs from the share's is `notFound`, so the
   * response does not reveal whether the file exists.
   */
  private async resolveShared(who: Identity, guid: FileGuid, shareId: string): Promise<ResolvedFile> {
    const fileId = encodeFileId(guid);
    const share = (await this.store.get<ShareDoc>(COLLECTIONS.share, shareId))?.value;
    if (!share || share.spaceId !== guid.spaceId) throw OpError.notFound(`share "${shareId}"`, { shareId });
    const space = await this.documents.get<SpaceDoc>(COLLECTIONS.space, share.spaceId);
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, guid.fileUuid);
    if (!space || !document || document.value.spaceId !== guid.spaceId || document.value.detached) {
      throw OpError.notFound('file', { fileId });
    }

    // The file must be the share root or below it. Permission bits are the authorizer's part.
    let current: FileDoc | undefined = document.value;
    while (current && current.uuid !== share.rootFileUuid) {
      current = current.parentUuid === null ? undefined : (await this.store.get<FileDoc>(COLLECTIONS.file, current.parentUuid))?.value;
    }
    if (!current) throw OpError.notFound('file in this share', { fileId, shareId });
    await this.authz.checkAncestorTraverse(who, space.value, document.value, { shareRootUuid: share.rootFileUuid });

    const scope: ShareScope = { shareId, rootFileUuid: share.rootFileUuid };
    const inodeUuid = document.value.inodeUuid;
    if (inodeUuid === undefined) return { doc: document.value, space: space.value, share: scope };
    return { doc: await this.fileDoc(inodeUuid), space: space.value, link: document.value, share: scope };
  }

  /** Attributes as seen through a share when `share` is set (see `scopeAttributes`); unchanged otherwise. */
  protected scopeTo(share: ShareScope | undefined, entry: FileDoc, attributes: FileAttributes): FileAttributes {
    return share ? scopeAttributes(attributes, share, entry.uuid, entry.parentUuid) : attributes;
  }

  /** Resolve a base for relative paths: a file id, or a space id meaning the space root. */
  protected async resolveBase(who: Identity, baseId: string): Promise<ResolvedFile> {
    if (SPACE_ID_PATTERN.test(baseId)) {
      return this.resolveGuid(who, { fileUuid: spaceRootUuid(baseId), spaceId: baseId });
    }
    return this.resolve(who, baseId);
  }

  /** Permission checks (token caveats, membership, privileges, ACL or mode bits); one per file system. */
  protected get authz(): Authorizer {
    this.authorizer ??= new Authorizer(this.store, this.clock, this.logger);
    return this.authorizer;
  }

  /** Throw posix `eacces` (or `forbidden`) unless `who` has every listed access to the file. */
  protected async authorize(who: Identity, file: ResolvedFile, ...accesses: FileAccess[]): Promise<void> {
    for (const access of accesses) await this.authz.check(who, file, access);
  }

  /**
   * Resolve a file id and check access to it; any write access also rejects share-scoped ids.
   */
  protected async resolveFor(who: Identity, fileId: string, ...accesses: FileAccess[]): Promise<ResolvedFile> {
    const file = accesses.some(isWriteAccess) ? await this.resolveForChange(who, fileId) : await this.resolve(who, fileId);
    await this.authorize(who, file, ...accesses);
    return file;
  }

  protected async accessibleSpace(who: Identity, spaceId: string): Promise<SpaceDoc> {
    return (await this.spaceAccess(who, spaceId)).space;
  }

  /**
   * Load a space and what `who` may do in it; `forbidden` unless `who` is a member. The
   * space document may be up to `DOCUMENT_CACHE_MS` old when another process changed it.
   */
  protected async spaceAccess(who: Identity, spaceId: string): Promise<{ space: SpaceDoc; access: SpaceAccess }> {
    const document = await this.documents.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    const access = await this.authz.membership.accessOf(who, document.value);
    if (!access.member) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${document.value.name}"`, { spaceId });
    }
    return { space: document.value, access };
  }

  protected async fileDoc(uuid: string): Promise<FileDoc> {
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (!document) throw OpError.notFound('file', { fileUuid: uuid });
    return document.value;
  }

  /**
   * Follow names down from `start`; with `who`, each directory passed needs traverse
   * access. `access` is `who`'s access to the space when the caller has read it.
   */
  protected async walk(
    space: SpaceDoc,
    start: FileDoc,
    segments: readonly string[],
    who?: Identity,
    share?: ShareScope,
    access?: SpaceAccess,
  ): Promise<FileDoc> {
    let doc = start;
    for (const segment of segments) {
      if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);
      if (who !== undefined) await this.authz.check(who, { space, doc, share }, 'traverse', access);
      const childId = await this.store.getChild(doc.uuid, segment);
      if (childId === undefined) throw OpError.notFound(`"${segment}" in "${doc.name}"`, { name: segment, spaceId: space.spaceId });
      doc = await this.fileDoc(childId);
    }
    return doc;
  }

  /**
   * Names from the space root (exclusive) down to the file (inclusive). `ancestors` are
   * the directories above `doc`, space root first, when the caller has read them in
   * this operation.
   */
  protected async segmentsBelowSpace(doc: FileDoc, ancestors?: readonly FileDoc[]): Promise<string[]> {
    if (ancestors !== undefined && isChainOf(ancestors, doc)) return [...ancestors.slice(1).map((dir) => dir.name), doc.name];

    const segments: string[] = [];
    let current = doc;
    while (current.parentUuid !== null) {
      segments.unshift(current.name);
      current = await this.fileDoc(current.parentUuid);
    }
    return segments;
  }

  protected async pathOf(doc: FileDoc, ancestors?: readonly FileDoc[]): Promise<string> {
    const segments = await this.segmentsBelowSpace(doc, ancestors);
    const space = await this.documents.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    return '/' + [space?.value.name ?? doc.spaceId, ...segments].join('/');
  }

  /** Path of a file by uuid, or undefined when it no longer exists. */
  protected async pathOfUuid(uuid: string): Promise<string | undefined> {
    const document = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
    if (!document) return undefined;
    return this.pathOf(document.value).catch(() => undefined);
  }

  protected async attributes(doc: FileDoc): Promise<FileAttributes> {
    if (doc.inodeUuid !== undefined) return toLinkAttributes(doc, await this.fileDoc(doc.inodeUuid), await this.pathOf(doc));
    return toAttributes(doc, await this.pathOf(doc));
  }

  /** Build the attributes of a resolved file that the operation changed to `doc`, reusing the directories it read. */
  protected async changedAttributes(file: ResolvedFile, doc: FileDoc): Promise<FileAttributes> {
    if (file.link !== undefined) return this.attributes(doc);
    return toAttributes(doc, await this.pathOf(doc, await this.ancestorsOf(file)));
  }

  /**
   * Attributes of a resolved file with its ACL (the inode's), scoped to the share it was
   * reached through. The path and ACL come from what resolving read when it read them.
   */
  protected async resolvedAttributes(file: ResolvedFile): Promise<FileAttributes> {
    const ancestors = file.memo?.ancestors;
    const attributes = file.link
      ? toLinkAttributes(file.link, file.doc, await this.pathOf(file.link, ancestors))
      : toAttributes(file.doc, await this.pathOf(file.doc, ancestors));
    const xattrs = file.memo?.xattrs.has(file.doc.uuid)
      ? file.memo.xattrs.get(file.doc.uuid)
      : (await this.store.get<XattrsDoc>(COLLECTIONS.xattrs, file.doc.uuid))?.value;
    attributes.acl = aclFromXattr(xattrs?.[ACL_XATTR_NAME]) ?? [];
    return this.scopeTo(file.share, entryOf(file), attributes);
  }

  /** Moving a directory below itself would detach a cycle from the tree. */
  protected async assertNotInside(target: FileDoc, source: FileDoc): Promise<void> {
    let current: FileDoc | undefined = target;
    while (current) {
      if (current.uuid === source.uuid) throw OpError.posix('einval', `cannot move "${source.name}" into itself`);
      current = current.parentUuid === null ? undefined : await this.fileDoc(current.parentUuid);
    }
  }

  /** Choose the storage new data goes to: the space's first support. */
  protected async writablePlacement(file: ResolvedFile): Promise<Placement> {
    const support = file.space.supports[0];
    if (!support) {
      throw OpError.badValue('spaceId', `space "${file.space.name}" is not supported by any storage; support it first`, {
        spaceId: file.space.spaceId,
      });
    }
    return this.placement(file, support);
  }

  /**
   * Find where a file's data is, or goes, on one storage of its space. `location` is the
   * file's location record on that storage when the caller has read it in this operation.
   */
  protected async placement(file: ResolvedFile, support: SpaceSupport, location?: FileLocationDoc): Promise<Placement> {
    const record = await this.storages.get(support.storageId);
    const helper = await this.storages.helper(support.storageId);
    // The directories above a hard link are not the inode's, so they are reused only without one.
    const ancestors = file.link === undefined ? () => this.ancestorsOf(file) : undefined;
    return { support, record, helper, path: await this.dataPath(file.doc, support, record, { location, ancestors }) };
  }

  /**
   * Return the directories above a resolved file's entry (its link, or else the file),
   * space root first. Reads them once per operation and keeps them in its memo.
   */
  protected async ancestorsOf(file: ResolvedFile): Promise<readonly FileDoc[]> {
    if (file.memo?.ancestors !== undefined) return file.memo.ancestors;
    const ancestors: FileDoc[] = [];
    let current = entryOf(file);
    while (current.parentUuid !== null) {
      current = await this.fileDoc(current.parentUuid);
      ancestors.unshift(current);
    }
    if (file.memo !== undefined) file.memo.ancestors = ancestors;
    return ancestors;
  }

  /**
   * Find where a file's data is on a storage. On canonical storages it follows the logical
   * path, which a rename of any ancestor changes, so it is derived rather than stored.
   * `known` gives what the operation has read already: the location record, and the
   * directories above the file, read only when the path needs them.
   */
  protected async dataPath(
    doc: FileDoc,
    support: SpaceSupport,
    record: StorageRecord,
    known: { location?: FileLocationDoc; ancestors?: () => Promise<readonly FileDoc[]> } = {},
  ): Promise<string> {
    if (record.storagePathType === 'flat' || doc.detached) {
      const location = known.location ?? (await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(doc.uuid, support.storageId)))?.value;
      if (location) return location.storageFileId;
    }
    const ancestors = known.ancestors === undefined ? undefined : await known.ancestors();
    return storageFileId(record, support, doc.uuid, await this.segmentsBelowSpace(doc, ancestors));
  }

  protected newLocation(doc: FileDoc, placement: Placement): FileLocationDoc {
    return {
      fileUuid: doc.uuid,
      spaceId: doc.spaceId,
      storageId: placement.record.storageId,
      providerId: this.options.providerId,
      storageFileId: placement.path,
      blocks: [],
    };
  }

  /**
   * After a write, other replicas lose the blocks that overlap the written range
   * (`length` may be Infinity for a truncation), or all blocks when no range is given.
   */
  protected async invalidateOtherReplicas(doc: FileDoc, writtenStorageId: string, written?: { offset: number; length: number }): Promise<void> {
    const space = await this.documents.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    for (const support of space?.value.supports ?? []) {
      if (support.storageId === writtenStorageId) continue;
      const key = locationKey(doc.uuid, support.storageId);
      if (!(await this.store.get(COLLECTIONS.location, key))) continue;
      await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, key, (location) => {
        location.blocks = written ? subtractRange(location.blocks, written.offset, written.length) : [];
      });
    }
  }

  protected async touchDirectory(uuid: string, now: number): Promise<void> {
    await updateDocument<FileDoc>(this.store, COLLECTIONS.file, uuid, (value) => {
      value.mtimeMs = now;
      value.ctimeMs = now;
    }).catch((error: unknown) => {
      if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
    });
  }

  protected async touchMetadata(doc: FileDoc): Promise<void> {
    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.ctimeMs = now;
    });
    await this.recordChange(updated.value, false);
  }

  /** Append a file change to the space's feed and dispatch `file.changed`; every change of a file passes here. */
  protected async recordChange(doc: FileDoc, deleted: boolean): Promise<void> {
    await this.appendFileChange(doc, deleted);
    await this.events?.emit('file.changed', {
      spaceId: doc.spaceId,
      fileUuid: doc.uuid,
      parentUuid: doc.parentUuid,
      type: doc.type,
      size: doc.size,
      deleted,
    });
  }

  /**
   * Where a file's data is, or goes, on one storage of its space. For data-management
   * services, which act for the provider: no user access check is made.
   */
  async replicaPlacement(fileUuid: string, storageId: string): Promise<{ doc: FileDoc; space: SpaceDoc; placement: Placement }> {
    const doc = await this.fileDoc(fileUuid);
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    if (!space) throw OpError.notFound(`space "${doc.spaceId}"`, { spaceId: doc.spaceId });
    const support = space.value.supports.find((candidate) => candidate.storageId === storageId);
    if (!support) {
      throw OpError.badValue('storageId', `storage "${storageId}" does not support space "${space.value.name}"`, { storageId, spaceId: doc.spaceId });
    }
    return { doc, space: space.value, placement: await this.placement({ doc, space: space.value }, support) };
  }

  private async appendFileChange(doc: FileDoc, deleted: boolean): Promise<void> {
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

/** Reject a file reached through a share (posix eacces): share-scoped ids grant read access only. */
export function assertChangeable(file: ResolvedFile): ResolvedFile {
  if (file.share === undefined) return file;
  throw OpError.posix('eacces', 'files reached through a share are read-only; use the file id from the space with an access token', {
    shareId: file.share.shareId,
  });
}

/** Tell whether `ancestors` are the directories from the space root down to `doc`'s parent. */
function isChainOf(ancestors: readonly FileDoc[], doc: FileDoc): boolean {
  const parent = ancestors[ancestors.length - 1];
  return ancestors[0]?.parentUuid === null && parent !== undefined && parent.uuid === doc.parentUuid;
}

export function canAccessSpace(who: Identity, space: SpaceDoc): boolean {
  return who.isAdmin || space.ownerUserId === who.userId || space.members.includes(who.userId);
}

export function assertRegular(doc: FileDoc): void {
  if (doc.type === 'DIR') throw OpError.posix('eisdir', `"${doc.name}" is a directory`);
  if (doc.type === 'SYMLNK') throw OpError.posix('einval', `"${doc.name}" is a symbolic link; read its target instead`);
}

/** The trash and detached-data folders share the storage folder of the space root, so their names are taken there. */
export function assertNotReserved(parent: FileDoc, name: string): void {
  if (isReservedName(name, parent.parentUuid === null)) {
    throw OpError.posix('eperm', `"${name}" is a name reserved for the worker's own use`, { name });
  }
}

export function validMode(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw OpError.badValue('mode', `mode must be an integer from 0 to 0o7777 (4095), got ${mode}`);
  }
  return mode;
}

export function assertXattrName(name: string): void {
  if (name.length === 0 || name.length > 255 || name.includes('\0')) {
    throw OpError.badValue('xattr', `extended attribute name "${name.slice(0, 40)}" is empty, too long or contains a NUL byte`);
  }
}
