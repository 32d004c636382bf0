import { XMLParser } from 'fast-xml-parser';
import { StorageError, type ListOptions, type ListPage, type StorageStat } from '@op-worker/core';
import { discard, isSlashRedirect, type WebdavClient } from './client.js';

/** Properties the helper requests. Servers send others only for `allprop`. */
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>' +
  '<D:propfind xmlns:D="DAV:"><D:prop>' +
  '<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/>' +
  '</D:prop></D:propfind>';

/** One `<response>` of a multistatus body: a decoded URL path and its properties. */
export interface DavEntry {
  /** URL path, percent-decoded, without a trailing slash. */
  path: string;
  /** Last segment of `path`. */
  name: string;
  stat: StorageStat;
}

// Namespace prefixes differ between servers (D:, d:, lp1:), so they are dropped. Values
// stay strings: a file named "10" must not become a number.
const parser = new XMLParser({
  removeNSPrefix: true,
  parseTagValue: false,
  ignoreAttributes: true,
  isArray: (name) => name === 'response' || name === 'propstat',
});

/**
 * PROPFIND one storage path. Returns undefined when it does not exist. Otherwise returns
 * its own entry and, for depth 1 on a collection, its children in the server's order.
 */
export async function propfind(
  client: WebdavClient,
  storagePath: string,
  depth: 0 | 1,
): Promise<{ self: DavEntry; children: DavEntry[] } | undefined> {
  const request = (collection: boolean) =>
    client.request('PROPFIND', storagePath, {
      collection,
      headers: { depth: String(depth), 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });

  let response = await request(depth === 1 && storagePath !== '');
  if (isSlashRedirect(response) && storagePath !== '') {
    // A collection addressed without its slash (Apache's mod_dir redirects): ask again.
    await discard(response);
    response = await request(true);
  }

  if (response.status === 404) {
    await discard(response);
    return undefined;
  }
  if (response.status !== 207) throw await client.statusError(response);

  const entries = parseMultistatus(await response.body.text(), client.origin);
  const requested = trimSlash(safeDecode(client.urlPath(storagePath)));
  const self = entries.find((entry) => entry.path === requested);
  if (self === undefined) {
    throw new StorageError('Unexpected', `PROPFIND ${client.urlPath(storagePath)} on ${client.server} returned no entry for the path itself`);
  }
  return { self, children: entries.filter((entry) => entry !== self) };
}

/** Stat one entry through a depth-0 PROPFIND. Throws NotFound when it does not exist. */
export async function statEntry(client: WebdavClient, storagePath: string): Promise<StorageStat> {
  const found = await propfind(client, storagePath, 0);
  if (found === undefined) {
    throw new StorageError('NotFound', `"${storagePath}" not found on WebDAV server ${client.server}`);
  }
  return found.self.stat;
}

/**
 * List a collection in byte order of the names, resuming after `startAfter`.
 *
 * NOTE: WebDAV (RFC 4918) has no paged listing, so every page reads the whole
 * collection with one depth-1 PROPFIND and cuts the page out of it.
 */
export async function listCollection(client: WebdavClient, storagePath: string, options: ListOptions = {}): Promise<ListPage> {
  const found = await propfind(client, storagePath, 1);
  if (found === undefined) return { entries: [], isLast: true };
  if (found.self.stat.type !== 'directory') {
    throw new StorageError('NotADirectory', `"${storagePath}" is a file, not a collection, on WebDAV server ${client.server}`);
  }

  const sorted = found.children
    .map((entry) => ({ name: entry.name, stat: entry.stat, key: Buffer.from(entry.name) }))
    .sort((a, b) => Buffer.compare(a.key, b.key));

  const startKey = options.startAfter === undefined ? undefined : Buffer.from(options.startAfter);
  const remaining = startKey === undefined ? sorted : sorted.filter((entry) => Buffer.compare(entry.key, startKey) > 0);
  const limit = options.limit ?? remaining.length;
  const page = remaining.slice(0, limit);

  return {
    entries: page.map(({ name, stat }) => ({ name, stat })),
    isLast: page.length === remaining.length,
  };
}

/** Parse a 207 multistatus body; `origin` resolves hrefs given as absolute URLs. */
export function parseMultistatus(xml: string, origin: string): DavEntry[] {
  const document = parser.parse(xml) as { multistatus?: { response?: RawResponse[] } };
  const responses = document.multistatus?.response ?? [];
  return responses.flatMap((response) => {
    const entry = toEntry(response, origin);
    return entry === undefined ? [] : [entry];
  });
}

interface RawResponse {
  href?: string;
  propstat?: Array<{ status?: string; prop?: RawProps }>;
}

interface RawProps {
  resourcetype?: { collection?: unknown } | string;
  getcontentlength?: string;
  getlastmodified?: string;
  getetag?: string;
}

function toEntry(response: RawResponse, origin: string): DavEntry | undefined {
  if (typeof response.href !== 'string') return undefined;

  const path = trimSlash(safeDecode(new URL(response.href, origin).pathname));
  const props = response.propstat?.find((propstat) => /\s200\s/.test(propstat.status ?? ''))?.prop ?? {};
  const isCollection = typeof props.resourcetype === 'object' && props.resourcetype !== null && 'collection' in props.resourcetype;
  const mtimeMs = props.getlastmodified === undefined ? Number.NaN : Date.parse(props.getlastmodified);

  return {
    path,
    name: path.slice(path.lastIndexOf('/') + 1),
    stat: {
      type: isCollection ? 'directory' : 'file',
      size: isCollection ? 0 : Number(props.getcontentlength ?? 0),
      mtimeMs: Number.isNaN(mtimeMs) ? 0 : mtimeMs,
      ...(props.getetag === undefined ? {} : { etag: props.getetag }),
    },
  };
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Percent-decode a URL path; a malformed escape is kept as sent rather than failing the listing. */
function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
