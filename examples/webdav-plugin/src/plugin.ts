import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  NO_CAPABILITIES,
  StorageError,
  storagePathParent,
  type ByteRange,
  type Capabilities,
  type ListOptions,
  type ListPage,
  type StorageConfig,
  type StorageHelper,
  type StorageHelperContext,
  type StorageStat,
  type WriteOptions,
  type WriteResult,
} from '@op-worker/core';
import { discard, isSlashRedirect, WebdavClient } from './client.js';
import { parseWebdavSettings, type WebdavSettings } from './config.js';
import { listCollection, propfind, statEntry } from './lister.js';
import { readFile } from './reader.js';
import { writeAtOffset, writeWhole } from './writer.js';

/** Collections remembered as existing, so that writes skip their MKCOL; bounded to this many. */
const KNOWN_COLLECTIONS_LIMIT = 10_000;

/**
 * Capabilities of a WebDAV helper with these settings. WebDAV has no truncate, no
 * permission bits and no byte-addressed writes of its own, so writes at an offset need
 * the server extension that `rangeWriteSupport` names.
 */
export function webdavCapabilities(settings: Pick<WebdavSettings, 'rangeWriteSupport' | 'maximumUploadSize'>): Capabilities {
  return {
    ...NO_CAPABILITIES,
    stat: true,
    list: true,
    list_with_start_after: true,
    read: true,
    read_with_range: true,
    write: true,
    write_at_offset: settings.rangeWriteSupport !== 'none',
    write_multi_max_size: settings.maximumUploadSize,
    delete: true,
    mkdir: true,
    directories: true,
    rename: true,
    copy: true,
  };
}

/** Create a helper from a configuration already checked against `webdavConfigSchema`. */
export async function createWebdavHelper(config: StorageConfig, context: StorageHelperContext): Promise<WebdavHelper> {
  const settings = parseWebdavSettings(config);
  const helper = new WebdavHelper(settings, context.logger.child({ storageId: context.storageId, endpoint: settings.endpoint.href }));
  context.logger.info({ endpoint: settings.endpoint.href, credentialsType: settings.credentialsType }, 'WebDAV helper created');
  return helper;
}

/**
 * A storage helper over WebDAV (RFC 4918). Storage paths are canonical: each path segment
 * is one URL segment below the endpoint, percent-encoded.
 */
export class WebdavHelper implements StorageHelper {
  readonly capabilities: Capabilities;
  private readonly client: WebdavClient;
  private readonly knownCollections = new Set<string>();

  constructor(
    private readonly settings: WebdavSettings,
    private readonly logger: Logger,
  ) {
    this.capabilities = webdavCapabilities(settings);
    this.client = new WebdavClient(settings);
  }

  stat(path: string): Promise<StorageStat> {
    return statEntry(this.client, path);
  }

  read(path: string, range?: ByteRange): Promise<Readable> {
    return readFile(this.client, path, range);
  }

  async write(path: string, data: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    await this.ensureCollection(storagePathParent(path));

    const limits = { maximumUploadSize: this.settings.maximumUploadSize, rangeWriteSupport: this.settings.rangeWriteSupport };
    if (options.offset !== undefined) return writeAtOffset(this.client, path, data, { ...options, offset: options.offset }, limits);
    return writeWhole(this.client, path, data, options, limits);
  }

  truncate(path: string): Promise<void> {
    // The dispatcher never calls this, because the capability is false.
    return Promise.reject(new StorageError('Unsupported', `WebDAV cannot truncate "${path}"`, { context: { capability: 'truncate' } }));
  }

  async mkdir(path: string): Promise<void> {
    await this.ensureCollection(path);
  }

  list(path: string, options?: ListOptions): Promise<ListPage> {
    return listCollection(this.client, path, options);
  }

