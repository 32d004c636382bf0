import type { Readable } from 'node:stream';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type {
  ByteRange,
  Capabilities,
  ListOptions,
  ListPage,
  StorageHelper,
  StorageStat,
  WriteOptions,
  WriteResult,
} from '@op-worker/core';
import type { Logger } from 'pino';
import type { S3Target } from './client.js';
import { toStorageError } from './errors.js';
import { listChildren } from './lister.js';
import { readObject, statPath } from './reader.js';
import { copyObject, truncateObject, writeAtOffset, writeWhole, type WriterSettings } from './writer.js';

/**
 * Storage helper over one S3 bucket. A storage path is used as the object key as it is;
 * directories exist only as key prefixes, so `mkdir` and `rmdir` do nothing. Every
 * method maps SDK and socket errors through `toStorageError`.
 */
export class S3StorageHelper implements StorageHelper {
  constructor(
    readonly capabilities: Capabilities,
    private readonly target: S3Target,
    private readonly writer: WriterSettings,
    private readonly logger: Logger,
  ) {}

  stat(path: string): Promise<StorageStat> {
    return this.run(path, () => statPath(this.target, path));
  }

  read(path: string, range?: ByteRange): Promise<Readable> {
    return this.run(path, () => readObject(this.target, path, range));
  }

  /** Whole writes go through a managed upload; offset writes rebuild the object from copied ranges. */
  write(path: string, data: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    return this.run(path, () =>
      options.offset === undefined
        ? writeWhole(this.target, path, data, options, this.writer)
        : writeAtOffset(this.target, path, data, options.offset, options, this.writer),
    );
  }

  truncate(path: string, size: number): Promise<void> {
    return this.run(path, () => truncateObject(this.target, path, size, this.writer));
  }

  /** Prefixes need no creation on S3. */
  async mkdir(): Promise<void> {}

  list(path: string, options?: ListOptions): Promise<ListPage> {
    return this.run(path, () => listChildren(this.target, path, options));
  }

  /** DeleteObject succeeds for a missing key, so a missing object is not an error. */
  delete(path: string): Promise<void> {
    return this.run(path, async () => {
      await this.target.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: path }));
    });
  }

  /** A prefix disappears with its last object, so there is nothing to remove. */
  async rmdir(): Promise<void> {}

  /** Copy, then delete the source. NOTE: not atomic; a failure between the steps leaves both objects. */
  rename(from: string, to: string): Promise<void> {
    return this.run(from, async () => {
      if (from === to) {
        await statPath(this.target, from);
        return;
      }
      await copyObject(this.target, from, to, this.writer);
      await this.target.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: from }));
    });
  }

  copy(from: string, to: string): Promise<void> {
    return this.run(from, () => copyObject(this.target, from, to, this.writer));
  }

  async close(): Promise<void> {
    this.target.client.destroy();
    this.logger.debug({ bucket: this.target.bucket }, 'S3 client closed');
  }

  private async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toStorageError(error, { ...this.target, key });
    }
  }
}
