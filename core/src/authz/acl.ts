import type { JsonValue } from '../lfs/types.js';
import { ACE_ALLOW, ACE_DENY, ACE_IDENTIFIER_GROUP, ACE_INHERIT_ONLY } from './access.js';

/** Name of the extended attribute that stores a file's ACL (as CDMI names it). */
export const ACL_XATTR_NAME = 'cdmi_acl';

/** An access control entry as stored in the `cdmi_acl` extended attribute. */
export interface Ace {
  /** 0x0 ALLOW, 0x1 DENY; other types (AUDIT) are ignored when evaluating. */
  acetype: number;
  /** User or group id, or one of `OWNER@`, `GROUP@`, `EVERYONE@`, `ANONYMOUS@`. */
  identifier: string;
  /** Name given with the identifier when the ACL was set (CDMI `<name>#<id>`), shown when no better name is known. */
  name?: string;
  aceflags: number;
  acemask: number;
}

/** Who asks, as ACE principals see it. */
export interface AclSubject {
  /** Undefined for a share visitor (guest). */
  userId?: string;
  /** Ids of every group the user belongs to, directly or through nested groups. */
  groupIds: ReadonlySet<string>;
  /** The user owns the file (`OWNER@`). */
  isOwner: boolean;
  /** The user is a member of the file's space (`GROUP@`). */
  isSpaceMember: boolean;
}

/** The stored ACL of a file from its xattr value, or undefined when it has none (or an empty list). */
export function aclFromXattr(value: JsonValue | undefined): Ace[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const entries = value.filter((entry): entry is JsonValue & Ace => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
    return typeof entry['identifier'] === 'string' && typeof entry['acemask'] === 'number' && typeof entry['acetype'] === 'number';
  });
  return entries.length === 0 ? undefined : entries.map((entry) => ({
    acetype: entry.acetype,
    identifier: entry.identifier,
    ...(typeof entry.name === 'string' ? { name: entry.name } : {}),
    aceflags: typeof entry.aceflags === 'number' ? entry.aceflags : 0,
    acemask: entry.acemask,
  }));
}

/**
 * Evaluate an ACL the NFSv4 way, as Onedata does: entries are read top-down; an entry
 * applies when its principal matches and its mask shares a bit with what is still
 * needed. A DENY of any needed bit denies; an ALLOW grants its bits; once every bit is
 * granted the access is allowed; reaching the end with bits left denies.
 */
export function aclAllows(acl: readonly Ace[], subject: AclSubject, requestedMask: number): boolean {
  let remaining = requestedMask;
  for (const ace of acl) {
    if ((ace.aceflags & ACE_INHERIT_ONLY) !== 0) continue;
    if ((ace.acemask & remaining) === 0 || !principalMatches(ace, subject)) continue;

    if (ace.acetype === ACE_DENY) return false;
    if (ace.acetype === ACE_ALLOW) {
      remaining &= ~ace.acemask;
      if (remaining === 0) return true;
    }
  }
  return remaining === 0;
}

function principalMatches(ace: Ace, subject: AclSubject): boolean {
  switch (ace.identifier) {
    case 'OWNER@':
      return subject.isOwner;
    case 'GROUP@':
      return subject.isSpaceMember;
    case 'EVERYONE@':
      return true;
    case 'ANONYMOUS@':
      return subject.userId === undefined;
    default:
      if ((ace.aceflags & ACE_IDENTIFIER_GROUP) !== 0) return subject.groupIds.has(ace.identifier);
      return subject.userId !== undefined && ace.identifier === subject.userId;
  }
}
