import { OpError, type FileAccess, type FileAttributes, type Identity, type JsonValue, type LogicalFileSystem } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { ACL_XATTR, formatAcl, parseAcl, storedAcl } from '../http/acl.js';
import { RESERVED_PREFIX, type CdmiServices } from './common.js';

/**
 * CDMI metadata of containers and data objects. System items (`cdmi_size`, the times
 * in ISO 8601, `cdmi_owner`, `cdmi_acl` when an ACL is set) come from attributes;
 * user items are the file's extended attributes whose names do not begin with
 * `cdmi_`, plus `onedata_json`, which is the file's JSON metadata document.
 */

/** User metadata item that stands for the JSON metadata document, as in Onedata. */
export const JSON_METADATA_ITEM = 'onedata_json';

/** Build the metadata object, keeping only items whose names begin with `prefix`. */
export async function metadataOf(
  services: CdmiServices,
  who: Identity,
  file: FileAttributes,
  xattrs: Record<string, JsonValue>,
  prefix = '',
): Promise<Record<string, JsonValue>> {
  const all: Record<string, JsonValue> = {
    cdmi_size: String(file.size),
    cdmi_ctime: isoTime(file.ctime),
    cdmi_atime: isoTime(file.atime),
    cdmi_mtime: isoTime(file.mtime),
    cdmi_owner: file.ownerUserId,
  };
  const acl = storedAcl(xattrs[ACL_XATTR]);
  if (acl.length > 0 && ACL_XATTR.startsWith(prefix)) all[ACL_XATTR] = await formatAcl(acl, (id) => services.userName(id));

  for (const [name, value] of Object.entries(xattrs)) {
    if (!name.startsWith(RESERVED_PREFIX)) all[name] = value;
  }
  if (JSON_METADATA_ITEM.startsWith(prefix)) {
    const json = await readJsonMetadata(services.lfs, who, file.fileId);
    if (json !== undefined) all[JSON_METADATA_ITEM] = json;
  }
  return Object.fromEntries(Object.entries(all).filter(([name]) => name.startsWith(prefix)));
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/**
 * Apply the `metadata` of a CDMI PUT. Without `names` (no `?metadata:` options) the
 * user metadata is replaced by `metadata`. With names, only those items change: an
 * item present in `metadata` is set, an absent one is deleted, and body items not
 * named are ignored. Other `cdmi_` items are dropped silently, as Onedata does, but
 * `cdmi_acl` sets (or with a name and no body item, removes) the ACL.
 */
export async function applyMetadata(
  lfs: LogicalFileSystem,
  who: Identity,
  fileId: string,
  metadata: Record<string, JsonValue>,
  names: readonly string[] | undefined,
): Promise<void> {
  const touched = names ?? [...currentUserItems(await lfs.getXattrs(who, fileId)), ...Object.keys(metadata), JSON_METADATA_ITEM];
  const set: Record<string, JsonValue> = {};
  const removed: string[] = [];

  for (const name of new Set(touched)) {
    if (name.startsWith(RESERVED_PREFIX) && name !== ACL_XATTR) continue;
    if (name === ACL_XATTR && names === undefined && !(name in metadata)) continue;

    const value = metadata[name];
    if (name === JSON_METADATA_ITEM) await applyJsonMetadata(lfs, who, fileId, value);
    else if (value === undefined) removed.push(name);
    else set[name] = name === ACL_XATTR ? (parseAcl(value) as unknown as JsonValue) : value;
  }

  if (removed.length > 0) await lfs.removeXattrs(who, fileId, removed);
  if (Object.keys(set).length > 0) await lfs.setXattrs(who, fileId, set);
}

/**
 * Return the file access that `applyMetadata` with the same arguments needs: write-ACL
 * for `cdmi_acl`, write-metadata for user items, and read-metadata too when the whole
 * user metadata is replaced (it reads what is there to remove it).
 */
export function metadataAccesses(metadata: Record<string, JsonValue>, names: readonly string[] | undefined): FileAccess[] {
  const touched = names ?? Object.keys(metadata);
  const accesses = new Set<FileAccess>(names === undefined ? ['read_metadata', 'write_metadata'] : []);
  for (const name of touched) {
    if (name === ACL_XATTR) accesses.add('write_acl');
    else if (!name.startsWith(RESERVED_PREFIX)) accesses.add('write_metadata');
  }
  return [...accesses];
}

/** Check the shape of a request's `metadata` before anything is stored. */
export function validateMetadata(metadata: unknown): Record<string, JsonValue> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ApiError(400, 'badValue', 'body field "metadata" must be an object of metadata items', { key: 'metadata' });
  }
  const items = metadata as Record<string, JsonValue>;
  if (items[ACL_XATTR] !== undefined) parseAcl(items[ACL_XATTR]);
  return items;
}

function currentUserItems(xattrs: Record<string, JsonValue>): string[] {
  return Object.keys(xattrs).filter((name) => !name.startsWith(RESERVED_PREFIX));
}

async function applyJsonMetadata(lfs: LogicalFileSystem, who: Identity, fileId: string, value: JsonValue | undefined): Promise<void> {
  if (value !== undefined) {
    await lfs.setJsonMetadata(who, fileId, value);
    return;
  }
  if ((await readJsonMetadata(lfs, who, fileId)) !== undefined) await lfs.removeJsonMetadata(who, fileId);
}

async function readJsonMetadata(lfs: LogicalFileSystem, who: Identity, fileId: string): Promise<JsonValue | undefined> {
  try {
    return await lfs.getJsonMetadata(who, fileId);
  } catch (error) {
    if (OpError.is(error) && error.kind === 'notFound') return undefined;
    throw error;
  }
}
