import { HeadObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { ListEntry, ListOptions, ListPage, StorageStat } from '@op-worker/core';
import type { S3Target } from './client.js';

/** S3 returns at most 1,000 keys per ListObjectsV2 request. */
const MAX_KEYS_PER_REQUEST = 1000;

/** Stat reported for a prefix, which S3 stores as nothing but a shared key prefix. */
export const PREFIX_STAT: Readonly<StorageStat> = Object.freeze({ type: 'directory', size: 0, mtimeMs: 0 });

/** Build the key prefix that lists the children of a storage path ('' is the bucket root). */
export function childPrefix(storagePath: string): string {
  return storagePath === '' ? '' : `${storagePath}/`;
}

/**
 * List the direct children of `storagePath` with delimiter `/`: objects become files and
 * common prefixes become directories. A marker object whose key equals the prefix
 * (`dir/`) is not listed. `startAfter` is a child name, sent as `StartAfter` with the
 * prefix in front, or with `/` appended when it names a directory.
 *
 * NOTE: entries come in S3 key order, where a directory sorts as `name/`. This differs
 * from byte order of names only where a file name extends a directory name with a byte
 * below `/` (file `a.txt` comes before directory `a`). Using key order keeps pages
 * consistent with `StartAfter`, so every entry is listed exactly once.
 */
export async function listChildren(target: S3Target, storagePath: string, options: ListOptions = {}): Promise<ListPage> {
  const prefix = childPrefix(storagePath);
  const limit = Math.max(1, Math.min(options.limit ?? MAX_KEYS_PER_REQUEST, MAX_KEYS_PER_REQUEST));
  const resume = options.startAfter === undefined ? undefined : await resumePoint(target, prefix, options.startAfter);
  const entries: ListEntry[] = [];
  let continuationToken: string | undefined;
  let truncated = true;

  // After a directory, StartAfter `name/` still returns the common prefix `name/`, so it
  // is dropped here. Dropping it may empty a page, so requests continue until the page
  // has entries or the listing ends.
  while (entries.length < limit && truncated) {
    const output = await requestPage(target, prefix, limit - entries.length, resume?.startAfterKey, continuationToken);
    entries.push(...pageEntries(output, prefix).filter((entry) => !isSkippedDirectory(entry, resume)));
    truncated = output.IsTruncated === true && output.NextContinuationToken !== undefined;
    continuationToken = output.NextContinuationToken;
  }

  entries.sort((left, right) => Buffer.compare(sortKey(left), sortKey(right)));
  return { entries, isLast: !truncated };
}

interface ResumePoint {
  startAfterKey: string;
  /** Name of the directory to leave out, when `startAfter` names one and no object. */
  skippedDirectory?: string;
}

/**
 * Find where a listing resumes after the child `name`: after the object `prefix + name`
 * if one exists, otherwise after every key below `prefix + name/`. One HeadObject and at
 * most one ListObjectsV2 per resumed page.
 */
async function resumePoint(target: S3Target, prefix: string, name: string): Promise<ResumePoint> {
  const key = prefix + name;
  const object = await target.client
    .send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }))
    .then(() => true)
    .catch((error: unknown) => {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    });

  if (!object && (await hasKeysUnder(target, `${key}/`))) {
    return { startAfterKey: `${key}/`, skippedDirectory: name };
  }
  return { startAfterKey: key };
}

function isSkippedDirectory(entry: ListEntry, resume: ResumePoint | undefined): boolean {
  return entry.stat.type === 'directory' && entry.name === resume?.skippedDirectory;
}

/** Order of an entry among S3 keys: a directory sorts as its common prefix `name/`. */
function sortKey(entry: ListEntry): Buffer {
  return Buffer.from(entry.stat.type === 'directory' ? `${entry.name}/` : entry.name);
}

/** Check whether any object key starts with `prefix`, which then behaves as a directory. */
export async function hasKeysUnder(target: S3Target, prefix: string): Promise<boolean> {
  const output = await target.client.send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, MaxKeys: 1 }));
  return (output.KeyCount ?? output.Contents?.length ?? 0) > 0;
}

function requestPage(
  target: S3Target,
  prefix: string,
  maxKeys: number,
  startAfterKey: string | undefined,
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
        : startAfterKey !== undefined
          ? { StartAfter: startAfterKey }
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
