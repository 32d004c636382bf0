import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId, encodeFileId } from '../ids/file-id.js';
import type { ChangeRecord, MetadataStore } from '../metadata/store.js';
import { splitLogicalPath } from '../paths.js';
import type { StorageRegistry } from '../spaces/api.js';
import { TYPES, type Clock } from '../tokens.js';
import type { LogicalFileSystem } from './api.js';
import { toAttributes, toLinkAttributes } from './attributes.js';
import { storageFileId } from './layout.js';
import { encodePageToken, listChildrenPage } from './listing.js';
import {
  decodeWalkToken,
  encodeWalkToken,
  walkFiles,
  type ListRecursiveRequest,
  type ListRecursiveResult,
} from './recursive.js';
import { COLLECTIONS, locationKey, type FileDoc, type FileLocationDoc, type SpaceDoc, type XattrsDoc } from './model.js';
import type {
  FileAttributes,
  FileChange,
  FileDistribution,
  Identity,
  ListChildrenRequest,
  ListChildrenResult,
  SpaceInfo,
} from './types.js';
import { toSpaceInfo } from '../spaces/space-service.js';
import type { FileAccess } from '../authz/access.js';
import { ACL_XATTR_NAME, aclFromXattr } from '../authz/acl.js';
import { hasDataCaveats } from '../auth/caveats.js';
import { LfsMetadata } from './metadata.js';
import { type CoreOptions, entryOf } from './base.js';
export type { CoreOptions } from './base.js';

/**
 * The logical file system. Its operations are grouped in layers, each in its own file:
 * `base` (resolution, placement, change records), `content`, `creation`, `removal`,
 * `rename` and `metadata`; this class adds lookups, listings and change feeds.
 */
@injectable()
export class LogicalFileSystemImpl extends LfsMetadata implements LogicalFileSystem {
  constructor(
    @inject(TYPES.MetadataStore) store: MetadataStore,
    @inject(TYPES.StorageRegistry) storages: StorageRegistry,
    @inject(TYPES.Clock) clock: Clock,
    @inject(TYPES.Logger) logger: Logger,
    @inject(TYPES.CoreOptions) options: CoreOptions,
  ) {
    super(store, storages, clock, logger, options);
  }

