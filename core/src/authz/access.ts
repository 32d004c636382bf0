/**
 * The kinds of access an operation on a file needs, with their NFSv4 ACL mask bits
 * (Onedata's `include/modules/fslogic/acl.hrl`) and the POSIX permission bits that
 * grant them when the file has no ACL.
 */
export type FileAccess =
  | 'read_object'
  | 'list_container'
  | 'write_object'
  | 'add_object'
  | 'add_subcontainer'
  | 'read_metadata'
  | 'write_metadata'
  | 'traverse'
  | 'delete_child'
  | 'read_attributes'
  | 'write_attributes'
  | 'delete'
  | 'read_acl'
  | 'write_acl';

export const ACE_ALLOW = 0x0;
export const ACE_DENY = 0x1;
/** ACE flag marking the identifier as a group id. */
export const ACE_IDENTIFIER_GROUP = 0x40;
/** ACE flag of entries that only pass to children and do not apply to the file itself. */
export const ACE_INHERIT_ONLY = 0x8;

/** ACL mask bit of each access. */
export const ACCESS_MASK: Record<FileAccess, number> = {
  read_object: 0x1,
  list_container: 0x1,
  write_object: 0x2,
  add_object: 0x2,
  add_subcontainer: 0x4,
  read_metadata: 0x8,
  write_metadata: 0x10,
  traverse: 0x20,
  delete_child: 0x40,
  read_attributes: 0x80,
  write_attributes: 0x100,
  delete: 0x10000,
  read_acl: 0x20000,
  write_acl: 0x40000,
};

/**
 * POSIX bits (r = 4, w = 2, x = 1 of one class) that grant each access, `0` for access
 * that POSIX does not restrict on the file itself, and `'owner'` for access only the
 * file owner has (changing the mode or the ACL). Adding or deleting a child needs write
 * and search permission on the directory, as in POSIX.
 */
export const ACCESS_POSIX_BITS: Record<FileAccess, number | 'owner'> = {
  read_object: 4,
  list_container: 4,
  read_metadata: 4,
  write_object: 2,
  write_metadata: 2,
  add_object: 3,
  add_subcontainer: 3,
  delete_child: 3,
  traverse: 1,
  read_attributes: 0,
  read_acl: 0,
  delete: 0,
  write_attributes: 'owner',
  write_acl: 'owner',
};

/** Access that changes something; a read-only token or a share visitor never gets it. */
export const WRITE_ACCESS: ReadonlySet<FileAccess> = new Set<FileAccess>([
  'write_object',
  'add_object',
  'add_subcontainer',
  'write_metadata',
  'delete_child',
  'write_attributes',
  'delete',
  'write_acl',
]);

/**
 * Access allowed on the ancestors of a path a token is restricted to: enough to find and
 * list the way down. Reading metadata is included because a CDMI container read returns
 * the container's metadata with its children.
 */
export const ANCESTOR_ACCESS: ReadonlySet<FileAccess> = new Set<FileAccess>(['list_container', 'traverse', 'read_attributes', 'read_metadata']);

export function isWriteAccess(access: FileAccess): boolean {
  return WRITE_ACCESS.has(access);
}
