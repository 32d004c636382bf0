import type { MetadataStore } from '../metadata/store.js';
import type { TokenService } from '../auth/tokens.js';
import type { UserService } from '../auth/users.js';
import type { Clock } from '../tokens.js';
import { SpaceMembership } from './membership.js';

/** Result of a deletion, as the admin API and the CLI report it. */
export interface IdentityRemovalReport {
  /** Ids of the spaces the user or group was a member of. */
  spaceIds: string[];
}

/**
 * Deletes users and groups with everything that refers to them: tokens, group
 * memberships, group-in-group links and space memberships. Files a deleted user owns
 * keep their owner id, and ACL entries naming a deleted user or group stay but no
 * longer match any caller.
 */
export class IdentityRemoval {
  private readonly membership: SpaceMembership;

  constructor(
    store: MetadataStore,
    clock: Clock,
    private readonly users: UserService,
    private readonly tokens: TokenService,
  ) {
    this.membership = new SpaceMembership(store, clock);
  }

  /**
   * Delete a user (id or name). `notFound` for an unknown user; `conflict` for the owner
   * of a space, before anything changes. Its tokens are revoked first, so a deletion
   * that fails half-way leaves the user locked out rather than half-deleted and active.
   */
  async deleteUser(idOrName: string): Promise<IdentityRemovalReport> {
    const user = await this.users.resolve(idOrName);
    await this.membership.assertOwnsNoSpace(user.id);

    await this.tokens.revokeUser(user.id);
    const spaceIds = await this.membership.removeEverywhere({ userId: user.id });
    await this.membership.groups.removeUserEverywhere(user.id);
    await this.users.delete(user.id);
    return { spaceIds };
  }

  /** Delete a group (id or name) and its links; `notFound` for an unknown group. Its members are kept. */
  async deleteGroup(idOrName: string): Promise<IdentityRemovalReport> {
    const group = await this.membership.groups.resolve(idOrName);
    const spaceIds = await this.membership.removeEverywhere({ groupId: group.id });
    await this.membership.groups.delete(group.id);
    return { spaceIds };
  }
}
