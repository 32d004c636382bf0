import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId } from '../ids/file-id.js';
import type { MetadataStore } from '../metadata/store.js';
import { COLLECTIONS, readDocuments, type FileDoc, type SpaceDoc, type XattrsDoc } from '../lfs/model.js';
import type { Identity } from '../lfs/types.js';
import type { TokenCaveat } from '../auth/caveats.js';
import type { Clock } from '../tokens.js';
import { ACCESS_MASK, ACCESS_POSIX_BITS, ANCESTOR_ACCESS, isWriteAccess, type FileAccess } from './access.js';
import { ACL_XATTR_NAME, aclAllows, aclFromXattr, isUnreadableAcl } from './acl.js';
import { SpaceMembership, type SpaceAccess } from './membership.js';
import type { SpacePrivilege } from './privileges.js';

/** A file as an operation reached it. */
export interface AuthzTarget {
  space: SpaceDoc;
  /** The inode: mode, owner and ACL come from it. */
  doc: FileDoc;
  /** The hard link the id named, if any: its name and parent place the file in the tree. */
  link?: FileDoc;
  /** Set when the file was reached through a share id: the caller is a share visitor. */
  share?: unknown;
  /** Documents and access read by earlier checks of this operation, reused by later ones. */
  memo?: AccessMemo;
}

/**
 * Documents and access read by the checks of one operation, so that a file's later
 * checks and the operation itself do not read them again. It lives only as long as the operation's
 * resolved file, so nothing in it outlives a request.
 */
export interface AccessMemo {
  /** `who`'s access to the file's space. */
  spaceAccess?: SpaceAccess;
  /** The directories above the entry, space root first, when the traverse check read them. */
  ancestors?: FileDoc[];
  /** Xattrs documents (for ACLs) by file uuid; undefined for a file without one. */
  xattrs: Map<string, XattrsDoc | undefined>;
}

/** Whether a token's data caveat allows a file itself, only the way down to allowed files, or nothing. */
type CaveatReach = { kind: 'inside' } | { kind: 'ancestor'; nextNames: Set<string>; nextUuids: Set<string> } | { kind: 'outside' };

/**
 * Decides whether an identity may access a file, in Onedata's order: token data
 * caveats, space membership, space owner (and provider administrators), space
 * privileges (`space_read_data` for reading, `space_write_data` for changes), then the
 * file's ACL when it has one, else its POSIX mode bits. In the mode bits the owner class
 * is the file owner, the group class every space member, and the other class share
 * visitors. Denials are posix `eacces`; a non-member gets `forbidden`.
 */
export class Authorizer {
  readonly membership: SpaceMembership;

  /** Files whose unreadable ACL was logged already, so that each is logged once (up to a bound). */
  private readonly reportedAcls = new Set<string>();

  /** `logger` receives one warning per file whose stored ACL cannot be read. */
  constructor(
    private readonly store: MetadataStore,
    clock: Clock,
    private readonly logger?: Logger,
  ) {
    this.membership = new SpaceMembership(store, clock);
  }

  /** Whether `who` is a member of the space (owners and administrators are). */
  async isMember(who: Identity, space: SpaceDoc): Promise<boolean> {
    return (await this.membership.accessOf(who, space)).member;
  }

  /**
   * Whether a space is shown to `who`: members see it unless a data caveat of their
   * token names no file in it.
   */
  async spaceVisible(who: Identity, space: SpaceDoc): Promise<boolean> {
    if (!(await this.isMember(who, space))) return false;
    const root = await this.store.get<FileDoc>(COLLECTIONS.file, space.rootUuid);
    if (!root) return false;
    return (await this.caveatReach(who.caveats, root.value)).every((reach) => reach.kind !== 'outside');
  }

  /**
   * Throw posix `eacces` (or `forbidden` for a non-member) unless `who` has `access` to
   * the file. `known` is `who`'s access to the file's space when the caller has already
   * read it, so that checks of many files in one operation read it once.
   */
  async check(who: Identity, file: AuthzTarget, access: FileAccess, known?: SpaceAccess): Promise<void> {
    const entry = file.link ?? file.doc;
    await this.checkCaveats(who, entry, access);

    if (file.share !== undefined) {
      await this.checkShareVisitor(file, access);
      return;
    }

    const spaceAccess = known ?? file.memo?.spaceAccess ?? (await this.membership.accessOf(who, file.space));
    if (!spaceAccess.member) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${file.space.name}"`, { spaceId: file.space.spaceId });
    }
    if (spaceAccess.bypass) return;