  async listSpaces(who: Identity): Promise<SpaceInfo[]> {
    const spaces: SpaceInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<SpaceDoc>(COLLECTIONS.space, { cursor, limit: 100 });
      for (const { value } of page.documents) {
        if (await this.authz.spaceVisible(who, value)) spaces.push(toSpaceInfo(value));
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

    const index = await this.documents.get<{ spaceId: string }>(COLLECTIONS.spaceName, spaceName);
    if (!index) throw OpError.notFound(`space "${spaceName}"`, { path: logicalPath });
    const { space, access } = await this.spaceAccess(who, index.value.spaceId);

    const doc = await this.walk(space, await this.fileDoc(space.rootUuid), rest, who, undefined, access);
    await this.authz.check(who, { space, doc }, 'read_attributes', access);
    return toAttributes(doc, '/' + [space.name, ...rest].join('/'));
  }

  async lookupRelative(who: Identity, baseId: string, relativePath: string): Promise<FileAttributes> {
    const base = await this.resolveBase(who, baseId);
    const segments = splitLogicalPath(relativePath);
    const access = base.memo?.spaceAccess;
    const doc = await this.walk(base.space, base.doc, segments, who, base.share, access);
    await this.authz.check(who, { space: base.space, doc, share: base.share }, 'read_attributes', access);
    return this.scopeTo(base.share, doc, await this.attributes(doc));
  }

  async getAttributes(who: Identity, fileId: string): Promise<FileAttributes> {
    const file = await this.resolve(who, fileId);
    await this.authorize(who, file, 'read_attributes');
    return this.resolvedAttributes(file);
  }

  async checkAccess(who: Identity, fileId: string, accesses: readonly FileAccess[]): Promise<void> {
    await this.resolveFor(who, fileId, ...accesses);
  }

  async getHardlinks(who: Identity, fileId: string): Promise<string[]> {
    const file = await this.resolve(who, fileId);
    await this.authorize(who, file, 'read_attributes');
    const { doc, share } = file;
    // Through a share only the entry reached is listed, share-scoped: other links may lie
    // outside the share, and plain ids would name files in the space.
    if (share !== undefined) return [encodeFileId({ fileUuid: entryOf(file).uuid, spaceId: doc.spaceId, shareId: share.shareId })];
    const uuids = [...(doc.detached ? [] : [doc.uuid]), ...(doc.linkUuids ?? [])];
    return uuids.map((uuid) => encodeFileId({ fileUuid: uuid, spaceId: doc.spaceId }));
  }

  async getSymlinkValue(who: Identity, fileId: string): Promise<string> {
    const file = await this.resolve(who, fileId);
    await this.authorize(who, file, 'read_attributes');
    const { doc } = file;
    if (doc.type !== 'SYMLNK') throw OpError.posix('einval', `"${doc.name}" is not a symbolic link`);
    return doc.symlinkValue ?? '';
  }

  async listChildren(who: Identity, dirId: string, request: ListChildrenRequest): Promise<ListChildrenResult> {
    const dir = await this.resolve(who, dirId);
    const { doc, share } = dir;
    if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);
    // The children's attributes come from looking them up, which needs traverse (execute)
    // access as in POSIX. Read access alone would give names only; this API always returns
    // attributes, so such a listing is denied.
    await this.authorize(who, dir, 'list_container', 'traverse');
    const visible = await this.authz.childFilter(who, doc);

    const page = await listChildrenPage(this.store, doc.uuid, request);
    const docs = await this.store.getMany<FileDoc>(COLLECTIONS.file, page.entries.map((entry) => entry.childId));
    const parentPath = await this.pathOf(doc);

    const inodeUuids = [...docs.values()].map((child) => child.value.inodeUuid).filter((uuid): uuid is string => uuid !== undefined);
    const inodes = inodeUuids.length === 0 ? new Map<string, { value: FileDoc }>() : await this.store.getMany<FileDoc>(COLLECTIONS.file, inodeUuids);
    // ACLs belong to inodes: one batched read per page.
    const aclOwners = [...docs.values()].map((child) => child.value.inodeUuid ?? child.value.uuid);
    const xattrs = aclOwners.length === 0 ? new Map<string, { value: XattrsDoc }>() : await this.store.getMany<XattrsDoc>(COLLECTIONS.xattrs, aclOwners);

    const children: FileAttributes[] = [];
    for (const entry of page.entries) {
      const child = docs.get(entry.childId);
      // A name whose document is gone is left over from an interrupted delete; skip it.
      if (!child) continue;
      if (visible && !visible(child.value)) continue;
      const path = `${parentPath}/${entry.name}`;
      const inode = child.value.inodeUuid === undefined ? undefined : inodes.get(child.value.inodeUuid);
      const attributes = inode ? toLinkAttributes(child.value, inode.value, path) : toAttributes(child.value, path);
      attributes.acl = aclFromXattr(xattrs.get(child.value.inodeUuid ?? child.value.uuid)?.value[ACL_XATTR_NAME]) ?? [];
      children.push(this.scopeTo(share, child.value, attributes));
    }
    return { children, isLast: page.isLast, nextPageToken: page.nextPageToken };
  }

  async listRecursive(who: Identity, dirId: string, request: ListRecursiveRequest): Promise<ListRecursiveResult> {
    const { doc, share } = await this.resolve(who, dirId);
    if (doc.type !== 'DIR') throw OpError.posix('enotdir', `"${doc.name}" is not a directory`);
    const limit = request.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw OpError.badValue('limit', `limit must be an integer from 1 to 1000, got ${limit}`);

    const tokenAfter = request.token ? decodeWalkToken(request.token) : undefined;
    const after = tokenAfter ?? request.startAfter;
    const list = async (id: string, startAfter: string | undefined, count: number) =>
      (await this.listChildren(who, id, { limit: count, token: startAfter === undefined ? undefined : encodePageToken(startAfter) })).children;
    const lookup = async (id: string, name: string) => {
      const childId = await this.store.getChild(decodeFileId(id).fileUuid, name);
      if (childId === undefined) return undefined;
      const child = await this.fileDoc(childId);
      return this.scopeTo(share, child, await this.attributes(child));
    };

    const walk = await walkFiles(list, lookup, dirId, { after, prefix: request.prefix, limit });
    const last = walk.files[walk.files.length - 1];
    return {
      files: walk.files,
      inaccessiblePaths: walk.inaccessiblePaths,
      isLast: walk.isLast,
      nextPageToken: walk.isLast || !last ? null : encodeWalkToken(last.path),
    };
  }