  /**
   * DELETE the file's URL. A missing file is not an error. A collection is IsADirectory
   * when the server redirects its URL to the slash form, as Apache does.
   *
   * NOTE: servers that delete a collection addressed without its slash delete its whole
   * tree here; the core calls delete only for files.
   */
  async delete(path: string): Promise<void> {
    const response = await this.client.request('DELETE', path);
    if (response.status === 404) return discard(response);
    if (isSlashRedirect(response)) {
      await discard(response);
      throw new StorageError('IsADirectory', `"${path}" is a collection on WebDAV server ${this.client.server}; use rmdir`);
    }
    if (response.status < 200 || response.status > 299) throw await this.client.statusError(response);
    await discard(response);
  }

  /**
   * Remove an empty collection. WebDAV deletes collections with everything in them, so
   * emptiness is checked by a PROPFIND first.
   *
   * NOTE: a child created between the check and the DELETE is deleted with the collection.
   */
  async rmdir(path: string): Promise<void> {
    const found = await propfind(this.client, path, 1);
    if (found === undefined) return;
    if (found.self.stat.type !== 'directory') {
      throw new StorageError('NotADirectory', `"${path}" is a file on WebDAV server ${this.client.server}, not a collection`);
    }
    if (found.children.length > 0) {
      throw new StorageError('NotEmpty', `collection "${path}" on WebDAV server ${this.client.server} has ${found.children.length} entries`);
    }

    this.forgetCollections(path);
    const response = await this.client.request('DELETE', path, { collection: true, headers: { depth: 'infinity' } });
    if (response.status === 404) return discard(response);
    if (response.status < 200 || response.status > 299) throw await this.client.statusError(response);
    await discard(response);
  }

  rename(from: string, to: string): Promise<void> {
    return this.transfer('MOVE', from, to);
  }

  copy(from: string, to: string): Promise<void> {
    return this.transfer('COPY', from, to);
  }

  async close(): Promise<void> {
    this.knownCollections.clear();
    await this.client.close();
    this.logger.debug('WebDAV helper closed');
  }

  /** COPY or MOVE a file onto `to`, replacing a file there. */
  private async transfer(method: 'COPY' | 'MOVE', from: string, to: string): Promise<void> {
    await this.ensureCollection(storagePathParent(to));

    const response = await this.client.request(method, from, {
      headers: { destination: this.client.absoluteUrl(to), overwrite: 'T', depth: method === 'COPY' ? '0' : 'infinity' },
    });
    if (response.status < 200 || response.status > 299) throw await this.client.statusError(response);
    await discard(response);
  }

  /**
   * Create a collection and its missing parents with MKCOL. An existing collection is not
   * an error; an existing file is AlreadyExists.
   */
  private async ensureCollection(path: string): Promise<void> {
    if (path === '' || this.knownCollections.has(path)) return;

    let response = await this.client.request('MKCOL', path, { collection: true });
    if (response.status === 409) {
      // RFC 4918: MKCOL fails with 409 when a parent is missing.
      await discard(response);
      await this.ensureCollection(storagePathParent(path));
      response = await this.client.request('MKCOL', path, { collection: true });
    }

    if (response.status === 405 || response.status === 400 || response.status === 403) {
      // Something exists at the path: RFC 4918 servers return 405, Apache 400 for a file,
      // and Apache 403 when a concurrent MKCOL made the collection between its check and
      // its mkdir. A 403 with nothing at the path is a real denial and is thrown below.
      const failure = await this.client.statusError(response);
      const existing = await statEntry(this.client, path).catch(() => undefined);
      if (existing === undefined) throw failure;
      if (existing.type !== 'directory') {
        throw new StorageError('AlreadyExists', `"${path}" is a file on WebDAV server ${this.client.server}, so it cannot be a collection`);
      }
    } else if (response.status < 200 || response.status > 299) {
      throw await this.client.statusError(response);
    } else {
      await discard(response);
    }

    this.rememberCollection(path);
  }

  private rememberCollection(path: string): void {
    if (this.knownCollections.size >= KNOWN_COLLECTIONS_LIMIT) this.knownCollections.clear();
    this.knownCollections.add(path);
  }

  private forgetCollections(path: string): void {
    for (const known of this.knownCollections) {
      if (known === path || known.startsWith(`${path}/`)) this.knownCollections.delete(known);
    }
  }
}
