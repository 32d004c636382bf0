import { Authorizer, decodeFileId, type Clock, type Identity, type MetadataStore, type SpacePrivilege } from '@op-worker/core';

/**
 * Check that `who` has every listed space privilege in a space. Throws `forbidden`
 * naming the first missing privilege, or `notFound` for an unknown space. Space owners
 * and provider administrators have all of them.
 */
export type SpacePrivilegeCheck = (who: Identity, spaceId: string, ...privileges: SpacePrivilege[]) => Promise<void>;

/** Build the check on the authorizer's membership, the source of the file permission checks too. */
export function spacePrivilegeCheck(store: MetadataStore, clock: Clock): SpacePrivilegeCheck {
  const membership = new Authorizer(store, clock).membership;
  return (who, spaceId, ...privileges) => membership.requirePrivileges(who, spaceId, ...privileges);
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
