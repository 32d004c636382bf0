import type { Readable } from 'node:stream';
import {
  NO_CAPABILITIES,
  StorageError,
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
import type { Logger } from 'pino';
import { AzureClient } from './client.js';
import { DEFAULT_BLOCK_SIZE, MAX_BLOCKS_PER_BLOB, parseAzureSettings, type AzureSettings } from './config.js';
import { BlobLister } from './lister.js';
import { BlobReader } from './reader.js';
import { BlobWriter } from './writer.js';

/**
 * Capabilities of an Azure helper. Containers are flat (no directories), metadata keys
 * must be C# identifiers so arbitrary xattr names do not fit (`xattrs` is false), and
 * a committed block list is durable when Put Block List returns.
 */
export function azureCapabilities(config: StorageConfig): Capabilities {
  const blockSize = typeof config['blockSize'] === 'number' ? config['blockSize'] : DEFAULT_BLOCK_SIZE;
  return {
    ...NO_CAPABILITIES,
    stat: true,
    list: true,
    list_with_start_after: true,
    read: true,
    read_with_range: true,
    write: true,
    write_at_offset: true,
    // An offset write stages only the blocks at the edges of the written range and commits a
    // block list that reuses the other committed blocks, so no object data is copied.
    write_at_offset_rewrites_object: false,
    write_multi_max_size: MAX_BLOCKS_PER_BLOB * blockSize,
    truncate: true,
    delete: true,
    mkdir: true,
    directories: false,
    rename: true,
    copy: true,
    durable_write: true,
  };
}

/** Storage helper over the block blobs of one Azure container; the storage path is the blob name. */
export class AzureStorageHelper implements StorageHelper {
  readonly capabilities: Capabilities;
  private readonly reader: BlobReader;
  private readonly writer: BlobWriter;
  private readonly lister: BlobLister;

  constructor(
    private readonly client: AzureClient,
    settings: AzureSettings,
    capabilities: Capabilities,
    logger: Logger,
  ) {
    this.capabilities = capabilities;
    this.reader = new BlobReader(client);
    this.writer = new BlobWriter(client, settings, logger);
    this.lister = new BlobLister(client, settings.listPageSize);
  }

  async stat(path: string): Promise<StorageStat> {
    return this.reader.stat(path);
  }

  async read(path: string, range?: ByteRange): Promise<Readable> {
    return this.reader.read(blobPath(path, 'read'), range);
  }

  async write(path: string, data: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const name = blobPath(path, 'write');
    if (options.offset === undefined) return this.writer.writeWhole(name, data, options);
    return this.writer.writeAt(name, data, options.offset, options);
  }

  async truncate(path: string, size: number): Promise<void> {
    return this.writer.truncate(blobPath(path, 'truncate'), size);
  }

  /** Succeeds without a request: prefixes exist as soon as a blob below them does. */
  async mkdir(): Promise<void> {}

  async list(path: string, options?: ListOptions): Promise<ListPage> {
    return this.lister.list(path, options);
  }

  /** Deletes the blob; a missing blob is not an error. */
  async delete(path: string): Promise<void> {
    const name = blobPath(path, 'delete');
    try {
      await this.client.blob(name).deleteIfExists();
    } catch (error) {
      throw this.client.error(error, name);
    }
  }

  /** Succeeds without a request: a prefix disappears with its last blob. */
  async rmdir(): Promise<void> {}

  /**
   * Copies to `to`, then deletes `from`.
   * NOTE: not atomic; a failure between the two steps leaves both blobs.
   */
  async rename(from: string, to: string): Promise<void> {
    if (from === to) {
      await this.reader.stat(blobPath(from, 'rename'));
      return;
    }
    await this.copy(from, to);
    await this.delete(from);
  }

  /** Server-side copy within the account (Copy Blob), waiting until it completes. */
  async copy(from: string, to: string): Promise<void> {
    const source = this.client.blob(blobPath(from, 'copy'));
    try {
      const poller = await this.client.blob(blobPath(to, 'copy')).beginCopyFromURL(source.url, { intervalInMs: 500 });
      await poller.pollUntilDone();
    } catch (error) {
      throw this.client.error(error, from);
    }
  }

  /** Nothing to release: the SDK's HTTP agent closes idle sockets by itself. */
  async close(): Promise<void> {}
}

/** Return the blob name of `path`, rejecting the root '' because it is the container, not a blob. */
function blobPath(path: string, operation: string): string {
  if (path === '') throw new StorageError('IsADirectory', `cannot ${operation} the storage root: it is the container, not a blob`);
  return path;
}

/** Build a helper from a configuration already checked against `azureConfigSchema`. */
export async function createAzureHelper(config: StorageConfig, context: StorageHelperContext): Promise<AzureStorageHelper> {
  const settings = parseAzureSettings(config);
  const client = new AzureClient(settings);
  context.logger.info(
    { storageId: context.storageId, endpoint: client.endpoint, container: settings.containerName, credential: settings.credential.form },
    'created Azure Blob storage helper',
  );
  return new AzureStorageHelper(client, settings, azureCapabilities(config), context.logger);
}
