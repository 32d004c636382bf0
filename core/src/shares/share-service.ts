import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId, encodeFileId } from '../ids/file-id.js';
import { updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import { COLLECTIONS, type FileDoc } from '../lfs/model.js';
import type { Identity } from '../lfs/types.js';
import { Authorizer } from '../authz/authorizer.js';
import type { SpaceMembership } from '../authz/membership.js';
import { TYPES, type Clock } from '../tokens.js';
import type { CreateShareRequest, ShareDoc, ShareInfo, UpdateShareRequest } from './model.js';

/** Maximum share name length, in characters. */
const MAX_NAME_LENGTH = 256;

/**
 * Shares: create, read, rename and remove the records that publish a file or directory
 * read-only. Any member of the file's space may read its shares; creating, renaming and
 * removing one needs the `space_manage_shares` privilege, as in Onedata. The checks are
 * made here, so REST, CDMI and embedding programs enforce them alike.
 */
@injectable()
export class ShareService {
  private readonly authz: Authorizer;
  private readonly membership: SpaceMembership;

  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.LogicalFileSystem) private readonly lfs: LogicalFileSystem,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly logger: Logger,
  ) {
    this.authz = new Authorizer(store, clock);
    this.membership = this.authz.membership;
  }

  /**
   * Share a file or directory. The caller needs `space_manage_shares` in its space and
   * a token that is not read-only and whose data caveats cover the file (`forbidden`
   * otherwise), and must be able to read the file's attributes. Any number of shares
   * may name one file.
   */
  async create(who: Identity, request: CreateShareRequest): Promise<ShareInfo> {
    const name = validName(request.name);
    const guid = decodeFileId(request.rootFileId);
    if (guid.shareId !== undefined) {
      throw OpError.badValue('rootFileId', 'rootFileId is a share-scoped id; share the file by its id in the space');
    }
    await this.membership.requirePrivileges(who, guid.spaceId, 'space_manage_shares');
    await this.authz.checkCaveatsAllowManaging(who, guid.fileUuid, 'create a share');
    const root = await this.lfs.getAttributes(who, request.rootFileId);

    const doc: ShareDoc = {
      shareId: randomBytes(16).toString('hex'),
      name,
      description: request.description ?? '',
      spaceId: guid.spaceId,
      rootFileUuid: guid.fileUuid,
      rootFileType: root.type,
      creatorUserId: who.userId,
      creationTimeMs: this.clock.now(),
    };
    await this.store.create(COLLECTIONS.share, doc.shareId, doc);
    await updateDocument<FileDoc>(this.store, COLLECTIONS.file, guid.fileUuid, (file) => {
      file.shareIds = [...(file.shareIds ?? []), doc.shareId];
    });
    this.logger.info({ shareId: doc.shareId, spaceId: doc.spaceId, fileUuid: doc.rootFileUuid, userId: who.userId }, 'share created');
    return toShareInfo(doc);
  }

  /** Return a share of a space the caller belongs to; `notFound` for an unknown id. */
  async get(who: Identity, shareId: string): Promise<ShareInfo> {
    return toShareInfo(await this.accessibleShare(who, shareId));
  }

  /** Change the name and/or the description; needs `space_manage_shares`. */
  async update(who: Identity, shareId: string, request: UpdateShareRequest): Promise<ShareInfo> {
    await this.manageableShare(who, shareId);
    const name = request.name === undefined ? undefined : validName(request.name);
    const updated = await updateDocument<ShareDoc>(this.store, COLLECTIONS.share, shareId, (share) => {
      if (name !== undefined) share.name = name;
      if (request.description !== undefined) share.description = request.description;
    });
    return toShareInfo(updated.value);
  }

  /** Remove a share; needs `space_manage_shares`. The shared data stays, but its share-scoped ids stop working. */
  async remove(who: Identity, shareId: string): Promise<void> {
    const share = await this.manageableShare(who, shareId);
    await this.store.delete(COLLECTIONS.share, shareId);
    await updateDocument<FileDoc>(this.store, COLLECTIONS.file, share.rootFileUuid, (file) => {
      file.shareIds = (file.shareIds ?? []).filter((id) => id !== shareId);
    }).catch((error: unknown) => {
      // The shared file may have been deleted since; then only the share record was left.
      if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
    });
    this.logger.info({ shareId, spaceId: share.spaceId, userId: who.userId }, 'share removed');
  }

  private async manageableShare(who: Identity, shareId: string): Promise<ShareDoc> {
    const share = await this.accessibleShare(who, shareId);
    await this.membership.requirePrivileges(who, share.spaceId, 'space_manage_shares');
    await this.authz.checkCaveatsAllowManaging(who, share.rootFileUuid, 'change or remove a share');
    return share;
  }

  private async accessibleShare(who: Identity, shareId: string): Promise<ShareDoc> {
    const document = await this.store.get<ShareDoc>(COLLECTIONS.share, shareId);
    if (!document) throw OpError.notFound(`share "${shareId}"`, { shareId });
    // Checks that the caller may use the share's space (forbidden otherwise).
    await this.lfs.getSpace(who, document.value.spaceId);
    return document.value;
  }
}

/** Map a share record to what clients see; the root file id is share-scoped. */
export function toShareInfo(doc: ShareDoc): ShareInfo {
  return {
    shareId: doc.shareId,
    name: doc.name,
    description: doc.description,
    spaceId: doc.spaceId,
    rootFileId: encodeFileId({ fileUuid: doc.rootFileUuid, spaceId: doc.spaceId, shareId: doc.shareId }),
    rootFileType: doc.rootFileType,
    creationTime: Math.floor(doc.creationTimeMs / 1000),
  };
}

function validName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH) {
    throw OpError.badValue('name', `share name must have 1 to ${MAX_NAME_LENGTH} characters, got ${trimmed.length}`);
  }
  return trimmed;
}
