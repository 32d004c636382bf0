import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { encodeFileId } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import type { EventBus } from '../events/bus.js';
import type { MetadataStore } from '../metadata/store.js';
import { assertValidName } from '../paths.js';
import { TYPES, type Clock } from '../tokens.js';
import { COLLECTIONS, DEFAULT_DIR_MODE, spaceRootUuid, type FileDoc, type SpaceDoc } from '../lfs/model.js';
import type { SpaceInfo } from '../lfs/types.js';
import type { CreateSpaceRequest, SpaceService, StorageRegistry, SupportSpaceRequest } from './api.js';
import { documentCacheOf } from './document-cache.js';

@injectable()
export class SpaceServiceImpl implements SpaceService {
  /** Event bus that gets `storage.changed` after a space gains a support. Set when the data-management services are wired. */
  events: EventBus | undefined;

  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.StorageRegistry) private readonly storages: StorageRegistry,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly logger: Logger,
  ) {}

  async create(request: CreateSpaceRequest): Promise<SpaceInfo> {
    const name = assertValidName(request.name);
    const spaceId = randomBytes(16).toString('hex');
    const now = this.clock.now();

    // The name index is written first and conditionally, so two racing creates of one
    // name cannot both succeed.
    try {
      await this.store.create(COLLECTIONS.spaceName, name, { spaceId });
    } catch (error) {
      if (OpError.is(error) && error.kind === 'alreadyExists') {
        throw new OpError('alreadyExists', `a space named "${name}" already exists`, { key: 'name', name });
      }
      throw error;
    }

    const space: SpaceDoc = {
      spaceId,
      name,
      ownerUserId: request.ownerUserId,
      rootUuid: spaceRootUuid(spaceId),
      members: [request.ownerUserId],
      supports: [],
      creationTimeMs: now,
    };
    const root: FileDoc = {
      uuid: space.rootUuid,
      spaceId,
      parentUuid: null,
      name,
      type: 'DIR',
      mode: DEFAULT_DIR_MODE,
      size: 0,
      ownerUserId: request.ownerUserId,
      uid: 0,
      gid: 0,
      creationTimeMs: now,
      atimeMs: now,
      mtimeMs: now,
      ctimeMs: now,
    };
    await this.store.create(COLLECTIONS.file, root.uuid, root);
    await this.store.create(COLLECTIONS.space, spaceId, space);
    // A request for the name or id before it existed may have cached its absence.
    documentCacheOf(this.store).invalidate(COLLECTIONS.spaceName, name);
    documentCacheOf(this.store).invalidate(COLLECTIONS.space, spaceId);
    this.logger.info({ spaceId, name }, 'space created');
    return toSpaceInfo(space);
  }

  async get(spaceId: string): Promise<SpaceInfo> {
    return toSpaceInfo(await this.getDoc(spaceId));
  }

  async getDoc(spaceId: string): Promise<SpaceDoc> {
    const document = await this.store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    return document.value;
  }

  async findByName(name: string): Promise<SpaceInfo | undefined> {
    const index = await this.store.get<{ spaceId: string }>(COLLECTIONS.spaceName, name);
    if (!index) return undefined;
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, index.value.spaceId);
    return space ? toSpaceInfo(space.value) : undefined;
  }

  async list(): Promise<SpaceInfo[]> {
    const spaces: SpaceInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<SpaceDoc>(COLLECTIONS.space, { cursor, limit: 100 });
      spaces.push(...page.documents.map((document) => toSpaceInfo(document.value)));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return spaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async addMember(spaceId: string, userId: string): Promise<void> {
    await this.updateDoc(spaceId, (space) => {
      if (!space.members.includes(userId)) space.members.push(userId);
    });
  }

  async isMember(spaceId: string, userId: string): Promise<boolean> {
    const space = await this.getDoc(spaceId);
    return space.members.includes(userId) || space.ownerUserId === userId;
  }

  async support(request: SupportSpaceRequest): Promise<SpaceInfo> {
    const storage = await this.storages.get(request.storageId);
    const size = request.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw OpError.badValue('size', `support size must be a non-negative integer of bytes, got ${size}`);
    }

    const space = await this.updateDoc(request.spaceId, (doc) => {
      if (doc.supports.some((support) => support.storageId === storage.storageId)) {
        throw new OpError('alreadyExists', `space "${doc.name}" is already supported by storage "${storage.name}"`, {
          spaceId: doc.spaceId,
          storageId: storage.storageId,
        });
      }
      if (storage.importedStorage && doc.supports.some((support) => support.storagePrefix === '')) {
        throw OpError.badValue('storageId', `space "${doc.name}" already has an imported storage`);
      }
      doc.supports.push({
        storageId: storage.storageId,
        size,
        // An imported storage's root is the space root; other storages keep each space in its own folder.
        storagePrefix: storage.importedStorage ? '' : doc.spaceId,
      });
    });
    this.logger.info({ spaceId: request.spaceId, storageId: request.storageId, size }, 'space supported');
    await this.events?.emit('storage.changed', { spaceId: request.spaceId, storageId: request.storageId });
    return toSpaceInfo(space);
  }

  private async updateDoc(spaceId: string, change: (doc: SpaceDoc) => void): Promise<SpaceDoc> {
    const updated = await updateDocument<SpaceDoc>(this.store, COLLECTIONS.space, spaceId, change);
    documentCacheOf(this.store).invalidate(COLLECTIONS.space, spaceId);
    return updated.value;
  }

}

export function toSpaceInfo(space: SpaceDoc): SpaceInfo {
  return {
    spaceId: space.spaceId,
    name: space.name,
    dirId: encodeFileId({ fileUuid: space.rootUuid, spaceId: space.spaceId }),
    ownerUserId: space.ownerUserId,
    storageIds: space.supports.map((support) => support.storageId),
  };
}
