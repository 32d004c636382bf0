import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';
import { StorageError, type WriteOptions, type WriteResult } from '@op-worker/core';
import type { Logger } from 'pino';
import { BlockStager, placeBlocks, planRewriteHead, planRewriteTail, type BlobLayout } from './blocks.js';
import type { AzureClient } from './client.js';
import type { AzureSettings } from './config.js';

/**
 * Writes block blobs. Every write stages blocks (Put Block) and makes them visible with
 * one Put Block List, so a failed stream commits nothing and the old content stays.
 * Writes at an offset reuse the committed blocks outside the written range; see
 * `rewrite` for the steps.
 */
export class BlobWriter {
  constructor(
    private readonly client: AzureClient,
    private readonly settings: AzureSettings,
    private readonly logger: Logger,
  ) {}

  /** Replace the whole blob with the stream's bytes. */
  async writeWhole(path: string, data: Readable, options: WriteOptions): Promise<WriteResult> {
    const blob = this.client.blob(path);
    const stager = this.stager(blob, path);

    const written = await this.pump(data, stager, path, options.size);
    const ids = await this.finishStaging(stager, path);

    await this.call(path, () => blob.commitBlockList(ids));
    return { written, size: written };
  }

  /**
   * Replace the bytes at `[offset, offset + written)`, zero-filling a gap past the end
   * and keeping everything else. Only the edge blocks of the old blob are read.
   */
  async writeAt(path: string, data: Readable, offset: number, options: WriteOptions): Promise<WriteResult> {
    const blob = this.client.blob(path);
    const layout = await this.readLayout(blob, path);

    let written = 0;
    const result = await this.rewrite(blob, path, layout, offset, async (stager) => {
      written = await this.pump(data, stager, path, options.size);
      return written;
    });

    return { written, size: result.size };
  }

  /** Cut or zero-extend the blob to `size` bytes. Throws NotFound for a missing blob. */
  async truncate(path: string, size: number): Promise<void> {
    const blob = this.client.blob(path);
    const layout = await this.readLayout(blob, path);
    if (!layout.exists) throw new StorageError('NotFound', `blob "${path}" in container "${this.client.containerName}" not found`);
    if (size === layout.size) return;

    if (size > layout.size) {
      await this.rewrite(blob, path, layout, size, async () => 0);
      return;
    }

    const head = planRewriteHead(layout, size, this.settings.blockSize);
    const stager = this.stager(blob, path);
    await this.copyRange(blob, path, layout, head.spanStart, size, stager);
    const staged = await this.finishStaging(stager, path);
    await this.commit(blob, path, layout, [...head.keep, ...staged]);
  }

  /**
   * Rewrite the span of the blob around new bytes written from `offset`:
   * 1. keep the committed blocks wholly before the block holding `offset`;
   * 2. stage that block's old leading bytes, zeros for a gap past the end, then the
   *    new bytes (`produce` pushes them and returns their count);
   * 3. stage the old bytes from the end of the new bytes to the next block boundary;
   * 4. commit the kept, staged and trailing kept blocks, if the blob is unchanged.
   * Staged blocks are `blockSize` bytes, so memory stays bounded for any blob size.
   */
  private async rewrite(
    blob: BlockBlobClient,
    path: string,
    layout: BlobLayout,
    offset: number,
    produce: (stager: BlockStager) => Promise<number>,
  ): Promise<{ size: number }> {
    if (!layout.reusable && layout.size > 0) {
      this.logger.info({ path, size: layout.size }, 'restaging a blob without reusable blocks before an offset write');
    }

    const head = planRewriteHead(layout, offset, this.settings.blockSize);
    const stager = this.stager(blob, path);

    await this.copyRange(blob, path, layout, head.spanStart, Math.min(offset, layout.size), stager);
    await this.guard(stager, () => pushZeros(stager, offset - layout.size, this.settings.blockSize), path);
    const written = await this.guard(stager, () => produce(stager), path);
    const end = offset + written;

    const tail = planRewriteTail(layout, end);
    await this.copyRange(blob, path, layout, end, tail.spanEnd, stager);
    const staged = await this.finishStaging(stager, path);

    const size = Math.max(end, layout.size);
    if (layout.exists && written === 0 && offset <= layout.size) return { size };
    await this.commit(blob, path, layout, [...head.keep, ...staged, ...tail.keep]);
    return { size };
  }

