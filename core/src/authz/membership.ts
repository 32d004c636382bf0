import { OpError } from '../errors.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import { COLLECTIONS, type SpaceDoc } from '../lfs/model.js';
import type { Identity } from '../lfs/types.js';
import { GroupService } from '../auth/groups.js';
import { documentCacheOf, type DocumentCache } from '../spaces/document-cache.js';
import type { Clock } from '../tokens.js';
import { DEFAULT_MEMBER_PRIVILEGES, SPACE_PRIVILEGES, VIEW_PRIVILEGES, type SpacePrivilege } from './privileges.js';

/** Collection of per-space member privileges, keyed by space id. */
export const SPACE_MEMBERS_COLLECTION = 'space_members';

/**
 * The privileges of a space's members. A user listed in the space document's `members`
 * but not here (added before privileges existed, or by `SpaceService.addMember`) holds
 * `DEFAULT_MEMBER_PRIVILEGES`.
 */
export interface SpaceMembersDoc {
  users: Record<string, SpacePrivilege[]>;
  groups: Record<string, SpacePrivilege[]>;
}

/** A member of a space: a user or a group. */
export type SpaceMemberRef = { userId: string } | { groupId: string };

/** What one user may do in one space. */
export interface SpaceAccess {
  member: boolean;
  /** The space owner or a provider administrator: privilege and permission checks do not apply. */
  bypass: boolean;
  /** Effective privileges: the user's own and those of every group they belong to. */
  privileges: ReadonlySet<SpacePrivilege>;
  /** Every group the user belongs to, for ACL group entries. */
  groupIds: ReadonlySet<string>;
}

const ALL_PRIVILEGES: ReadonlySet<SpacePrivilege> = new Set(SPACE_PRIVILEGES);
const NO_GROUPS: ReadonlySet<string> = new Set();

/** Space membership of users and groups with their privileges, kept in the metadata store. */
export class SpaceMembership {
  readonly groups: GroupService;
  /** Space and member documents for `accessOf`; see `DocumentCache` for how long a change takes to show. */
  private readonly documents: DocumentCache;

  constructor(
    private readonly store: MetadataStore,
    clock: Clock,
  ) {
    this.groups = new GroupService(store, clock);
    this.documents = documentCacheOf(store);
  }

  /**
   * Add a user or group to a space with the given privileges (default: the member
   * preset), or set the privileges of an existing member.
   */
  async setMember(spaceId: string, member: SpaceMemberRef, privileges: readonly SpacePrivilege[] = DEFAULT_MEMBER_PRIVILEGES): Promise<void> {
    await this.spaceDoc(spaceId);
    const sorted = [...new Set(privileges)].sort();
    await upsertDocument<SpaceMembersDoc>(this.store, SPACE_MEMBERS_COLLECTION, spaceId, () => ({ users: {}, groups: {} }), (doc) => {
      if ('userId' in member) doc.users[member.userId] = sorted;
      else doc.groups[member.groupId] = sorted;
    });
    this.documents.invalidate(SPACE_MEMBERS_COLLECTION, spaceId);
    if ('userId' in member) {
      // The space document's member list drives space listings, so a user member is also recorded there.
      await updateDocument<SpaceDoc>(this.store, COLLECTIONS.space, spaceId, (space) => {
        if (!space.members.includes(member.userId)) space.members.push(member.userId);
      });
      this.documents.invalidate(COLLECTIONS.space, spaceId);
    }
  }

  /**
   * Add a user or group that is not yet a member, with the given privileges (default:
   * the member preset). Throws `alreadyExists` for a member, whose privileges are
   * changed with `setPrivileges`, so that a repeated add never replaces them silently.
   */
  async addMember(spaceId: string, member: SpaceMemberRef, privileges: readonly SpacePrivilege[] = DEFAULT_MEMBER_PRIVILEGES): Promise<void> {
    const listing = await this.list(spaceId);
    const known = 'userId' in member ? member.userId in listing.users : member.groupId in listing.groups;
    if (known) {
      const name = 'userId' in member ? `user "${member.userId}"` : `group "${member.groupId}"`;
      throw new OpError('alreadyExists', `${name} is already a member of space "${spaceId}"; change its privileges with the set-privileges command or a PUT on the member in the admin API`, {
        spaceId,
        ...member,
      });
    }
    await this.setMember(spaceId, member, privileges);
  }

  /** Set the privileges of an existing member; throws `notFound` when it is not a member. */
  async setPrivileges(spaceId: string, member: SpaceMemberRef, privileges: readonly SpacePrivilege[]): Promise<void> {
    const listing = await this.list(spaceId);
    const known = 'userId' in member ? member.userId in listing.users : member.groupId in listing.groups;
    if (!known) throw OpError.notFound(`member ${JSON.stringify(member)} of space "${spaceId}"`, { spaceId });
    await this.setMember(spaceId, member, privileges);
  }

  /** Remove a user or group from a space. The space owner cannot be removed (`conflict`). */
  async removeMember(spaceId: string, member: SpaceMemberRef): Promise<void> {
    const space = await this.spaceDoc(spaceId);
    if ('userId' in member && member.userId === space.ownerUserId) {
      throw new OpError('conflict', `user "${member.userId}" owns space "${space.name}" and cannot be removed from it`, { spaceId, userId: member.userId });
    }
    await upsertDocument<SpaceMembersDoc>(this.store, SPACE_MEMBERS_COLLECTION, spaceId, () => ({ users: {}, groups: {} }), (doc) => {
      if ('userId' in member) delete doc.users[member.userId];
      else delete doc.groups[member.groupId];
    });
    this.documents.invalidate(SPACE_MEMBERS_COLLECTION, spaceId);
    if ('userId' in member) {
      await updateDocument<SpaceDoc>(this.store, COLLECTIONS.space, spaceId, (doc) => {
        doc.members = doc.members.filter((userId) => userId !== member.userId);
      });
      this.documents.invalidate(COLLECTIONS.space, spaceId);
    }
  }

