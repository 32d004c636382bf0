import { OpError } from '../errors.js';
import { GroupService } from '../auth/groups.js';
import { UserService } from '../auth/users.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Clock } from '../tokens.js';
import { ACE_ALLOW, ACE_DENY, ACE_IDENTIFIER_GROUP } from './access.js';
import { ACL_XATTR_NAME, type Ace } from './acl.js';

/** ACE types that may be stored: ALLOW, DENY and AUDIT (which evaluation ignores). */
const ACE_TYPES: ReadonlySet<number> = new Set([ACE_ALLOW, ACE_DENY, 0x2]);
const SPECIAL_PRINCIPALS: ReadonlySet<string> = new Set(['OWNER@', 'GROUP@', 'EVERYONE@', 'ANONYMOUS@']);

/**
 * Check an ACL before it is stored and resolve its principals to ids. An identifier
 * may be a user or group id or name. A name becomes the id, and an identifier that is
 * no user but a group gets the `IDENTIFIER_GROUP` flag. Throws `badValue` (key
 * `cdmi_acl`) for an entry that is not an ACE, an unknown ACE type, or an identifier
 * that names no user or group, because such an entry would never match anyone.
 */
export async function resolveAclPrincipals(store: MetadataStore, clock: Clock, value: unknown): Promise<Ace[]> {
  if (!Array.isArray(value)) throw aclError(`${ACL_XATTR_NAME} must be a list of access control entries`);
  const users = new UserService(store, clock);
  const groups = new GroupService(store, clock);

  const resolved: Ace[] = [];
  for (const [index, entry] of value.entries()) {
    const ace = checkAce(entry, index);
    resolved.push(SPECIAL_PRINCIPALS.has(ace.identifier) ? ace : await resolvePrincipal(ace, index, users, groups));
  }
  return resolved;
}

function checkAce(entry: unknown, index: number): Ace {
  const fields = (typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : {}) as Record<string, unknown>;
  const { acetype, identifier, aceflags, acemask, name } = fields;
  if (typeof identifier !== 'string' || identifier === '' || !isBits(acetype) || !isBits(acemask) || (aceflags !== undefined && !isBits(aceflags))) {
    throw aclError(`${ACL_XATTR_NAME} entry ${index} must have a string identifier and integer acetype, aceflags and acemask`);
  }
  if (!ACE_TYPES.has(acetype)) {
    throw aclError(`${ACL_XATTR_NAME} entry ${index} has unknown acetype 0x${acetype.toString(16)}; use ALLOW (0x0), DENY (0x1) or AUDIT (0x2)`);
  }
  return { acetype, identifier, aceflags: aceflags ?? 0, acemask, ...(typeof name === 'string' ? { name } : {}) };
}

async function resolvePrincipal(ace: Ace, index: number, users: UserService, groups: GroupService): Promise<Ace> {
  const asGroup = (ace.aceflags & ACE_IDENTIFIER_GROUP) !== 0;
  const user = asGroup ? undefined : ((await users.find(ace.identifier)) ?? (await users.findByName(ace.identifier)));
  if (user !== undefined) return { ...ace, identifier: user.id, name: user.name };

  const group = await groups.resolve(ace.identifier).catch((error: unknown) => {
    if (OpError.is(error) && error.kind === 'notFound') return undefined;
    throw error;
  });
  if (group !== undefined) return { ...ace, identifier: group.id, name: group.name, aceflags: ace.aceflags | ACE_IDENTIFIER_GROUP };

  const kind = asGroup ? 'group' : 'user or group';
  throw aclError(`${ACL_XATTR_NAME} entry ${index} identifier "${ace.identifier}" names no ${kind}; use an existing ${kind} name or id, or OWNER@, GROUP@, EVERYONE@ or ANONYMOUS@`, {
    identifier: ace.identifier,
  });
}

function isBits(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff;
}

function aclError(message: string, details: Record<string, unknown> = {}): OpError {
  return OpError.badValue(ACL_XATTR_NAME, message, details);
}
