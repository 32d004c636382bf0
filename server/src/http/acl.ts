import { aclFromXattr, type Ace, type JsonValue } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * Access control lists in the two shapes clients see, both converted from the stored
 * ACL (`Ace` entries in the `cdmi_acl` extended attribute) with NFSv4 bit values, as
 * Onedata uses them:
 * - CDMI (`metadata.cdmi_acl`): fields `acetype`, `identifier`, `aceflags`, `acemask`.
 *   Input fields may be names (`"ALLOW"`, `"READ_OBJECT, WRITE_OBJECT"`) or hex
 *   (`"0x3"`); output is `0x` followed by upper-case hex, identifiers `<name>#<id>`.
 * - REST (the `acl` file attribute): fields `aceType` (`ALLOW`, `DENY` or `AUDIT`),
 *   `identifier` (the bare id), `aceFlags` and `aceMask` as integers.
 * This module only converts: enforcing an ACL is the job of the file system's
 * permission checks.
 */

/** Name of the extended attribute that stores a file's ACL, in the stored form below. */
export const ACL_XATTR = 'cdmi_acl';

const ACE_TYPES: Record<string, number> = { ALLOW: 0x0, DENY: 0x1, AUDIT: 0x2 };

const ACE_TYPE_NAMES = new Map(Object.entries(ACE_TYPES).map(([name, value]) => [value, name]));

const ACE_FLAGS: Record<string, number> = {
  NO_FLAGS: 0x0,
  OBJECT_INHERIT: 0x1,
  CONTAINER_INHERIT: 0x2,
  NO_PROPAGATE: 0x4,
  INHERIT_ONLY: 0x8,
  IDENTIFIER_GROUP: 0x40,
  INHERITED: 0x80,
};

const MASK_BITS: Record<string, number> = {
  READ_OBJECT: 0x1,
  LIST_CONTAINER: 0x1,
  WRITE_OBJECT: 0x2,
  ADD_OBJECT: 0x2,
  APPEND_DATA: 0x4,
  ADD_SUBCONTAINER: 0x4,
  READ_METADATA: 0x8,
  WRITE_METADATA: 0x10,
  EXECUTE: 0x20,
  TRAVERSE_CONTAINER: 0x20,
  DELETE_OBJECT: 0x40,
  DELETE_SUBCONTAINER: 0x40,
  READ_ATTRIBUTES: 0x80,
  WRITE_ATTRIBUTES: 0x100,
  DELETE: 0x10000,
  READ_ACL: 0x20000,
  WRITE_ACL: 0x40000,
  WRITE_OWNER: 0x80000,
  SYNCHRONIZE: 0x100000,
};
const READ_ALL = 0x1 | 0x8 | 0x80 | 0x20000;
const WRITE_ALL = 0x2 | 0x4 | 0x10 | 0x40 | 0x100 | 0x40000;
const MASK_COMPOSITES: Record<string, number> = {
  READ_ALL,
  WRITE_ALL,
  RW_ALL: READ_ALL | WRITE_ALL,
  ALL_PERMS: READ_ALL | WRITE_ALL | 0x20 | 0x10000 | 0x80000 | 0x100000,
};

/** Principals that name no user: the owner, the space members, everyone, share visitors. */
const SPECIAL_PRINCIPALS = new Set(['OWNER@', 'GROUP@', 'EVERYONE@', 'ANONYMOUS@']);

/** An access control entry as stored in the `cdmi_acl` extended attribute. */
export type StoredAce = Ace;

/** An access control entry in the REST API's `acl` attribute. */
export interface RestAce {
  aceType: string;
  identifier: string;
  aceFlags: number;
  aceMask: number;
}

/**
 * Parse `metadata.cdmi_acl` from a request; throws 400 `badValue` (key `cdmi_acl`)
 * naming the bad entry. Identifiers stay as given (`<name>#<id>` is split), because the
 * file system resolves user and group names to ids when it stores the ACL. It rejects
 * identifiers that name no user or group.
 */
export function parseAcl(value: unknown): StoredAce[] {
  if (!Array.isArray(value)) throw aclError('cdmi_acl must be a list of access control entries');
  return value.map((entry, index) => parseAce(entry, index));
}