  /**
   * Remove a user or group from every space it is a member of, for its deletion.
   * Returns the ids of those spaces. Throws `conflict` naming the first space a user
   * owns, before changing anything: a space needs its owner.
   */
  async removeEverywhere(member: SpaceMemberRef): Promise<string[]> {
    if ('userId' in member) await this.assertOwnsNoSpace(member.userId);
    const spaces = await this.allSpaces();

    const removed: string[] = [];
    for (const space of spaces) {
      const stored = (await this.store.get<SpaceMembersDoc>(SPACE_MEMBERS_COLLECTION, space.spaceId))?.value;
      const listed = 'userId' in member
        ? space.members.includes(member.userId) || stored?.users[member.userId] !== undefined
        : stored?.groups[member.groupId] !== undefined;
      if (!listed) continue;
      await this.removeMember(space.spaceId, member);
      removed.push(space.spaceId);
    }
    return removed;
  }

  /**
   * Throw `conflict` naming the first space the user owns, if any.
   * NOTE: nothing deletes a space or changes its owner yet, so a space owner cannot be deleted.
   */
  async assertOwnsNoSpace(userId: string): Promise<void> {
    const owned = (await this.allSpaces()).find((space) => space.ownerUserId === userId);
    if (owned) {
      throw new OpError('conflict', `user "${userId}" owns space "${owned.name}" and cannot be deleted while the space keeps that owner`, {
        spaceId: owned.spaceId,
      });
    }
  }

  /** Members and their privileges, users of the space document's list included with the default privileges. */
  async list(spaceId: string): Promise<SpaceMembersDoc & { ownerUserId: string }> {
    const space = await this.spaceDoc(spaceId);
    const stored = (await this.store.get<SpaceMembersDoc>(SPACE_MEMBERS_COLLECTION, spaceId))?.value ?? { users: {}, groups: {} };
    const users: Record<string, SpacePrivilege[]> = {};
    for (const userId of space.members) users[userId] = [...DEFAULT_MEMBER_PRIVILEGES];
    Object.assign(users, stored.users);
    users[space.ownerUserId] = [...SPACE_PRIVILEGES];
    return { ownerUserId: space.ownerUserId, users, groups: stored.groups };
  }

  /** What `who` may do in `space`: membership, owner bypass and effective privileges. */
  async accessOf(who: Identity, space: SpaceDoc): Promise<SpaceAccess> {
    if (who.guest) return { member: false, bypass: false, privileges: new Set(), groupIds: NO_GROUPS };
    if (who.isAdmin || space.ownerUserId === who.userId) {
      return { member: true, bypass: true, privileges: ALL_PRIVILEGES, groupIds: NO_GROUPS };
    }

    const stored = (await this.documents.get<SpaceMembersDoc>(SPACE_MEMBERS_COLLECTION, space.spaceId))?.value;
    const own = stored?.users[who.userId] ?? (space.members.includes(who.userId) ? DEFAULT_MEMBER_PRIVILEGES : undefined);
    const groupIds = await this.groups.effectiveGroupIds(who.userId);

    let member = own !== undefined;
    const privileges = new Set<SpacePrivilege>(own ?? []);
    for (const [groupId, granted] of Object.entries(stored?.groups ?? {})) {
      if (!groupIds.has(groupId)) continue;
      member = true;
      for (const privilege of granted) privileges.add(privilege);
    }
    return { member, bypass: false, privileges, groupIds };
  }

  /**
   * Check that `who` has every listed privilege in a space. Throws `notFound` for an
   * unknown space and `forbidden` for a non-member or naming the first missing
   * privilege. Space owners and provider administrators hold all of them. A token with
   * the `data.readonly` caveat gets `forbidden` for any privilege outside
   * `VIEW_PRIVILEGES`, even for a space owner or administrator.
   */
  async requirePrivileges(who: Identity, spaceId: string, ...privileges: SpacePrivilege[]): Promise<void> {
    const space = await this.spaceDoc(spaceId);
    const change = privileges.find((privilege) => !VIEW_PRIVILEGES.has(privilege));
    if (change !== undefined && who.caveats?.some((caveat) => caveat.type === 'data.readonly')) {
      throw new OpError('forbidden', `the access token has the data.readonly caveat, so it cannot use the ${change} privilege in space "${space.name}"; use a token without that caveat`, {
        spaceId,
        privilege: change,
      });
    }

    const access = await this.accessOf(who, space);
    if (!access.member) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${space.name}"`, { spaceId });
    }
    const missing = privileges.find((privilege) => !access.privileges.has(privilege));
    if (missing !== undefined) {
      throw new OpError('forbidden', `user "${who.userId}" lacks the ${missing} privilege in space "${space.name}"; ask a space owner or administrator to grant it`, {
        spaceId,
        privilege: missing,
      });
    }
  }

  private async allSpaces(): Promise<SpaceDoc[]> {
    const spaces: SpaceDoc[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<SpaceDoc>(COLLECTIONS.space, { cursor, limit: 500 });
      for (const document of page.documents) spaces.push(document.value);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return spaces;
  }

  private async spaceDoc(spaceId: string): Promise<SpaceDoc> {
    const document = await this.store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    return document.value;
  }
}
