import { PassThrough, Readable } from 'node:stream';
import { StorageError, type ByteRange, type StorageStat } from '@op-worker/core';
import type { AzureClient } from './client.js';

/** Ranged reads and stat of block blobs. */
export class BlobReader {
  constructor(private readonly client: AzureClient) {}

  /**
   * Open the bytes `[offset, offset + length)` of a blob. A range past the end yields
   * the bytes up to the end, and an offset at or past the end yields an empty stream.
   * Errors of the returned stream are StorageErrors too.
   */
  async read(path: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    const blob = this.client.blob(path);

    if (range.length === 0) {
      await this.statBlob(path);
      return Readable.from([]);
    }

    try {
      const response = await blob.download(range.offset, range.length);
      return this.mapStreamErrors(response.readableStreamBody, path);
    } catch (error) {
      const mapped = this.client.error(error, path);
      if (mapped.kind === 'RangeNotSatisfiable') return Readable.from([]);
      throw mapped;
    }
  }

  /**
   * Stat a blob, or a prefix when no blob has that name (object stores have no real
   * directories, so a prefix with blobs below it stats as a directory). The root ''
   * stats as a directory when the container exists.
   */
  async stat(path: string): Promise<StorageStat> {
    if (path === '') {
      try {
        const properties = await this.client.container.getProperties();
        return { type: 'directory', size: 0, mtimeMs: properties.lastModified?.getTime() ?? 0, etag: properties.etag };
      } catch (error) {
        throw this.client.error(error, path);
      }
    }

    try {
      return await this.statBlob(path);
    } catch (error) {
      if (!StorageError.is(error) || error.kind !== 'NotFound' || !(await this.isPrefix(path))) throw error;
      return { type: 'directory', size: 0, mtimeMs: 0 };
    }
  }

  private async statBlob(path: string): Promise<StorageStat> {
    try {
      const properties = await this.client.blob(path).getProperties();
      return {
        type: 'file',
        size: properties.contentLength ?? 0,
        mtimeMs: properties.lastModified?.getTime() ?? 0,
        etag: properties.etag,
      };
    } catch (error) {
      throw this.client.error(error, path);
    }
  }

  /** Check whether at least one blob name starts with `path/`. */
  private async isPrefix(path: string): Promise<boolean> {
    try {
      const pages = this.client.container.listBlobsFlat({ prefix: `${path}/` }).byPage({ maxPageSize: 1 });
      const first = await pages.next();
      return !first.done && first.value.segment.blobItems.length > 0;
    } catch (error) {
      throw this.client.error(error, path);
    }
  }

  /** Pipe the SDK's body through a stream whose errors are StorageErrors. */
  private mapStreamErrors(body: NodeJS.ReadableStream | undefined, path: string): Readable {
    const output = new PassThrough();
    if (body === undefined) {
      output.end();
      return output;
    }

    const source = body as Readable;
    source.on('error', (error) => output.destroy(this.client.error(error, path)));
    output.on('close', () => {
      if (!source.readableEnded) source.destroy();
    });
    source.pipe(output);
    return output;
  }
}