  /** Read the committed block list, size and ETag; a missing blob reads as empty. */
  private async readLayout(blob: BlockBlobClient, path: string): Promise<BlobLayout> {
    try {
      const response = await blob.getBlockList('committed');
      const layout = placeBlocks(response.committedBlocks ?? [], response.blobContentLength ?? 0);
      return { ...layout, etag: response.etag };
    } catch (error) {
      const mapped = this.client.error(error, path);
      const missingBlob = mapped.kind === 'NotFound' && mapped.context['azureErrorCode'] === 'BlobNotFound';
      if (missingBlob) return { exists: false, size: 0, blocks: [], reusable: true };
      throw mapped;
    }
  }

  /** Commit a block list only if the blob still has the ETag read with its layout (or still does not exist). */
  private async commit(blob: BlockBlobClient, path: string, layout: BlobLayout, ids: string[]): Promise<void> {
    const conditions = layout.exists ? { ifMatch: layout.etag } : { ifNoneMatch: '*' };
    await this.call(path, () => blob.commitBlockList(ids, { conditions }));
  }

  /** Stage the old blob's bytes `[start, end)` by one ranged read, if the range is not empty. */
  private async copyRange(
    blob: BlockBlobClient,
    path: string,
    layout: BlobLayout,
    start: number,
    end: number,
    stager: BlockStager,
  ): Promise<void> {
    if (end <= start) return;

    await this.guard(stager, async () => {
      const response = await blob.download(start, end - start, { conditions: { ifMatch: layout.etag } });
      for await (const chunk of response.readableStreamBody ?? []) await stager.push(chunk as Buffer);
    }, path);
  }

  /**
   * Push the whole stream into the stager; returns the number of bytes read. Throws
   * ConditionNotMatch when `expectedSize` is given and differs.
   */
  private async pump(data: Readable, stager: BlockStager, path: string, expectedSize: number | undefined): Promise<number> {
    let written = 0;
    await this.guard(stager, async () => {
      for await (const chunk of data) {
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        written += buffer.length;
        await stager.push(buffer);
      }
      checkExpectedSize(path, written, expectedSize);
    }, path);
    return written;
  }

  /** Run a step that feeds the stager; on failure wait for blocks in flight, then throw a StorageError. */
  private async guard<T>(stager: BlockStager, step: () => Promise<T>, path?: string): Promise<T> {
    try {
      return await step();
    } catch (error) {
      await stager.settle();
      throw this.client.error(error, path);
    }
  }

  private async finishStaging(stager: BlockStager, path: string): Promise<string[]> {
    return this.guard(stager, () => stager.finish(), path);
  }

  private stager(blob: BlockBlobClient, path: string): BlockStager {
    const stage = async (id: string, block: Buffer): Promise<void> => {
      await this.call(path, () => blob.stageBlock(id, block, block.length));
    };
    return new BlockStager(stage, this.settings.blockSize, this.settings.uploadConcurrency);
  }

  private async call<T>(path: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.client.error(error, path);
    }
  }
}

/** Zero bytes for a gap past the end, pushed from one shared buffer. */
async function pushZeros(stager: BlockStager, count: number, blockSize: number): Promise<void> {
  if (count <= 0) return;
  const zeros = Buffer.alloc(Math.min(count, blockSize));
  for (let left = count; left > 0; left -= zeros.length) {
    await stager.push(left >= zeros.length ? zeros : zeros.subarray(0, left));
  }
}

function checkExpectedSize(path: string, written: number, expected: number | undefined): void {
  if (expected !== undefined && written !== expected) {
    throw new StorageError(
      'ConditionNotMatch',
      `write to "${path}" expected ${expected} bytes but the stream had ${written}; nothing was committed`,
    );
  }
}
