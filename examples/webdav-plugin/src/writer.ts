import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { StorageError, type WriteOptions, type WriteResult } from '@op-worker/core';
import { discard, type WebdavClient } from './client.js';
import type { RangeWriteSupport } from './config.js';
import { propfind } from './lister.js';

/** Bytes buffered for one ranged request of a write at an offset. */
const RANGE_CHUNK_BYTES = 8 * 1024 * 1024;

export interface WriterLimits {
  /** Largest object one write may create, in bytes; 0 means no limit. */
  maximumUploadSize: number;
  rangeWriteSupport: RangeWriteSupport;
}

/**
 * Replace a file with one streaming PUT. The body is sent with Content-Length when the
 * size is known and chunked otherwise. A stream that fails, or yields more or fewer
 * bytes than `size`, aborts the request before its body is complete, so a server that
 * stores a PUT body in a temporary file first (nginx, Apache mod_dav) keeps the previous
 * content.
 */
export async function writeWhole(client: WebdavClient, storagePath: string, data: Readable, options: WriteOptions, limits: WriterLimits): Promise<WriteResult> {
  const counter = new ByteCounter(storagePath, options.size, limits.maximumUploadSize);
  data.on('error', (error) => counter.destroy(error));
  data.pipe(counter);

  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (options.size !== undefined) headers['content-length'] = String(options.size);

  try {
    const response = await client.request('PUT', storagePath, { headers, body: counter });
    if (response.status < 200 || response.status > 299) throw await client.statusError(response);
    await discard(response);
  } catch (error) {
    // When the stream broke the request, report the stream's failure, not the aborted request.
    if (counter.failure) throw counter.failure;
    if (data.errored) {
      throw new StorageError('Unexpected', `write to "${storagePath}" stopped because its input stream failed: ${data.errored.message}`, { cause: data.errored });
    }
    throw error;
  }

  return { written: counter.bytes, size: counter.bytes };
}

/**
 * Write at an offset with ranged requests of at most 8 MiB each, in the dialect the
 * server speaks: `moddav` sends PUT with Content-Range (Apache mod_dav), `sabredav` sends
 * PATCH with X-Update-Range (SabreDAV, Nextcloud). A missing file is created empty first.
 *
 * NOTE: the tests run `moddav` against Apache httpd 2.4; `sabredav` follows SabreDAV's
 * documented PATCH form and has not run against a server here.
 */
export async function writeAtOffset(client: WebdavClient, storagePath: string, data: Readable, options: WriteOptions & { offset: number }, limits: WriterLimits): Promise<WriteResult> {
  const sizeBefore = await sizeOrCreate(client, storagePath);

  let position = options.offset;
  let written = 0;
  for await (const chunk of chunksOf(data, RANGE_CHUNK_BYTES)) {
    if (limits.maximumUploadSize > 0 && position + chunk.length > limits.maximumUploadSize) {
      throw tooLarge(storagePath, limits.maximumUploadSize);
    }
    await sendRange(client, storagePath, position, chunk, limits.rangeWriteSupport);
    position += chunk.length;
    written += chunk.length;
  }

  if (options.size !== undefined && written !== options.size) {
    throw new StorageError('ConditionNotMatch', `write at offset ${options.offset} of "${storagePath}" expected ${options.size} bytes but the stream had ${written}; the bytes sent are kept`);
  }
  return { written, size: Math.max(sizeBefore, written === 0 ? 0 : options.offset + written) };
}

async function sizeOrCreate(client: WebdavClient, storagePath: string): Promise<number> {
  const found = await propfind(client, storagePath, 0);
  if (found !== undefined) {
    if (found.self.stat.type === 'directory') {
      throw new StorageError('IsADirectory', `"${storagePath}" is a collection on WebDAV server ${client.server}, not a file`);
    }
    return found.self.stat.size;
  }

  const response = await client.request('PUT', storagePath, { headers: { 'if-none-match': '*', 'content-length': '0' }, body: '' });
  // 412: another writer created the file in the meantime, which is as good.
  if ((response.status < 200 || response.status > 299) && response.status !== 412) throw await client.statusError(response);
  await discard(response);
  return 0;
}

async function sendRange(client: WebdavClient, storagePath: string, offset: number, chunk: Buffer, dialect: RangeWriteSupport): Promise<void> {
  const last = offset + chunk.length - 1;
  const response =
    dialect === 'sabredav'
      ? await client.request('PATCH', storagePath, {
          headers: { 'content-type': 'application/x-sabredav-partialupdate', 'x-update-range': `bytes=${offset}-${last}` },
          body: chunk,
        })
      : await client.request('PUT', storagePath, { headers: { 'content-range': `bytes ${offset}-${last}/*` }, body: chunk });

  if (response.status < 200 || response.status > 299) throw await client.statusError(response);
  await discard(response);
}

/** Regroup a byte stream into buffers of `size` bytes (the last one may be shorter). */
async function* chunksOf(data: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of data as AsyncIterable<Buffer>) {
    pending.push(piece);
    pendingBytes += piece.length;
    while (pendingBytes >= size) {
      const joined = Buffer.concat(pending);
      yield joined.subarray(0, size);
      pending = [joined.subarray(size)];
      pendingBytes -= size;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

function tooLarge(storagePath: string, limit: number): StorageError {
  return new StorageError('Unsupported', `write to "${storagePath}" exceeds maximumUploadSize of ${limit} bytes`, {
    context: { capability: 'write_multi_max_size', limit },
  });
}

/**
 * Count the bytes going into a PUT and fail the body, before its end reaches the server,
 * when they exceed `size` or `maximumUploadSize`, or fall short of `size`.
 */
class ByteCounter extends Transform {
  bytes = 0;
  failure: StorageError | undefined;

  constructor(
    private readonly storagePath: string,
    private readonly size: number | undefined,
    private readonly maximumUploadSize: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) {
      callback(this.fail(new StorageError('ConditionNotMatch', `write to "${this.storagePath}" expected ${this.size} bytes but the stream has more`)));
      return;
    }
    if (this.maximumUploadSize > 0 && this.bytes > this.maximumUploadSize) {
      callback(this.fail(tooLarge(this.storagePath, this.maximumUploadSize)));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      callback(this.fail(new StorageError('ConditionNotMatch', `write to "${this.storagePath}" expected ${this.size} bytes but the stream had ${this.bytes}`)));
      return;
    }
    callback();
  }

  private fail(error: StorageError): StorageError {
    this.failure = error;
    return error;
  }
}