    const privilege = requiredPrivilege(access);
    if (privilege !== undefined && !spaceAccess.privileges.has(privilege)) {
      throw denied(`user "${who.userId}" lacks the ${privilege} privilege in space "${file.space.name}"`, access, file.doc);
    }
    await this.checkFilePermissions(who, file.doc, spaceAccess, access, file.memo);
  }

  /**
   * Throw posix `eacces` unless `who` may traverse every directory above `entry`, as a
   * path lookup would: from the space root down to the entry's parent. With
   * `shareRootUuid`, the caller is a share visitor, checked from the share root down in
   * the "other" class or the ACL's visitor entries, so a guest needs nothing above the
   * share. Owners and administrators pass without the ancestors being read.
   * `spaceAccess` is `who`'s access to the space when the caller has read it already.
   * Token caveats are not checked here because the file's own check applies them, and
   * a directory above a file that the caveats allow is on the way to it, where they
   * allow traverse.
   *
   * With `memo`, the directories read are kept in it, and the ACLs of the directories
   * and of `aclUuid` (the file whose own check comes next) are read in one batch.
   */
  async checkAncestorTraverse(
    who: Identity,
    space: SpaceDoc,
    entry: FileDoc,
    options: { shareRootUuid?: string; spaceAccess?: SpaceAccess; memo?: AccessMemo; aclUuid?: string } = {},
  ): Promise<void> {
    const { shareRootUuid, memo } = options;
    if (shareRootUuid !== undefined) {
      const chain = await this.chainOf(entry);
      const rootIndex = chain.findIndex((doc) => doc.uuid === shareRootUuid);
      for (const doc of chain.slice(Math.max(rootIndex, 0), -1)) await this.checkShareVisitor({ space, doc }, 'traverse');
      return;
    }

    const spaceAccess = options.spaceAccess ?? (await this.membership.accessOf(who, space));
    if (!spaceAccess.member) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${space.name}"`, { spaceId: space.spaceId });
    }
    if (spaceAccess.bypass || entry.parentUuid === null) return;

    const ancestors = (await this.chainOf(entry)).slice(0, -1);
    if (memo !== undefined) {
      memo.ancestors = ancestors;
      const uuids = ancestors.map((doc) => doc.uuid);
      await this.readAcls(memo, options.aclUuid === undefined ? uuids : [...uuids, options.aclUuid]);
    }
    for (const doc of ancestors) await this.checkFilePermissions(who, doc, spaceAccess, 'traverse', memo);
  }

  /** Read the xattrs documents of several files into `memo` with one store call. */
  private async readAcls(memo: AccessMemo, uuids: readonly string[]): Promise<void> {
    const missing = uuids.filter((uuid) => !memo.xattrs.has(uuid));
    if (missing.length === 0) return;
    const found = await readDocuments<XattrsDoc>(this.store, COLLECTIONS.xattrs, missing);
    for (const uuid of missing) memo.xattrs.set(uuid, found.get(uuid)?.value);
  }

  /**
   * For a listing of `dir`: a filter that keeps only the children on the way to the
   * files a token's data caveats allow, or undefined when every child may be shown.
   */
  async childFilter(who: Identity, dir: FileDoc): Promise<((child: FileDoc) => boolean) | undefined> {
    const reaches = (await this.caveatReach(who.caveats, dir)).filter((reach) => reach.kind === 'ancestor');
    if (reaches.length === 0) return undefined;
    return (child) => reaches.every((reach) => reach.kind === 'ancestor' && (reach.nextNames.has(child.name) || reach.nextUuids.has(child.uuid)));
  }

  /**
   * Tell whether the data caveats (`data.path`, `data.objectid`) of `who`'s token cover
   * `entry` itself, not only the way down to the files they name. True without such caveats.
   */
  async caveatsCover(who: Identity, entry: FileDoc): Promise<boolean> {
    return (await this.caveatReach(who.caveats, entry)).every((reach) => reach.kind === 'inside');
  }

  /**
   * Throw `forbidden` unless `who`'s token may make a change that concerns a whole file
   * or tree but is not a file write: sharing it, adding or removing a QoS requirement,
   * scheduling or cancelling a transfer. The token must not be read-only, and its data
   * caveats must cover the file (uuid `fileUuid`) itself, because such a change on a
   * directory above the allowed files reaches files the token does not allow.
   * `operation` completes "cannot ..." in the message.
   */
  async checkCaveatsAllowManaging(who: Identity, fileUuid: string, operation: string): Promise<void> {
    const caveats = who.caveats ?? [];
    if (caveats.some((caveat) => caveat.type === 'data.readonly')) {
      throw new OpError('forbidden', `the access token has the data.readonly caveat, so it cannot ${operation}; use a token without that caveat`);
    }
    if (!caveats.some((caveat) => caveat.type === 'data.path' || caveat.type === 'data.objectid')) return;

    const entry = (await this.store.get<FileDoc>(COLLECTIONS.file, fileUuid))?.value;
    if (entry === undefined || !(await this.caveatsCover(who, entry))) {
      const name = entry === undefined ? `file ${fileUuid}` : `"${entry.name}"`;
      throw new OpError('forbidden', `the data caveats of the access token do not cover ${name}, so it cannot ${operation}; use a token whose data.path or data.objectid names it`, {
        fileUuid,
      });
    }
  }

  private async checkCaveats(who: Identity, entry: FileDoc, access: FileAccess): Promise<void> {
    const caveats = who.caveats;
    if (caveats === undefined || caveats.length === 0) return;

    if (isWriteAccess(access) && caveats.some((caveat) => caveat.type === 'data.readonly')) {
      throw denied('the access token is read-only', access, entry);
    }
    for (const reach of await this.caveatReach(caveats, entry)) {
      if (reach.kind === 'outside') throw denied(`the access token does not allow access to "${entry.name}"`, access, entry);
      if (reach.kind === 'ancestor' && !ANCESTOR_ACCESS.has(access)) {
        throw denied(`the access token allows only listing "${entry.name}" on the way to the files it names`, access, entry);
      }
    }
  }

  /** How each `data.path` and `data.objectid` caveat relates to a file. */
  private async caveatReach(caveats: readonly TokenCaveat[] | undefined, entry: FileDoc): Promise<CaveatReach[]> {
    const dataCaveats = (caveats ?? []).filter((caveat) => caveat.type === 'data.path' || caveat.type === 'data.objectid');
    if (dataCaveats.length === 0) return [];

    const chain = await this.chainOf(entry);
    const path = `/${entry.spaceId}${chain.slice(1).map((doc) => `/${doc.name}`).join('')}`;
    const chainUuids = new Set(chain.map((doc) => doc.uuid));

    const reaches: CaveatReach[] = [];
    for (const caveat of dataCaveats) {
      if (caveat.type === 'data.path') reaches.push(pathReach(caveat.whitelist, path));
      if (caveat.type === 'data.objectid') reaches.push(await this.objectReach(caveat.whitelist, entry, chainUuids));
    }
    return reaches;
  }

  private async objectReach(whitelist: readonly string[], entry: FileDoc, chainUuids: ReadonlySet<string>): Promise<CaveatReach> {
    const uuids = whitelist.map(uuidOfObjectId).filter((uuid): uuid is string => uuid !== undefined);
    if (uuids.some((uuid) => chainUuids.has(uuid))) return { kind: 'inside' };

    const nextUuids = new Set<string>();
    for (const uuid of uuids) {
      const allowed = await this.store.get<FileDoc>(COLLECTIONS.file, uuid);
      if (!allowed) continue;
      const chain = await this.chainOf(allowed.value);
      const index = chain.findIndex((doc) => doc.uuid === entry.uuid);
      const next = index >= 0 ? chain[index + 1] : undefined;
      if (next) nextUuids.add(next.uuid);
    }
    return nextUuids.size > 0 ? { kind: 'ancestor', nextNames: new Set(), nextUuids } : { kind: 'outside' };
  }

  /** Documents from the space root down to `entry`. */
  private async chainOf(entry: FileDoc): Promise<FileDoc[]> {
    const chain = [entry];
    let current = entry;
    while (current.parentUuid !== null) {
      const parent = await this.store.get<FileDoc>(COLLECTIONS.file, current.parentUuid);
      if (!parent) break;
      current = parent.value;
      chain.unshift(current);
    }
    return chain;
  }

  /** Share visitors read through a share: never change anything, and get the "other" class or `ANONYMOUS@`/`EVERYONE@` entries. */
  private async checkShareVisitor(file: AuthzTarget, access: FileAccess): Promise<void> {
    if (isWriteAccess(access)) throw denied('files reached through a share are read-only', access, file.doc);
    const acl = await this.aclOf(file.doc);
    const allowed = acl
      ? aclAllows(acl, { groupIds: new Set(), isOwner: false, isSpaceMember: false }, ACCESS_MASK[access])
      : posixAllows(file.doc.mode & 0o7, access, false);
    if (!allowed) throw denied(`share visitors may not ${describe(access)} "${file.doc.name}"`, access, file.doc);
  }

  private async checkFilePermissions(who: Identity, doc: FileDoc, spaceAccess: SpaceAccess, access: FileAccess, memo?: AccessMemo): Promise<void> {
    const isOwner = doc.ownerUserId === who.userId;
    const acl = await this.aclOf(doc, memo);
    const allowed = acl
      ? aclAllows(acl, { userId: who.userId, groupIds: spaceAccess.groupIds, isOwner, isSpaceMember: true }, ACCESS_MASK[access])
      : posixAllows(isOwner ? (doc.mode >> 6) & 0o7 : (doc.mode >> 3) & 0o7, access, isOwner);
    if (!allowed) {
      const rule = acl ? 'its ACL' : `its mode ${doc.mode.toString(8).padStart(3, '0')}`;
      throw denied(`user "${who.userId}" may not ${describe(access)} "${doc.name}": ${rule} does not allow it`, access, doc);
    }
  }

  private async aclOf(doc: FileDoc, memo?: AccessMemo): Promise<ReturnType<typeof aclFromXattr>> {
    let xattrs: XattrsDoc | undefined;
    if (memo?.xattrs.has(doc.uuid)) {
      xattrs = memo.xattrs.get(doc.uuid);
    } else {
      xattrs = (await this.store.get<XattrsDoc>(COLLECTIONS.xattrs, doc.uuid))?.value;
      memo?.xattrs.set(doc.uuid, xattrs);
    }

    const acl = aclFromXattr(xattrs?.[ACL_XATTR_NAME]);
    if (isUnreadableAcl(acl)) this.reportUnreadableAcl(doc);
    return acl;
  }

  private reportUnreadableAcl(doc: FileDoc): void {
    if (this.reportedAcls.has(doc.uuid) || this.reportedAcls.size >= 10_000) return;
    this.reportedAcls.add(doc.uuid);
    this.logger?.warn(
      { fileUuid: doc.uuid, spaceId: doc.spaceId, name: doc.name },
      'stored ACL cannot be read, so it denies all access; a space owner or administrator can set a new ACL',
    );
  }
}

