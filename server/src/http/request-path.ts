import { splitLogicalPath } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * Decode the still percent-encoded tail of a request path into validated segments.
 * Each segment is decoded on its own, so an encoded `/` (`%2F`) never creates a new
 * segment: it is rejected, as are `..`, NUL bytes and malformed escapes. The core's
 * `splitLogicalPath` then checks every name.
 */
export function decodePathSegments(rawPath: string): string[] {
  const decoded: string[] = [];
  for (const rawSegment of rawPath.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(rawSegment);
    } catch {
      throw ApiError.badData('path', `path segment "${rawSegment}" has a malformed percent escape`);
    }
    if (segment.includes('/')) {
      throw new ApiError(400, 'badValue', `path segment "${rawSegment}" contains an encoded slash`, { key: 'path' });
    }
    decoded.push(segment);
  }
  return splitLogicalPath(decoded.join('/'));
}

/**
 * Return the raw (undecoded) part of `ctx.path` after the first `marker` at or after
 * `from`. Routers decode parameters, which would turn `%2F` into a separator.
 */
export function rawPathAfter(requestPath: string, marker: string, from = 0): string {
  const index = requestPath.indexOf(marker, from);
  return index < 0 ? '' : requestPath.slice(index + marker.length);
}
