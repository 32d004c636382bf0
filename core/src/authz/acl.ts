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

/** The one entry of `UNREADABLE_ACL`, compared by identity in `isUnreadableAcl`. */
const DENY_ALL_ENTRY: Ace = Object.freeze({ acetype: ACE_DENY, identifier: 'EVERYONE@', aceflags: 0, acemask: 0xffffffff });

/**
 * Deny-all ACL that stands for a stored ACL that cannot be read (not a list, an entry
 * without identifier, type or mask, an unknown type). Falling back to the
 * mode bits instead could grant what the ACL denied. Space owners and administrators
 * bypass ACLs, so they can still set a readable one.
 */
export const UNREADABLE_ACL: readonly Ace[] = Object.freeze([DENY_ALL_ENTRY]);

const KNOWN_ACE_TYPES: ReadonlySet<number> = new Set([ACE_ALLOW, ACE_DENY, 0x2]);

/** Tell whether `acl` is the `UNREADABLE_ACL` that `aclFromXattr` returns for a damaged value. */
export function isUnreadableAcl(acl: readonly Ace[] | undefined): boolean {
  return acl?.[0] === DENY_ALL_ENTRY;
}

/**
 * The stored ACL of a file from its xattr value: undefined when it has none (or an
 * empty list), `UNREADABLE_ACL` when the value cannot be read.
 */
export function aclFromXattr(value: JsonValue | undefined): Ace[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return UNREADABLE_ACL as Ace[];

  const entries: Ace[] = [];
  for (const entry of value) {
    const ace = readAce(entry);
    if (ace === undefined) return UNREADABLE_ACL as Ace[];
    entries.push(ace);
  }
  return entries.length === 0 ? undefined : entries;
}

function readAce(entry: JsonValue): Ace | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined;
  const { identifier, acemask, acetype, aceflags, name } = entry;
  if (typeof identifier !== 'string' || typeof acemask !== 'number' || typeof acetype !== 'number' || !KNOWN_ACE_TYPES.has(acetype)) return undefined;
  if (aceflags !== undefined && typeof aceflags !== 'number') return undefined;
  return { acetype, identifier, ...(typeof name === 'string' ? { name } : {}), aceflags: aceflags ?? 0, acemask };
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
