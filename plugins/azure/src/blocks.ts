import { randomBytes } from 'node:crypto';
import { StorageError } from '@op-worker/core';
import { MAX_BLOCKS_PER_BLOB } from './config.js';

/**
 * Block ids this plugin stages: base64 of `opw1-<16 hex of the write>-<8-digit index>`.
 * Azure requires every block id of one blob to have the same length, so a committed
 * block can be reused in a new block list only when its id has this length too.
 */
const BLOCK_ID_LENGTH = Buffer.from(`opw1-${'0'.repeat(16)}-${'0'.repeat(8)}`).toString('base64').length;

/** Produce fresh block ids for one write. */
export function blockIdGenerator(): () => string {
  const writeId = randomBytes(8).toString('hex');
  let index = 0;
  return () => {
    const raw = `opw1-${writeId}-${String(index).padStart(8, '0')}`;
    index += 1;
    return Buffer.from(raw).toString('base64');
  };
}

/** One committed block and the byte range `[start, start + size)` it covers. */
export interface PlacedBlock {
  id: string;
  start: number;
  size: number;
}

/** The committed state of a blob as read before an offset write or a truncate. */
export interface BlobLayout {
  exists: boolean;
  size: number;
  blocks: PlacedBlock[];
  /**
   * False when the committed blocks cannot be reused: the blob was uploaded whole
   * (no committed blocks) or by a tool whose block ids have another length. Such a
   * blob is restaged from ranged reads in the next rewrite.
   */
  reusable: boolean;
  etag?: string;
}

/** Place committed blocks (in blob order, sizes in bytes) on the blob's byte range. */
export function placeBlocks(blocks: ReadonlyArray<{ name: string; size: number }>, size: number): BlobLayout {
  const placed: PlacedBlock[] = [];
  let start = 0;
  for (const block of blocks) {
    placed.push({ id: block.name, start, size: block.size });
    start += block.size;
  }

  const sameIdLength = placed.every((block) => block.id.length === BLOCK_ID_LENGTH);
  const reusable = start === size && sameIdLength && (placed.length > 0 || size === 0);
  return { exists: true, size, blocks: placed, reusable };
}

/** Start of a rewrite: the committed blocks kept before it and its first byte. */
export interface RewriteHead {
  keep: string[];
  spanStart: number;
}

/** End of a rewrite: the first old byte kept after it and the committed blocks kept from there. */
export interface RewriteTail {
  spanEnd: number;
  keep: string[];
}

/**
 * Plan the start of a rewrite from `offset`. The rewritten span begins at the start of
 * the block holding `offset`, so that block is restaged whole from its old leading
 * bytes plus the new data. An append (offset at or past the end) also takes a last
 * block shorter than `blockSize` into the span, so that appending writes merge into
 * full blocks instead of adding one short block each (a blob has at most 50,000).
 */
export function planRewriteHead(layout: BlobLayout, offset: number, blockSize: number): RewriteHead {
  if (!layout.reusable) return { keep: [], spanStart: 0 };

  const blocks = layout.blocks;
  let firstRewritten = blocks.findIndex((block) => block.start + block.size > offset);
  if (firstRewritten < 0) {
    const last = blocks[blocks.length - 1];
    firstRewritten = last !== undefined && last.size < blockSize ? blocks.length - 1 : blocks.length;
  }

  const spanStart = blocks[firstRewritten]?.start ?? layout.size;
  return { keep: blocks.slice(0, firstRewritten).map((block) => block.id), spanStart };
}

/**
 * Plan the end of a rewrite whose new bytes end at `end`. Committed blocks that start at
 * or after the end of the block containing `end` are kept, and the bytes between are restaged.
 */
export function planRewriteTail(layout: BlobLayout, end: number): RewriteTail {
  if (!layout.reusable || end >= layout.size) return { spanEnd: Math.max(end, layout.size), keep: [] };

  const firstKept = layout.blocks.findIndex((block) => block.start >= end);
  const kept = firstKept < 0 ? [] : layout.blocks.slice(firstKept);
  return { spanEnd: kept[0]?.start ?? layout.size, keep: kept.map((block) => block.id) };
}

/** Stage one block; the stager calls it with up to `concurrency` blocks in flight. */
export type StageBlock = (id: string, block: Buffer) => Promise<void>;

/**
 * Cut a byte stream into blocks of exactly `blockSize` bytes (the last may be shorter)
 * and stage them with bounded parallelism. Memory stays near `concurrency × blockSize`.
 */
export class BlockStager {
  readonly ids: string[] = [];
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  private readonly nextId = blockIdGenerator();

  constructor(
    private readonly stage: StageBlock,
    private readonly blockSize: number,
    private readonly concurrency: number,
    private readonly maxBlocks = MAX_BLOCKS_PER_BLOB,
  ) {}

  /** Add bytes; resolves when the stager can take more. Throws the first staging failure. */
  async push(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    let rest = chunk;
    while (rest.length > 0) {
      const room = this.blockSize - this.pendingBytes;
      this.pending.push(rest.subarray(0, room));
      this.pendingBytes += Math.min(room, rest.length);
      rest = rest.subarray(room);
      if (this.pendingBytes === this.blockSize) await this.flush();
    }
  }

  /** Stage the remaining bytes and wait for every block; returns the ids in blob order. */
  async finish(): Promise<string[]> {
    if (this.pendingBytes > 0) await this.flush();
    await this.settle();
    this.throwIfFailed();
    return this.ids;
  }

  /** Wait for blocks in flight without staging more, e.g. after the source failed. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async flush(): Promise<void> {
    if (this.ids.length >= this.maxBlocks) {
      throw new StorageError(
        'Unsupported',
        `a blob holds at most ${this.maxBlocks} blocks of blockSize ${this.blockSize} bytes; raise the storage option "blockSize" to store larger files`,
      );
    }

    const block = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending.length = 0;
    this.pendingBytes = 0;

    const id = this.nextId();
    this.ids.push(id);
    const staging = this.stage(id, block).catch((error: unknown) => {
      this.failure ??= error;
    });
    this.inFlight.add(staging);
    void staging.finally(() => this.inFlight.delete(staging));

    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
