import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { CopyObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StorageError, type StorageStat, type WriteOptions, type WriteResult } from '@op-worker/core';
import type { Logger } from 'pino';
import { MultipartAssembler, choosePartSize, type PartLimits } from './assembler.js';
import { copySourceOf, type S3Target } from './client.js';
import { headObject } from './reader.js';

/** Parts reserved in an offset write for the copied ranges before and after the new bytes. */
const COPY_PART_RESERVE = 8;

export interface WriterSettings {
  limits: PartLimits;
  /** Largest object an offset write or truncate may rewrite, in bytes; 0 means no limit. */
  maximumRewriteSize: number;
  logger: Logger;
}

/**
 * Replace an object with a stream through a managed upload: one PutObject when the
 * stream fits in one part, a multipart upload otherwise. A failed upload is aborted, so
 * the previous object stays as it was.
 */
export async function writeWhole(
  target: S3Target,
  key: string,
  data: Readable,
  options: WriteOptions,
  settings: WriterSettings,
): Promise<WriteResult> {
  const counter = new ByteCounter(key, options.size);
  pipeline(data, counter, () => {});

  const upload = new Upload({
    client: target.client,
    params: { Bucket: target.bucket, Key: key, Body: counter },
    partSize: choosePartSize(settings.limits, options.size),
    queueSize: settings.limits.concurrency,
    leavePartsOnError: false,
  });

  try {
    await upload.done();
  } catch (error) {
    counter.destroy();
    throw error;
  }
  return { written: counter.bytes, size: counter.bytes };
}

/**
 * Replace the bytes `[offset, offset + written)` of an object without reading it whole.
 * A new multipart upload copies the unchanged ranges before and after on the server,
 * uploads the new bytes as parts, and fills a gap past the old end with zeros. A
 * missing object is created. Every range read or copied is pinned to the old ETag, so
 * a concurrent replacement fails the write with ConditionNotMatch.
 */
export async function writeAtOffset(
  target: S3Target,
  key: string,
  data: Readable,
  offset: number,
  options: WriteOptions,
  settings: WriterSettings,
): Promise<WriteResult> {
  const old = await headObject(target, key);
  const oldSize = old?.size ?? 0;
  checkRewriteSize(key, Math.max(oldSize, offset + (options.size ?? 0)), settings);

  const partSize = choosePartSize(settings.limits, options.size, COPY_PART_RESERVE);
  const assembler = new MultipartAssembler(target, key, partSize, settings.limits, sourceOf(key, old));

  try {
    await assembler.addCopy(0, Math.min(offset, oldSize));
    await assembler.addZeros(offset - oldSize);
    const written = await appendStream(assembler, key, data, options.size);
    await assembler.addCopy(offset + written, oldSize);

    await assembler.complete();
    return { written, size: Math.max(oldSize, offset + written) };
  } catch (error) {
    data.destroy();
    await abortQuietly(assembler, key, settings.logger);
    throw error;
  }
}

/** Cut or zero-extend an object to `size` bytes, keeping the bytes before `size`. Throws NotFound. */
export async function truncateObject(target: S3Target, key: string, size: number, settings: WriterSettings): Promise<void> {
  const old = await headObject(target, key);
  if (old === undefined) {
    throw new StorageError('NotFound', `object "${key}" not found in bucket "${target.bucket}"`);
  }
  if (old.size === size) return;
  checkRewriteSize(key, Math.max(old.size, size), settings);

  const partSize = choosePartSize(settings.limits, Math.max(0, size - old.size), COPY_PART_RESERVE);
  const assembler = new MultipartAssembler(target, key, partSize, settings.limits, sourceOf(key, old));

  try {
    await assembler.addCopy(0, Math.min(size, old.size));
    await assembler.addZeros(size - old.size);
    await assembler.complete();
  } catch (error) {
    await abortQuietly(assembler, key, settings.logger);
    throw error;
  }
}

/**
 * Copy an object on the server, replacing the target: CopyObject up to
 * `maxCopyObjectSize`, a multipart upload of UploadPartCopy parts above it.
 */
export async function copyObject(target: S3Target, from: string, to: string, settings: WriterSettings): Promise<void> {
  const source = await headObject(target, from);
  if (source === undefined) {
    throw new StorageError('NotFound', `object "${from}" not found in bucket "${target.bucket}"`);
  }
  if (from === to) return;

  if (source.size <= settings.limits.maxCopyObjectSize) {
    await target.client.send(
      new CopyObjectCommand({
        Bucket: target.bucket,
        Key: to,
        CopySource: copySourceOf(target.bucket, from),
        ...(source.etag === undefined ? {} : { CopySourceIfMatch: source.etag }),
      }),
    );
    return;
  }

  const assembler = new MultipartAssembler(target, to, choosePartSize(settings.limits), settings.limits, sourceOf(from, source));
  try {
    await assembler.addCopy(0, source.size);
    await assembler.complete();
  } catch (error) {
    await abortQuietly(assembler, to, settings.logger);
    throw error;
  }
}

function sourceOf(key: string, stat: StorageStat | undefined): { key: string; etag?: string } | undefined {
  if (stat === undefined) return undefined;
  return stat.etag === undefined ? { key } : { key, etag: stat.etag };
}

function checkRewriteSize(key: string, size: number, settings: WriterSettings): void {
  const limit = settings.maximumRewriteSize;
  if (limit > 0 && size > limit) {
    throw new StorageError(
      'Unsupported',
      `rewriting object "${key}" of ${size} bytes exceeds maximumCanonicalObjectSize (${limit} bytes); raise the option or write the object whole`,
    );
  }
}

/** Feed a stream into the assembler; returns the byte count, checked against `size`. */
async function appendStream(assembler: MultipartAssembler, key: string, data: Readable, size: number | undefined): Promise<number> {
  let written = 0;
  for await (const chunk of data) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    written += bytes.length;
    if (size !== undefined && written > size) throw sizeMismatch(key, size, `more than ${size}`);
    await assembler.addBytes(bytes);
  }
  if (size !== undefined && written !== size) throw sizeMismatch(key, size, String(written));
  return written;
}

async function abortQuietly(assembler: MultipartAssembler, key: string, logger: Logger): Promise<void> {
  try {
    await assembler.abort();
  } catch (error) {
    // The upload stays invisible; a bucket lifecycle rule for incomplete uploads removes its parts.
    logger.warn({ err: error, key }, 'aborting the multipart upload failed');
  }
}

function sizeMismatch(key: string, expected: number, actual: string): StorageError {
  return new StorageError('ConditionNotMatch', `write to "${key}" expected ${expected} bytes but the stream yielded ${actual}`);
}

/** Counts the bytes passing through and fails the stream when they differ from `expected`. */
class ByteCounter extends Transform {
  bytes = 0;

  constructor(
    private readonly key: string,
    private readonly expected?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected) {
      callback(sizeMismatch(this.key, this.expected, `more than ${this.expected}`));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.bytes !== this.expected) {
      callback(sizeMismatch(this.key, this.expected, String(this.bytes)));
      return;
    }
    callback();
  }
}