/**
 * The space privilege an access needs: `space_write_data` for changes, `space_read_data`
 * for reading content, listings and metadata. Finding a file (traverse, attributes)
 * needs membership only, so a member without `space_read_data` can still reach files to
 * write them.
 */
function requiredPrivilege(access: FileAccess): SpacePrivilege | undefined {
  if (isWriteAccess(access)) return 'space_write_data';
  if (access === 'traverse' || access === 'read_attributes') return undefined;
  return 'space_read_data';
}

/** Whether one class of POSIX bits (0 to 7) grants `access`. */
function posixAllows(bits: number, access: FileAccess, isOwner: boolean): boolean {
  const needed = ACCESS_POSIX_BITS[access];
  if (needed === 'owner') return isOwner;
  return (bits & needed) === needed;
}

function pathReach(whitelist: readonly string[], path: string): CaveatReach {
  if (whitelist.some((allowed) => path === allowed || path.startsWith(`${allowed}/`))) return { kind: 'inside' };
  const nextNames = new Set<string>();
  for (const allowed of whitelist) {
    if (!allowed.startsWith(`${path}/`)) continue;
    const next = allowed.slice(path.length + 1).split('/')[0];
    if (next) nextNames.add(next);
  }
  return nextNames.size > 0 ? { kind: 'ancestor', nextNames, nextUuids: new Set() } : { kind: 'outside' };
}

function uuidOfObjectId(objectId: string): string | undefined {
  try {
    return decodeFileId(objectId).fileUuid;
  } catch {
    return undefined;
  }
}

function describe(access: FileAccess): string {
  return access.replaceAll('_', ' ');
}

function denied(message: string, access: FileAccess, doc: FileDoc): OpError {
  return OpError.posix('eacces', message, { access, name: doc.name });
}
