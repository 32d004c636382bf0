import {
  Authorizer,
  COLLECTIONS,
  decodeFileId,
  OpError,
  type Clock,
  type Identity,
  type MetadataStore,
  type SpaceDoc,
  type SpacePrivilege,
} from '@op-worker/core';

/**
 * Check that `who` has every listed space privilege in a space. Throws `forbidden`
 * naming the first missing privilege, or `notFound` for an unknown space. Space owners
 * and provider administrators have all of them.
 */
export type SpacePrivilegeCheck = (who: Identity, spaceId: string, ...privileges: SpacePrivilege[]) => Promise<void>;

/** Build the check on the authorizer's membership, the source of the file permission checks too. */
export function spacePrivilegeCheck(store: MetadataStore, clock: Clock): SpacePrivilegeCheck {
  const membership = new Authorizer(store, clock).membership;
  return async (who, spaceId, ...privileges) => {
    const document = await store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!document) throw OpError.notFound(`space "${spaceId}"`, { spaceId });

    const access = await membership.accessOf(who, document.value);
    if (!access.member) {
      throw new OpError('forbidden', `user "${who.userId}" is not a member of space "${document.value.name}"`, { spaceId });
    }
    const missing = privileges.find((privilege) => !access.privileges.has(privilege));
    if (missing !== undefined) {
      throw new OpError('forbidden', `user "${who.userId}" lacks the ${missing} privilege in space "${document.value.name}"; ask a space owner or administrator to grant it`, {
        spaceId,
        privilege: missing,
      });
    }
  };
}

/**
 * Return the space of a file id, or undefined for a malformed id, which the service then
 * rejects with an error naming the parameter.
 */
export function spaceOfFileId(fileId: string): string | undefined {
  try {
    return decodeFileId(fileId).spaceId;
  } catch {
    return undefined;
  }
}
