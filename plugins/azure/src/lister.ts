import type { ListEntry, ListOptions, ListPage } from '@op-worker/core';
import type { AzureClient } from './client.js';

/** Entries a page holds when the caller gives no limit. */
const DEFAULT_PAGE_LIMIT = 1000;

/** Resume points remembered for sequential paging, least recently used dropped first. */
const MAX_CURSORS = 512;

/** One listed child with the key Azure sorts it by: its name, plus `/` for a prefix. */
interface KeyedEntry {
  key: string;
  entry: ListEntry;
}

/** Resume point of a listing: the token of the service page containing the last returned entry. */
interface Cursor {
  token: string | undefined;
  lastKey: string;
}

/**
 * Hierarchical listing (delimiter `/`) of one prefix with keyset paging.
 *
 * List Blobs continuation tokens are opaque, and its `startFrom` parameter (inclusive,
 * newer service versions) is not implemented by Azurite 3.35. So resuming after a name
 * pages from the first blob of the prefix and skips keys up to that name, which costs
 * one request per `listPageSize` (at most 5,000) entries before it. To keep sequential
 * paging cheap, the lister remembers, per prefix and last returned name, the token of
 * the service page holding that name, so the next page costs one request.
 *
 * NOTE: entries come in Azure's order, which sorts a prefix `a/` as `a` followed by
 * `/`. The file `a.txt` is listed before the directory `a`, although the contract requires
 * byte order of names (`a` < `a.txt`). The orders differ only where a sibling's
 * name continues a directory's name with a byte below `/` (space, `!` to `.`).
 */
export class BlobLister {
  private readonly cursors = new Map<string, Cursor>();

  /** `servicePageSize`: entries requested per List Blobs call, at most 5,000. */
  constructor(
    private readonly client: AzureClient,
    private readonly servicePageSize: number,
  ) {}

  async list(path: string, options: ListOptions = {}): Promise<ListPage> {
    const prefix = path === '' ? '' : `${path}/`;
    const limit = Math.max(1, options.limit ?? DEFAULT_PAGE_LIMIT);
    const resume = options.startAfter === undefined ? undefined : await this.resumePoint(prefix, options.startAfter);

    try {
      return await this.collect(prefix, limit, resume);
    } catch (error) {
      throw this.client.error(error, path);
    }
  }

  /** Gather up to `limit` entries after `resume`, then remember where the page ended. */
  private async collect(prefix: string, limit: number, resume: Cursor | undefined): Promise<ListPage> {
    const entries: KeyedEntry[] = [];
    let token = resume?.token;
    let lastEntryToken = token;
    let hasMore = true;

    while (entries.length < limit) {
      const fetchedWith = token;
      const page = await this.fetchPage(prefix, token);

      // Keys at or below the last one taken are skipped: they precede `startAfter`, or
      // repeat a prefix that the service returned again on the next page.
      const floor = entries[entries.length - 1]?.key ?? resume?.lastKey;
      const fresh = floor === undefined ? page.entries : page.entries.filter((item) => compareKeys(item.key, floor) > 0);
      const room = limit - entries.length;
      const taken = fresh.slice(0, room);
      entries.push(...taken);
      if (taken.length > 0) lastEntryToken = fetchedWith;
      if (fresh.length > room) break;

      token = page.token;
      if (token === undefined) {
        hasMore = false;
        break;
      }
    }

    const last = entries[entries.length - 1];
    if (last !== undefined && hasMore) this.remember(prefix, last, lastEntryToken);
    return { entries: entries.map((item) => item.entry), isLast: !hasMore };
  }

  /** Fetch one service page and sort its prefixes and blobs together by key. */
  private async fetchPage(prefix: string, token: string | undefined): Promise<{ entries: KeyedEntry[]; token: string | undefined }> {
    const pages = this.client.container
      .listBlobsByHierarchy('/', { prefix })
      .byPage({ continuationToken: token, maxPageSize: this.servicePageSize });
    const result = await pages.next();
    if (result.done) return { entries: [], token: undefined };

    const response = result.value;
    const entries: KeyedEntry[] = [];
    for (const blobPrefix of response.segment.blobPrefixes ?? []) {
      const name = blobPrefix.name.slice(prefix.length, -1);
      if (name !== '') entries.push({ key: `${name}/`, entry: { name, stat: { type: 'directory', size: 0, mtimeMs: 0 } } });
    }
    for (const blob of response.segment.blobItems) {
      const name = blob.name.slice(prefix.length);
      if (name === '') continue;
      const stat = {
        type: 'file' as const,
        size: blob.properties.contentLength ?? 0,
        mtimeMs: blob.properties.lastModified.getTime(),
        etag: blob.properties.etag,
      };
      entries.push({ key: name, entry: { name, stat } });
    }

    entries.sort((left, right) => compareKeys(left.key, right.key));
    return { entries, token: response.continuationToken || undefined };
  }

  private remember(prefix: string, last: KeyedEntry, pageToken: string | undefined): void {
    const id = cursorId(prefix, last.entry.name);
    this.cursors.delete(id);
    this.cursors.set(id, { token: pageToken, lastKey: last.key });
    if (this.cursors.size > MAX_CURSORS) this.cursors.delete(this.cursors.keys().next().value!);
  }

  /**
   * Find where to resume after `startAfter`: a remembered cursor, or the start of the
   * prefix with the key of that name. A name is a directory's (key `name/`) when blobs
   * exist below it, which costs one request.
   */
  private async resumePoint(prefix: string, startAfter: string): Promise<Cursor> {
    const remembered = this.cursors.get(cursorId(prefix, startAfter));
    if (remembered !== undefined) return remembered;

    try {
      const pages = this.client.container.listBlobsFlat({ prefix: `${prefix}${startAfter}/` }).byPage({ maxPageSize: 1 });
      const first = await pages.next();
      const isDirectory = !first.done && first.value.segment.blobItems.length > 0;
      return { token: undefined, lastKey: isDirectory ? `${startAfter}/` : startAfter };
    } catch (error) {
      throw this.client.error(error, prefix);
    }
  }
}

function cursorId(prefix: string, name: string): string {
  return `${prefix}\0${name}`;
}

/** Byte order of the UTF-8 encodings, the order the storage contract promises. */
function compareKeys(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left), Buffer.from(right));
}