function parseAce(entry: unknown, index: number): StoredAce {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw aclError(`cdmi_acl entry ${index} must be an object with acetype, identifier, aceflags and acemask`);
  }
  const fields = entry as Record<string, unknown>;
  const identifier = fields['identifier'];
  if (typeof identifier !== 'string' || identifier === '') throw aclError(`cdmi_acl entry ${index} has no identifier`);

  const ace: StoredAce = {
    acetype: parseBits(fields['acetype'] ?? 'ALLOW', ACE_TYPES, `entry ${index} acetype`),
    identifier,
    aceflags: parseBits(fields['aceflags'] ?? 'NO_FLAGS', ACE_FLAGS, `entry ${index} aceflags`),
    acemask: parseBits(fields['acemask'], { ...MASK_BITS, ...MASK_COMPOSITES }, `entry ${index} acemask`),
  };
  if (!ACE_TYPE_NAMES.has(ace.acetype)) {
    throw aclError(`cdmi_acl entry ${index} acetype ${hex(ace.acetype)} is unknown; use ALLOW (0x0), DENY (0x1) or AUDIT (0x2)`);
  }
  const hash = identifier.lastIndexOf('#');
  if (hash >= 0 && !SPECIAL_PRINCIPALS.has(identifier)) {
    ace.name = identifier.slice(0, hash);
    ace.identifier = identifier.slice(hash + 1);
  }
  if (ace.identifier === '') throw aclError(`cdmi_acl entry ${index} identifier "${identifier}" has no id after "#"`);
  return ace;
}

/** Parse a hex number (`0x1F`), a decimal number, or a comma-separated list of names. */
function parseBits(value: unknown, names: Record<string, number>, what: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return within32Bits(value, what);
  if (typeof value !== 'string' || value.trim() === '') throw aclError(`cdmi_acl ${what} is missing or not a string`);

  const text = value.trim();
  if (/^0x[0-9a-f]+$/i.test(text)) return within32Bits(Number.parseInt(text.slice(2), 16), what);
  if (/^\d+$/.test(text)) return within32Bits(Number(text), what);

  let bits = 0;
  for (const part of text.split(',')) {
    const bit = names[part.trim().toUpperCase()];
    if (bit === undefined) throw aclError(`cdmi_acl ${what} has unknown name "${part.trim()}"; use one of ${Object.keys(names).join(', ')} or hex`);
    bits |= bit;
  }
  return bits;
}

/**
 * Reject an ACE field wider than 32 bits. Evaluation uses JavaScript bit operators, which
 * keep the low 32 bits, so a DENY of `0xFFFFFFFFFFFFFFFFFFFF` would deny nothing.
 */
function within32Bits(bits: number, what: string): number {
  if (bits > 0xffffffff) throw aclError(`cdmi_acl ${what} does not fit in 32 bits; use at most 0xFFFFFFFF`);
  return bits;
}

/** Read the stored ACL back from an xattr value: empty when there is none, `UNREADABLE_ACL` (deny all) when it cannot be read. */
export function storedAcl(value: JsonValue | undefined): StoredAce[] {
  return aclFromXattr(value) ?? [];
}

/** Format a stored ACL for the REST `acl` attribute; an entry type without a name is shown as its number in hex. */
export function toRestAcl(acl: readonly StoredAce[]): RestAce[] {
  return acl.map((ace) => ({
    aceType: ACE_TYPE_NAMES.get(ace.acetype) ?? hex(ace.acetype),
    identifier: ace.identifier,
    aceFlags: ace.aceflags,
    aceMask: ace.acemask,
  }));
}

/**
 * Format a stored ACL for a response: hex fields and identifiers `<name>#<id>`, where
 * `nameOf` returns the current name of a user id (undefined when unknown).
 */
export async function formatAcl(acl: readonly StoredAce[], nameOf: (userId: string) => Promise<string | undefined>): Promise<JsonValue[]> {
  const formatted: JsonValue[] = [];
  for (const ace of acl) {
    const special = SPECIAL_PRINCIPALS.has(ace.identifier);
    const name = special ? undefined : ((await nameOf(ace.identifier)) ?? ace.name ?? ace.identifier);
    formatted.push({
      acetype: hex(ace.acetype),
      identifier: name === undefined ? ace.identifier : `${name}#${ace.identifier}`,
      aceflags: hex(ace.aceflags),
      acemask: hex(ace.acemask),
    });
  }
  return formatted;
}

function hex(value: number): string {
  return `0x${value.toString(16).toUpperCase()}`;
}

function aclError(message: string): ApiError {
  return new ApiError(400, 'badValue', message, { key: 'cdmi_acl' });
}