  async listAncestorIds(who: Identity, fileId: string): Promise<string[]> {
    const file = await this.resolve(who, fileId);
    await this.authorize(who, file, 'read_attributes');
    const ids: string[] = [];
    let current: FileDoc | undefined = entryOf(file);
    while (current) {
      ids.unshift(encodeFileId({ fileUuid: current.uuid, spaceId: current.spaceId }));
      current = current.parentUuid === null ? undefined : await this.fileDoc(current.parentUuid);
    }
    return ids;
  }

  async getDistribution(who: Identity, fileId: string): Promise<FileDistribution> {
    const file = await this.resolve(who, fileId);
    if (file.share !== undefined) {
      throw OpError.posix('eacces', 'file distribution is not available through a share because it shows storage ids and paths; ask a space member', {
        shareId: file.share.shareId,
      });
    }
    await this.authorize(who, file, 'read_attributes');
    const { doc, space } = file;
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

  /**
   * Needs `space_view_changes_stream`. A token with data caveats gets only the changes of
   * files they cover. Skipped records do not count against `limit`: pages are read until
   * one change is kept or the feed ends, so an empty result means nothing after
   * `afterSeq` up to the end of the feed is visible to `who`.
   */
  async readChanges(who: Identity, spaceId: string, afterSeq: number, limit: number): Promise<FileChange[]> {
    const space = await this.accessibleSpace(who, spaceId);
    await this.authz.membership.requirePrivileges(who, spaceId, 'space_view_changes_stream');
    const filtered = hasDataCaveats(who.caveats);

    const changes: FileChange[] = [];
    let seq = afterSeq;
    for (;;) {
      const records = await this.store.readChanges(spaceId, { afterSeq: seq, limit });
      for (const record of records) {
        seq = record.seq;
        if (record.collection !== COLLECTIONS.file) continue;
        const data = (record.data ?? {}) as Partial<FileDoc>;
        if (filtered && !(await this.changeCovered(who, space, record.key, data))) continue;
        changes.push(await this.toFileChange(space, record, data));
      }
      if (changes.length > 0 || records.length < limit) return changes;
    }
  }

  /**
   * Tell whether the data caveats of `who`'s token cover a changed file, placed by the
   * name and parent its change record stores.
   * NOTE: a change of a file whose parent is deleted too cannot be placed, so it is hidden.
   */
  private async changeCovered(who: Identity, space: SpaceDoc, uuid: string, data: Partial<FileDoc>): Promise<boolean> {
    const entry = { uuid, spaceId: space.spaceId, name: data.name ?? '', parentUuid: data.parentUuid ?? null } as FileDoc;
    return this.authz.caveatsCover(who, entry);
  }

  private async toFileChange(space: SpaceDoc, record: ChangeRecord, data: Partial<FileDoc>): Promise<FileChange> {
    const parentPath = data.parentUuid ? await this.pathOfUuid(data.parentUuid) : undefined;
    return {
      seq: record.seq,
      fileId: encodeFileId({ fileUuid: record.key, spaceId: space.spaceId }),
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
    };
  }

  async lastChangeSeq(who: Identity, spaceId: string): Promise<number> {
    await this.accessibleSpace(who, spaceId);
    await this.authz.membership.requirePrivileges(who, spaceId, 'space_view_changes_stream');
    return this.store.lastChangeSeq(spaceId);
  }
}
