import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { StorageError, type ByteRange } from '@op-worker/core';
import { discard, isSlashRedirect, type DavResponse, type WebdavClient } from './client.js';
import { toStorageError } from './errors.js';
import { statEntry } from './lister.js';

/**
 * Open a stream of the bytes `[offset, offset + length)` of a file with one GET. A range
 * starting at or past the end yields no bytes, as a POSIX read does.
 */
export async function readFile(client: WebdavClient, storagePath: string, range?: ByteRange): Promise<Readable> {
  const offset = range?.offset ?? 0;
  const length = range?.length;

  if (length === 0) {
    // An HTTP range cannot be empty, so only check that a file is there.
    if ((await statEntry(client, storagePath)).type === 'directory') throw isADirectory(client, storagePath);
    return Readable.from([]);
  }

  const ranged = offset > 0 || length !== undefined;
  const last = length === undefined ? '' : String(offset + length - 1);
  const response = await client.request('GET', storagePath, { headers: ranged ? { range: `bytes=${offset}-${last}` } : {} });

  switch (response.status) {
    case 200:
      // A server may ignore Range and send the whole file; cut the range out here.
      return bodyStream(response, ranged ? { skip: offset, take: length } : undefined);
    case 206:
      return bodyStream(response);
    case 416:
      await discard(response);
      return Readable.from([]);
    default:
      if (isSlashRedirect(response)) {
        await discard(response);
        throw isADirectory(client, storagePath);
      }
      throw await client.statusError(response);
  }
}

function isADirectory(client: WebdavClient, storagePath: string): StorageError {
  return new StorageError('IsADirectory', `"${storagePath}" is a collection on WebDAV server ${client.server}, not a file`);
}

/**
 * Hand out a response body as a plain stream whose errors are StorageErrors, cutting
 * `window` out of it when given. Destroying the returned stream closes the response.
 */
function bodyStream(response: DavResponse, window?: { skip: number; take?: number }): Readable {
  const output = window === undefined ? new PassThrough() : new RangeWindow(window.skip, window.take);

  response.body.on('error', (error) => output.destroy(toStorageError(error, response.request)));
  output.on('close', () => response.body.destroy());
  response.body.pipe(output);
  return output;
}

/** Pass through only the bytes `[skip, skip + take)` of the input. */
class RangeWindow extends Transform {
  private position = 0;

  constructor(
    private readonly skip: number,
    private readonly limit: number | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const start = Math.max(0, this.skip - this.position);
    const end = this.limit === undefined ? chunk.length : Math.min(chunk.length, this.skip + this.limit - this.position);
    this.position += chunk.length;
    callback(null, start < end ? chunk.subarray(start, end) : undefined);
  }
}
