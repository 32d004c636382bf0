import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { OpError } from '../errors.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import { TYPES, type Clock } from '../tokens.js';
import { assertValidUserName } from './users.js';

/** A group of users and other groups. */
export interface GroupRecord {
  /** 32 lower-case hex characters. */
  id: string;
  name: string;
  /** Ids of the users who are direct members. */
  userIds: string[];
  /** Ids of the groups that are direct members (subgroups). */
  childGroupIds: string[];
  /** Milliseconds since the epoch. */
  created: number;
}

/** Collection of group documents, keyed by group id. */
export const GROUP_COLLECTION = 'group';
/** Collection mapping a group name to its id. */
export const GROUP_NAME_COLLECTION = 'group_name';
/** Collection of a user's direct groups, keyed by user id; read on every permission check of a member. */
export const USER_GROUPS_COLLECTION = 'user_groups';
/** Collection of a group's direct parent groups, keyed by group id. */
export const GROUP_PARENTS_COLLECTION = 'group_parents';

const GROUP_ID_PATTERN = /^[0-9a-f]{32}$/;
const SCAN_PAGE_SIZE = 500;
/** Nesting is walked breadth-first up to this many groups, so a corrupted graph cannot loop forever. */
const MAX_EFFECTIVE_GROUPS = 10_000;

interface GroupIdsDoc {
  groupIds: string[];
}

/**
 * Groups of this provider. Groups may contain groups; a user belongs to every group
 * above their direct groups. Cycles are rejected when a subgroup is added.
 */
@injectable()
export class GroupService {
  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {}

  /** Create a group; names follow the user-name rules and are unique (`alreadyExists`). */
  async create(name: string): Promise<GroupRecord> {
    assertValidUserName(name);
    const group: GroupRecord = { id: randomBytes(16).toString('hex'), name, userIds: [], childGroupIds: [], created: this.clock.now() };
    try {
      await this.store.create(GROUP_NAME_COLLECTION, name, { groupId: group.id });
    } catch (error) {
      if (OpError.is(error) && error.kind === 'alreadyExists') {
        throw new OpError('alreadyExists', `a group named "${name}" already exists`, { key: 'name', name });
      }
      throw error;
    }
    await this.store.create(GROUP_COLLECTION, group.id, group);
    return group;
  }

  async find(groupId: string): Promise<GroupRecord | undefined> {
    if (!GROUP_ID_PATTERN.test(groupId)) return undefined;
    return (await this.store.get<GroupRecord>(GROUP_COLLECTION, groupId))?.value;
  }

  /** Find a group by id or, failing that, by name; throws `notFound` when neither matches. */
  async resolve(idOrName: string): Promise<GroupRecord> {
    let group = await this.find(idOrName);
    if (group === undefined) {
      const entry = await this.store.get<{ groupId: string }>(GROUP_NAME_COLLECTION, idOrName);
      group = entry === undefined ? undefined : await this.find(entry.value.groupId);
    }
    if (group === undefined) throw OpError.notFound(`group "${idOrName}"`, { group: idOrName });
    return group;
  }

  async list(): Promise<GroupRecord[]> {
    const groups: GroupRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<GroupRecord>(GROUP_COLLECTION, { cursor, limit: SCAN_PAGE_SIZE });
      for (const document of page.documents) groups.push(document.value);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return groups;
  }

  /** Make a user a direct member of a group; adding twice is not an error. The caller checks that the user exists. */
  async addUser(groupId: string, userId: string): Promise<GroupRecord> {
    const updated = await updateDocument<GroupRecord>(this.store, GROUP_COLLECTION, groupId, (group) => {
      if (!group.userIds.includes(userId)) group.userIds.push(userId);
    });
    await this.addToIndex(USER_GROUPS_COLLECTION, userId, groupId);
    return updated.value;
  }

  /** Make `childId` a subgroup of `parentId`; throws `badValue` when that would make a cycle. */
  async addSubgroup(parentId: string, childId: string): Promise<GroupRecord> {
    await this.resolve(childId);
    const parentAncestors = await this.ancestorsOf([parentId]);
    if (parentId === childId || parentAncestors.has(childId)) {
      throw OpError.badValue('group', `group "${childId}" contains group "${parentId}" already, so it cannot also be its member`);
    }

    const updated = await updateDocument<GroupRecord>(this.store, GROUP_COLLECTION, parentId, (group) => {
      if (!group.childGroupIds.includes(childId)) group.childGroupIds.push(childId);
    });
    await this.addToIndex(GROUP_PARENTS_COLLECTION, childId, parentId);
    return updated.value;
  }

