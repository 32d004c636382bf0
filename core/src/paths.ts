import path from 'node:path';
import { OpError } from './errors.js';

/**
 * All path handling of untrusted input happens here, so that no request can name a
 * file outside a storage root. A logical path is `/`-separated with no empty, `.` or
 * `..` segment; a storage path is the same without a leading slash ('' is the root).
 */

const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/**
 * Check one file name: non-empty, at most 255 bytes, no `/`, no NUL, not `.` or `..`.
 * Throws `badValue` with key `name`.
 */
export function assertValidName(name: string): string {
  if (name.length === 0) throw OpError.badValue('name', 'file name must not be empty');
  if (name === '.' || name === '..') throw OpError.badValue('name', `file name "${name}" is not allowed`);
  if (name.includes('/')) throw OpError.badValue('name', `file name "${name}" must not contain "/"`);
  if (name.includes('\0')) throw OpError.badValue('name', 'file name must not contain a NUL byte');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw OpError.badValue('name', `file name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return name;
}

/**
 * Split a logical path into validated segments. Leading, trailing and repeated slashes
 * are ignored; `.` segments are dropped; `..`, NUL bytes and names left percent-encoded
 * after routing (`%2e%2e`, `%2f`, `%00`) are rejected rather than interpreted.
 */
export function splitLogicalPath(logicalPath: string): string[] {
  if (Buffer.byteLength(logicalPath) > MAX_PATH_BYTES) {
    throw OpError.badValue('path', `path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (/%(2e|2f|5c|00)/i.test(logicalPath)) {
    throw OpError.badValue('path', `path "${logicalPath}" contains an encoded dot, slash or NUL byte`);
  }

  const segments: string[] = [];
  for (const segment of logicalPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw OpError.badValue('path', `path "${logicalPath}" must not contain ".."`);
    segments.push(assertValidName(segment));
  }
  return segments;
}

/** Normalise a logical path to `/a/b` form (the root is `/`). */
export function normalizeLogicalPath(logicalPath: string): string {
  return '/' + splitLogicalPath(logicalPath).join('/');
}

/** Join validated segments into a storage path (no leading slash; '' is the root). */
export function toStoragePath(segments: readonly string[]): string {
  return segments.map(assertValidName).join('/');
}

/**
 * Resolve a storage path below `root` and prove that the result stays inside it.
 * Helpers call this once per operation instead of joining paths themselves.
 */
export function resolveInsideRoot(root: string, storagePath: string): string {
  const segments = storagePath === '' ? [] : splitLogicalPath(storagePath);
  const absoluteRoot = path.resolve(root);
  const resolved = path.resolve(absoluteRoot, ...segments);

  if (resolved !== absoluteRoot && !resolved.startsWith(absoluteRoot + path.sep)) {
    throw OpError.badValue('path', `path "${storagePath}" resolves outside the storage root`);
  }
  return resolved;
}

/** Parent storage path of a storage path ('' for top-level entries). */
export function storagePathParent(storagePath: string): string {
  const index = storagePath.lastIndexOf('/');
  return index < 0 ? '' : storagePath.slice(0, index);
}

/** Last segment of a storage or logical path. */
export function baseName(anyPath: string): string {
  const trimmed = anyPath.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
