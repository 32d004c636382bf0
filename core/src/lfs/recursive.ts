import { OpError } from '../errors.js';
import type { FileAttributes } from './types.js';

/** Options of a recursive listing; paths are relative to the listed directory. */
export interface ListRecursiveRequest {
  /** 1..1000, default 1000. */
  limit?: number;
  /** `nextPageToken` of a previous page. */
  token?: string;
  /** List only files whose relative path comes after this one. */
  startAfter?: string;
  /** List only files whose relative path starts with this string. */
  prefix?: string;
}

export interface ListRecursiveResult {
  /** Non-directory files in depth-first order by name; `path` is relative to the listed directory. */
  files: FileAttributes[];
  /** Relative paths of directories whose children could not be read. */
  inaccessiblePaths: string[];
  isLast: boolean;
  nextPageToken: string | null;
}

/** One directory level as the walk sees it: children in name order after a name. */
export type ChildLister = (dirId: string, startAfter: string | undefined, limit: number) => Promise<FileAttributes[]>;

/** One child by name, or undefined when the directory has none. */
export type ChildLookup = (dirId: string, name: string) => Promise<FileAttributes | undefined>;

const PAGE = 1000;

export function encodeWalkToken(path: string): string {
  return Buffer.from(JSON.stringify({ after: path }), 'utf8').toString('base64url');
}

export function decodeWalkToken(token: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof decoded.after === 'string') return decoded.after;
  } catch {
    // Reported below.
  }
  throw OpError.badValue('token', 'page token is invalid; pass the nextPageToken of the previous page unchanged');
}

/**
 * Walk a directory tree depth-first, children in name order, and collect up to `limit`
 * non-directory files after the relative path `after`. Subdirectories that may not be
 * listed or traversed are skipped and their relative paths returned in `inaccessiblePaths`. Each level is read with keyset
 * pagination, so resuming costs one listing per level of `after`, not a rescan.
 */
export async function walkFiles(
  list: ChildLister,
  lookup: ChildLookup,
  rootId: string,
  options: { after?: string; prefix?: string; limit: number },
): Promise<{ files: FileAttributes[]; isLast: boolean; inaccessiblePaths: string[] }> {
  const files: FileAttributes[] = [];
  const inaccessiblePaths: string[] = [];
  const afterSegments = options.after ? options.after.split('/') : [];
  const prefix = options.prefix ?? '';

  const visit = async (dirId: string, relative: string, after: string[]): Promise<boolean> => {
    let startAfter: string | undefined = after[0];
    if (after.length > 1) {
      // Resume inside the subdirectory named by the first segment, then continue after it.
      const inner = await lookup(dirId, after[0]!);
      if (inner && inner.type === 'DIR' && !(await visit(inner.fileId, join(relative, inner.name), after.slice(1)))) return false;
    }
    for (;;) {
      const page = await listOrSkip(list, dirId, startAfter, relative);
      if (page === undefined) {
        inaccessiblePaths.push(relative);
        return true;
      }
      for (const child of page) {
        const path = join(relative, child.name);
        if (child.type === 'DIR') {
          if (couldContain(path, prefix) && !(await visit(child.fileId, path, []))) return false;
        } else if (path.startsWith(prefix)) {
          if (files.length === options.limit) return false;
          files.push({ ...child, path });
        }
      }
      if (page.length < PAGE) return true;
      startAfter = page[page.length - 1]!.name;
    }
  };

  const complete = await visit(rootId, '', afterSegments);
  return { files, isLast: complete, inaccessiblePaths };
}

/**
 * List one page of a directory; undefined when `who` may not list or traverse a
 * directory below the walk's root. A denial on the root itself is thrown.
 */
async function listOrSkip(list: ChildLister, dirId: string, startAfter: string | undefined, relative: string): Promise<FileAttributes[] | undefined> {
  try {
    return await list(dirId, startAfter, PAGE);
  } catch (error) {
    if (relative !== '' && OpError.is(error) && error.kind === 'posix' && error.details['errno'] === 'eacces') return undefined;
    throw error;
  }
}

function join(relative: string, name: string): string {
  return relative === '' ? name : `${relative}/${name}`;
}

function couldContain(directory: string, prefix: string): boolean {
  return prefix === '' || prefix.startsWith(`${directory}/`) || directory.startsWith(prefix) || `${directory}/`.startsWith(prefix);
}
