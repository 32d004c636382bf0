import type { ChildEntry } from '@op-worker/core';

import { compareUtf8Bytes } from './partitioning.js';

/** One page of rows of one bucket, and the driver's page state for the next page. */
export interface BucketPage {
  entries: ChildEntry[];
  /** Undefined when the bucket has no more rows. */
  pageState: string | undefined;
}

/** Reads one page of a bucket, starting at `pageState` (undefined for the first page). */
export type BucketPageReader = (bucket: number, pageState: string | undefined) => Promise<BucketPage>;

interface BufferedEntry {
  entry: ChildEntry;
  nameBytes: Buffer;
}

/** The unread rows of one bucket: a buffer of the current page plus the page state of the next. */
class BucketStream {
  private buffer: BufferedEntry[] = [];
  private position = 0;
  private pageState: string | undefined;
  private started = false;

  constructor(
    private readonly bucket: number,
    private readonly readPage: BucketPageReader,
  ) {}

  /** True when the buffer is empty but the bucket may have more rows. */
  needsPage(): boolean {
    return this.position >= this.buffer.length && (!this.started || this.pageState !== undefined);
  }

  async loadPage(): Promise<void> {
    const page = await this.readPage(this.bucket, this.pageState);
    this.started = true;
    this.pageState = page.pageState;
    this.buffer = page.entries.map((entry) => ({ entry, nameBytes: Buffer.from(entry.name, 'utf8') }));
    this.position = 0;
  }

  head(): BufferedEntry | undefined {
    return this.buffer[this.position];
  }

  shift(): ChildEntry | undefined {
    const head = this.buffer[this.position];
    this.position += 1;
    return head?.entry;
  }
}

/**
 * Merges the name-ordered buckets of one parent into the first `limit` entries in UTF-8
 * byte order. Each bucket is read lazily, a page at a time, so a page of the listing
 * reads about `limit` rows plus at most one page per bucket, whatever its position in
 * the directory. Buckets whose buffer runs dry are refilled together, in parallel.
 */
export async function mergeBuckets(bucketCount: number, limit: number, readPage: BucketPageReader): Promise<ChildEntry[]> {
  const streams = Array.from({ length: bucketCount }, (_, bucket) => new BucketStream(bucket, readPage));
  const merged: ChildEntry[] = [];

  while (merged.length < limit) {
    // A loaded page may be empty while more pages follow, so check again after loading.
    const dry = streams.filter((stream) => stream.needsPage());
    if (dry.length > 0) {
      await Promise.all(dry.map((stream) => stream.loadPage()));
      continue;
    }

    const next = smallestHead(streams);
    if (next === undefined) {
      break;
    }
    const entry = next.shift();
    if (entry !== undefined) {
      merged.push(entry);
    }
  }
  return merged;
}

function smallestHead(streams: readonly BucketStream[]): BucketStream | undefined {
  let best: BucketStream | undefined;
  let bestBytes: Buffer | undefined;
  for (const stream of streams) {
    const head = stream.head();
    if (head === undefined) {
      continue;
    }
    if (bestBytes === undefined || compareUtf8Bytes(head.nameBytes, bestBytes) < 0) {
      best = stream;
      bestBytes = head.nameBytes;
    }
  }
  return best;
}
