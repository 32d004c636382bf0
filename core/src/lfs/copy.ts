import type { LogicalFileSystem } from './api.js';
import { OpError } from '../errors.js';
import { ACL_XATTR_NAME } from '../authz/acl.js';
import type { FileAttributes, Identity, JsonValue } from './types.js';

/** Children read per listing page while copying a directory. */
const LIST_PAGE_SIZE = 1000;

export interface CopyRequest {
  /** File or directory to copy. */
  sourceId: string;
  /** Directory that receives the copy. */
  targetParentId: string;
  /** Name of the copy in the target directory; it must not exist yet (posix eexist). */
  targetName: string;
}

/**
 * Copy a regular file or a whole directory tree through the logical file system.
 * Content is streamed from the source to the new file, one file at a time, and each
 * copy keeps the source's mode, extended attributes (including the internal `cdmi_`
 * ones) and JSON metadata. Copies get new file ids.
 *
 * Copying a directory into itself or below itself is posix `einval`. Symbolic links
 * cannot be created through the interface, so a tree containing one is posix `einval`
 * before anything is created below it. When a step fails, the partly made copy is
 * removed and the error is raised again; the source is never changed.
 */
export async function copyTree(lfs: LogicalFileSystem, who: Identity, request: CopyRequest): Promise<FileAttributes> {
  const source = await lfs.getAttributes(who, request.sourceId);
  if (source.type === 'DIR') await assertNotInside(lfs, who, source, request.targetParentId);

  const copy = await copyOne(lfs, who, source, request.targetParentId, request.targetName);
  try {
    if (source.type === 'DIR') await copyChildren(lfs, who, source.fileId, copy.fileId);
  } catch (error) {
    await lfs.remove(who, copy.fileId).catch(() => undefined);
    throw error;
  }
  return lfs.getAttributes(who, copy.fileId);
}

/** Create the copy of one file or an empty directory, with its content and metadata. */
async function copyOne(lfs: LogicalFileSystem, who: Identity, source: FileAttributes, parentId: string, name: string): Promise<FileAttributes> {
  if (source.type === 'SYMLNK') throw OpError.posix('einval', `"${source.path}" is a symbolic link, which cannot be copied`);

  let copy: FileAttributes;
  if (source.type === 'DIR') {
    copy = await lfs.create(who, parentId, name, { type: 'DIR', mode: source.mode });
  } else {
    const { stream, fileSize } = await lfs.read(who, source.fileId);
    copy = await lfs.create(who, parentId, name, { type: 'REG', mode: source.mode, content: stream, size: fileSize });
  }

  try {
    await copyMetadata(lfs, who, source.fileId, copy.fileId);
  } catch (error) {
    await lfs.remove(who, copy.fileId).catch(() => undefined);
    throw error;
  }
  return copy;
}

async function copyChildren(lfs: LogicalFileSystem, who: Identity, sourceDirId: string, targetDirId: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await lfs.listChildren(who, sourceDirId, { limit: LIST_PAGE_SIZE, token });
    for (const child of page.children) {
      const copy = await copyOne(lfs, who, child, targetDirId, child.name);
      if (child.type === 'DIR') await copyChildren(lfs, who, child.fileId, copy.fileId);
    }
    token = page.isLast ? undefined : (page.nextPageToken ?? undefined);
  } while (token !== undefined);
}

/** Copy extended attributes and the JSON metadata document, if any. */
async function copyMetadata(lfs: LogicalFileSystem, who: Identity, sourceId: string, targetId: string): Promise<void> {
  const xattrs = await lfs.getXattrs(who, sourceId);
  if (Object.keys(xattrs).length > 0) await setXattrsDroppingDeletedPrincipals(lfs, who, targetId, xattrs);

  const json = await readJsonMetadata(lfs, who, sourceId);
  if (json !== undefined) await lfs.setJsonMetadata(who, targetId, json);
}

/**
 * Set the copied extended attributes. An ACL entry naming a user or group deleted since
 * it was set matches no principal, and `setXattrs` rejects it with `badValue` naming the
 * identifier. Such entries are dropped, which leaves the copy's access as the source's.
 */
async function setXattrsDroppingDeletedPrincipals(lfs: LogicalFileSystem, who: Identity, targetId: string, xattrs: Record<string, JsonValue>): Promise<void> {
  let values = xattrs;
  for (;;) {
    try {
      await lfs.setXattrs(who, targetId, values);
      return;
    } catch (error) {
      const identifier = OpError.is(error) && error.kind === 'badValue' && error.details['key'] === ACL_XATTR_NAME ? error.details['identifier'] : undefined;
      const acl = values[ACL_XATTR_NAME];
      if (typeof identifier !== 'string' || !Array.isArray(acl)) throw error;

      const kept = acl.filter((entry) => (entry as { identifier?: unknown } | null)?.identifier !== identifier);
      if (kept.length === acl.length) throw error;
      values = { ...values, [ACL_XATTR_NAME]: kept };
    }
  }
}

async function readJsonMetadata(lfs: LogicalFileSystem, who: Identity, fileId: string): Promise<JsonValue | undefined> {
  try {
    return await lfs.getJsonMetadata(who, fileId);
  } catch (error) {
    if (OpError.is(error) && error.kind === 'notFound') return undefined;
    throw error;
  }
}

/** Reject a target directory that is the source directory or lies below it. */
async function assertNotInside(lfs: LogicalFileSystem, who: Identity, source: FileAttributes, targetParentId: string): Promise<void> {
  let current: string | null = targetParentId;
  while (current !== null) {
    if (current === source.fileId) {
      throw OpError.posix('einval', `cannot copy "${source.path}" into itself or one of its subdirectories`);
    }
    current = (await lfs.getAttributes(who, current)).parentFileId;
  }
}
