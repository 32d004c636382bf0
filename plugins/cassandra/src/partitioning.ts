/**
 * Placement of rows in partitions. Every function here decides where data lives on
 * disk, so changing one needs a schema migration that moves the rows.
 */
import { CHILD_BUCKETS, KEY_INDEX_BUCKETS } from './schema.js';

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`: stable across processes and versions of Node. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Bucket of the children index that contains `name`. */
export function childBucketOf(name: string): number {
  return fnv1a32(name) % CHILD_BUCKETS;
}

/** Bucket of the key index that contains `key`. */
export function keyIndexBucketOf(key: string): number {
  return fnv1a32(key) % KEY_INDEX_BUCKETS;
}

/**
 * A change seq is `timeMs * SEQ_TICKS_PER_MS + n`: the append time in milliseconds in the
 * high part and a counter in the low 11 bits. It stays below 2^53 (a safe JavaScript
 * integer) while `timeMs` is below 2^42, that is until the year 2109.
 */
export const SEQ_TICKS_PER_MS = 2048;

/** Milliseconds of seq time that one change-feed partition covers. */
export const CHANGE_BUCKET_MS = 60_000;

/** Feed partition (minute of seq time) that contains `seq`. */
export function changeBucketOf(seq: number): number {
  return Math.floor(seq / (SEQ_TICKS_PER_MS * CHANGE_BUCKET_MS));
}

/** Smallest seq that a writer may use at `timeMs`. */
export function seqFloorAt(timeMs: number): number {
  return Math.floor(timeMs) * SEQ_TICKS_PER_MS;
}

/** Byte order of UTF-8 encodings, the order in which Cassandra sorts `text` clustering columns. */
export function compareUtf8Bytes(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}
