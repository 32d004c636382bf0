import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { ListEntry, ListOptions, ListPage, StorageStat } from '@op-worker/core';
import type { S3Target } from './client.js';

/** S3 returns at most 1,000 keys per ListObjectsV2 request. */
const MAX_KEYS_PER_REQUEST = 1000;

/** Stat reported for a prefix, which S3 stores as nothing but a shared key prefix. */
export const PREFIX_STAT: Readonly<StorageStat> = Object.freeze({ type: 'directory', size: 0, mtimeMs: 0 });

/** The key prefix that lists the children of a storage path ('' is the bucket root). */
export function childPrefix(storagePath: string): string {
  return storagePath === '' ? '' : `${storagePath}/`;
}

/**
 * List the direct children of `storagePath` with delimiter `/`: objects become files and
 * common prefixes become directories. `startAfter` is a child name, sent as `StartAfter`
 * with the prefix in front. A marker object whose key equals the prefix (`dir/`) is not
 * listed. Entries are sorted by the bytes of their names.
 */
export async function listChildren(target: S3Target, storagePath: string, options: ListOptions = {}): Promise<ListPage> {
  const prefix = childPrefix(storagePath);
  const limit = Math.max(1, Math.min(options.limit ?? MAX_KEYS_PER_REQUEST, MAX_KEYS_PER_REQUEST));
  const entries: ListEntry[] = [];
  let continuationToken: string | undefined;
  let truncated = true;

  // A directory named `startAfter` comes back as the common prefix `startAfter/`, which
  // sorts after `StartAfter`; it is dropped here. Dropping it may empty a page, so
  // requests continue until the page has entries or the listing ends.
  while (entries.length < limit && truncated) {
    const output = await requestPage(target, prefix, limit - entries.length, options.startAfter, continuationToken);
    entries.push(...pageEntries(output, prefix).filter((entry) => isAfter(entry.name, options.startAfter)));
    truncated = output.IsTruncated === true && output.NextContinuationToken !== undefined;
    continuationToken = output.NextContinuationToken;
  }

  entries.sort((left, right) => Buffer.compare(Buffer.from(left.name), Buffer.from(right.name)));
  // NOTE: S3 orders a directory by `name/`, so a file whose name extends a directory's
  // name with a byte below `/` (`a b` beside directory `a`) may arrive on an earlier page
  // than that directory. Every entry is still listed exactly once.
  return { entries, isLast: !truncated };
}

/** Whether any object key starts with `prefix`; such a prefix behaves as a directory. */
export async function hasKeysUnder(target: S3Target, prefix: string): Promise<boolean> {
  const output = await target.client.send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, MaxKeys: 1 }));
  return (output.KeyCount ?? output.Contents?.length ?? 0) > 0;
}

function requestPage(
  target: S3Target,
  prefix: string,
  maxKeys: number,
  startAfter: string | undefined,
  continuationToken: string | undefined,
): Promise<ListObjectsV2CommandOutput> {
  return target.client.send(
    new ListObjectsV2Command({
      Bucket: target.bucket,
      Prefix: prefix,
      Delimiter: '/',
      MaxKeys: maxKeys,
      ...(continuationToken !== undefined
        ? { ContinuationToken: continuationToken }
        : startAfter !== undefined
          ? { StartAfter: prefix + startAfter }
          : {}),
    }),
  );
}

function pageEntries(output: ListObjectsV2CommandOutput, prefix: string): ListEntry[] {
  const entries: ListEntry[] = [];

  for (const object of output.Contents ?? []) {
    if (object.Key === undefined || object.Key === prefix) continue;
    entries.push({
      name: object.Key.slice(prefix.length),
      stat: {
        type: 'file',
        size: object.Size ?? 0,
        mtimeMs: object.LastModified?.getTime() ?? 0,
        ...(object.ETag === undefined ? {} : { etag: object.ETag }),
      },
    });
  }

  for (const common of output.CommonPrefixes ?? []) {
    const name = common.Prefix?.slice(prefix.length, -1) ?? '';
    if (name === '') continue;
    entries.push({ name, stat: { ...PREFIX_STAT } });
  }

  return entries;
}

function isAfter(name: string, startAfter: string | undefined): boolean {
  return startAfter === undefined || Buffer.compare(Buffer.from(name), Buffer.from(startAfter)) > 0;
}