  /**
   * Take a user out of a group's direct members; the user loses every group and space
   * reached only through it. Throws `notFound` when the user is not a direct member,
   * including a user who belongs only through a subgroup (remove it from that subgroup).
   */
  async removeUser(groupId: string, userId: string): Promise<GroupRecord> {
    const updated = await updateDocument<GroupRecord>(this.store, GROUP_COLLECTION, groupId, (group) => {
      if (!group.userIds.includes(userId)) {
        throw OpError.notFound(`user "${userId}" as a direct member of group "${group.name}"`, { groupId, userId });
      }
      group.userIds = group.userIds.filter((id) => id !== userId);
    });
    await this.removeFromIndex(USER_GROUPS_COLLECTION, userId, groupId);
    return updated.value;
  }

  /**
   * Take subgroup `childId` out of `parentId`; the subgroup's users lose what they had
   * only through the parent. Throws `notFound` when `childId` is not a direct subgroup.
   */
  async removeSubgroup(parentId: string, childId: string): Promise<GroupRecord> {
    const updated = await updateDocument<GroupRecord>(this.store, GROUP_COLLECTION, parentId, (group) => {
      if (!group.childGroupIds.includes(childId)) {
        throw OpError.notFound(`group "${childId}" as a direct subgroup of group "${group.name}"`, { groupId: parentId, childGroupId: childId });
      }
      group.childGroupIds = group.childGroupIds.filter((id) => id !== childId);
    });
    await this.removeFromIndex(GROUP_PARENTS_COLLECTION, childId, parentId);
    return updated.value;
  }

  /** Take a user out of every group it is a direct member of; groups it reached through nesting lose it with them. */
  async removeUserEverywhere(userId: string): Promise<void> {
    const direct = await this.store.get<GroupIdsDoc>(USER_GROUPS_COLLECTION, userId);
    for (const groupId of direct?.value.groupIds ?? []) {
      await this.updateIfPresent(groupId, (group) => {
        group.userIds = group.userIds.filter((id) => id !== userId);
      });
    }
    await this.store.delete(USER_GROUPS_COLLECTION, userId);
  }

  /**
   * Delete a group: it leaves its parent groups, its subgroups and users stop being its
   * members (so they lose what they had only through it), and its name is freed.
   * `notFound` when the id is unknown. Space memberships are the caller's part.
   */
  async delete(groupId: string): Promise<void> {
    const group = await this.resolve(groupId);

    const parents = await this.store.get<GroupIdsDoc>(GROUP_PARENTS_COLLECTION, group.id);
    for (const parentId of parents?.value.groupIds ?? []) {
      await this.updateIfPresent(parentId, (parent) => {
        parent.childGroupIds = parent.childGroupIds.filter((id) => id !== group.id);
      });
    }
    await this.store.delete(GROUP_PARENTS_COLLECTION, group.id);

    for (const childId of group.childGroupIds) await this.removeFromIndex(GROUP_PARENTS_COLLECTION, childId, group.id);
    for (const userId of group.userIds) await this.removeFromIndex(USER_GROUPS_COLLECTION, userId, group.id);

    await this.store.delete(GROUP_COLLECTION, group.id);
    await this.store.delete(GROUP_NAME_COLLECTION, group.name);
  }

  /** Ids of every group the user belongs to, directly or through subgroup nesting. */
  async effectiveGroupIds(userId: string): Promise<Set<string>> {
    const direct = await this.store.get<GroupIdsDoc>(USER_GROUPS_COLLECTION, userId);
    if (direct === undefined || direct.value.groupIds.length === 0) return new Set();
    return this.ancestorsOf(direct.value.groupIds, true);
  }

  /** The given groups (when `includeStart`) and every group that contains them, breadth-first. */
  private async ancestorsOf(start: readonly string[], includeStart = false): Promise<Set<string>> {
    const seen = new Set<string>(includeStart ? start : []);
    let frontier = [...start];
    while (frontier.length > 0 && seen.size < MAX_EFFECTIVE_GROUPS) {
      const parents = await this.store.getMany<GroupIdsDoc>(GROUP_PARENTS_COLLECTION, frontier);
      frontier = [];
      for (const document of parents.values()) {
        for (const parentId of document.value.groupIds) {
          if (seen.has(parentId)) continue;
          seen.add(parentId);
          frontier.push(parentId);
        }
      }
    }
    return seen;
  }

  private async removeFromIndex(collection: string, key: string, groupId: string): Promise<void> {
    await updateDocument<GroupIdsDoc>(this.store, collection, key, (entry) => {
      entry.groupIds = entry.groupIds.filter((id) => id !== groupId);
    }).catch(ignoreNotFound);
  }

  /** Update a group document; a group deleted meanwhile is skipped. */
  private async updateIfPresent(groupId: string, change: (group: GroupRecord) => void): Promise<void> {
    await updateDocument<GroupRecord>(this.store, GROUP_COLLECTION, groupId, change).catch(ignoreNotFound);
  }

  private async addToIndex(collection: string, key: string, groupId: string): Promise<void> {
    await upsertDocument<GroupIdsDoc>(this.store, collection, key, () => ({ groupIds: [] }), (entry) => {
      if (!entry.groupIds.includes(groupId)) entry.groupIds.push(groupId);
    });
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
}
