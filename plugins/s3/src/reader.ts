import { PassThrough, Readable, pipeline } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { StorageError, type ByteRange, type StorageStat } from '@op-worker/core';
import type { S3Target } from './client.js';
import { toStorageError } from './errors.js';
import { PREFIX_STAT, childPrefix, hasKeysUnder } from './lister.js';

/**
 * Stat a storage path. An object is a file; a path with no object but with keys below
 * `path/` is a directory, as is the root ''. Throws NotFound otherwise.
 */
export async function statPath(target: S3Target, key: string): Promise<StorageStat> {
  if (key === '') return { ...PREFIX_STAT };

  const object = await headObject(target, key);
  if (object !== undefined) return object;

  if (await hasKeysUnder(target, childPrefix(key))) return { ...PREFIX_STAT };
  throw new StorageError('NotFound', `object "${key}" not found in bucket "${target.bucket}"`);
}

/** HeadObject as a file stat, or undefined when the key does not exist. */
export async function headObject(target: S3Target, key: string): Promise<StorageStat | undefined> {
  try {
    const output = await target.client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
    return {
      type: 'file',
      size: output.ContentLength ?? 0,
      mtimeMs: output.LastModified?.getTime() ?? 0,
      ...(output.ETag === undefined ? {} : { etag: output.ETag }),
    };
  } catch (error) {
    const mapped = toStorageError(error, { ...target, key });
    if (mapped.kind === 'NotFound' && !isBucketMissing(error)) return undefined;
    throw mapped;
  }
}

/**
 * Open a ranged GET. A range reaching past the end yields the bytes up to the end, and
 * one starting at or past the end yields no bytes. Errors of the returned stream are
 * StorageErrors too. Throws NotFound, or IsADirectory for a prefix with keys below it.
 */
export async function readObject(target: S3Target, key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
  if (range.length === 0) {
    await statFile(target, key);
    return Readable.from([]);
  }

  try {
    const output = await target.client.send(
      new GetObjectCommand({ Bucket: target.bucket, Key: key, ...rangeHeader(range) }),
    );
    return mapStreamErrors(output.Body as Readable, target, key);
  } catch (error) {
    const mapped = toStorageError(error, { ...target, key });
    if (mapped.kind === 'RangeNotSatisfiable') {
      // S3 rejects a range that starts at or after the end (and any range of an empty object).
      await statFile(target, key);
      return Readable.from([]);
    }
    if (mapped.kind === 'NotFound' && !isBucketMissing(error)) await statFile(target, key);
    throw mapped;
  }
}

/** Stat that also rejects directories: the checks a read needs before returning no bytes. */
async function statFile(target: S3Target, key: string): Promise<StorageStat> {
  const stat = await statPath(target, key);
  if (stat.type === 'directory') {
    throw new StorageError('IsADirectory', `"${key}" is a prefix with objects below it in bucket "${target.bucket}", not an object`);
  }
  return stat;
}

/** Build the `Range` header of a byte range, or none for a read of the whole object. */
export function rangeHeader(range: ByteRange): { Range?: string } {
  if (range.offset === 0 && range.length === undefined) return {};
  const last = range.length === undefined ? '' : String(range.offset + range.length - 1);
  return { Range: `bytes=${range.offset}-${last}` };
}

function mapStreamErrors(body: Readable, target: S3Target, key: string): Readable {
  const output = new PassThrough({ highWaterMark: 1024 * 1024 });
  pipeline(body, output, (error) => {
    if (error) output.destroy(toStorageError(error, { ...target, key }));
  });
  return output;
}

function isBucketMissing(error: unknown): boolean {
  return (error as { name?: string }).name === 'NoSuchBucket';
}
