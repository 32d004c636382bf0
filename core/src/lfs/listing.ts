import { OpError } from '../errors.js';
import type { ChildEntry, MetadataStore } from '../metadata/store.js';
import type { ListChildrenRequest } from './types.js';

export const MAX_LIST_LIMIT = 1000;
const MAX_LIST_OFFSET = 500;

/** Where a page starts: at the beginning, after a name, or at the first name >= a name. */
type Cursor =
  | { kind: 'start' }
  | { kind: 'end' }
  | { kind: 'after'; name: string }
  | { kind: 'atOrAfter'; name: string };

export interface ChildrenPage {
  entries: ChildEntry[];
  isLast: boolean;
  nextPageToken: string | null;
}

/** Encode the name of the last entry of a page as an opaque page token. */
export function encodePageToken(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName }), 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (decoded && typeof decoded === 'object' && typeof (decoded as { after?: unknown }).after === 'string') {
      return (decoded as { after: string }).after;
    }
  } catch {
    // Reported below with the same message as a well-formed but wrong token.
  }
  throw OpError.badValue('token', 'page token is invalid; pass the nextPageToken of the previous page unchanged');
}

/**
 * Read one page of a directory's children with the REST API's options: `token`
 * resumes after the previous page; otherwise `index` starts at the first name >= it,
 * shifted by `offset` entries (negative offsets step back).
 */
export async function listChildrenPage(
  store: MetadataStore,
  parentUuid: string,
  request: ListChildrenRequest,
): Promise<ChildrenPage> {
  const limit = request.limit ?? MAX_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw OpError.badValue('limit', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${limit}`);
  }
  const offset = request.offset ?? 0;
  if (!Number.isInteger(offset) || Math.abs(offset) > MAX_LIST_OFFSET) {
    throw OpError.badValue('offset', `offset must be an integer from -${MAX_LIST_OFFSET} to ${MAX_LIST_OFFSET}, got ${offset}`);
  }

  let cursor: Cursor;
  if (request.token !== undefined && request.token !== null && request.token !== '') {
    cursor = { kind: 'after', name: decodePageToken(request.token) };
  } else {
    const start: Cursor = request.index === undefined ? { kind: 'start' } : { kind: 'atOrAfter', name: request.index };
    cursor = offset === 0 ? start : await shiftCursor(store, parentUuid, start, offset);
  }

  const fetched = await readFrom(store, parentUuid, cursor, limit + 1);
  const isLast = fetched.length <= limit;
  const entries = fetched.slice(0, limit);
  const last = entries[entries.length - 1];
  return { entries, isLast, nextPageToken: isLast || !last ? null : encodePageToken(last.name) };
}

async function readFrom(store: MetadataStore, parentUuid: string, cursor: Cursor, limit: number): Promise<ChildEntry[]> {
  if (cursor.kind === 'end') return [];
  if (cursor.kind === 'start') return store.listChildren(parentUuid, { limit });
  if (cursor.kind === 'after') return store.listChildren(parentUuid, { startAfter: cursor.name, limit });

  const exact = await store.getChild(parentUuid, cursor.name);
  const first: ChildEntry[] = exact === undefined ? [] : [{ name: cursor.name, childId: exact }];
  const rest = await store.listChildren(parentUuid, { startAfter: cursor.name, limit: limit - first.length });
  return [...first, ...rest];
}

async function shiftCursor(store: MetadataStore, parentUuid: string, start: Cursor, offset: number): Promise<Cursor> {
  if (offset > 0) {
    const skipped = await readFrom(store, parentUuid, start, offset);
    const last = skipped[skipped.length - 1];
    return skipped.length < offset || !last ? { kind: 'end' } : { kind: 'after', name: last.name };
  }

  // Stepping back: keyset pagination only goes forward, so read from the beginning up to
  // the start name and keep the last |offset| names. The offset is at most 500 entries.
  if (start.kind !== 'atOrAfter') return start;
  const window: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listChildren(parentUuid, { startAfter: after, limit: MAX_LIST_LIMIT });
    for (const entry of page) {
      if (Buffer.compare(Buffer.from(entry.name), Buffer.from(start.name)) >= 0) {
        return window.length === 0 ? start : { kind: 'atOrAfter', name: window[0]! };
      }
      window.push(entry.name);
      if (window.length > -offset) window.shift();
    }
    if (page.length < MAX_LIST_LIMIT) break;
    after = page[page.length - 1]!.name;
  }
  return window.length === 0 ? start : { kind: 'atOrAfter', name: window[0]! };
}
