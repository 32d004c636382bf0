import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { upsertDocument, updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Placement } from '../lfs/base.js';
import { addBlock, COLLECTIONS, locationKey, type FileDoc, type FileLocationDoc, type SpaceDoc } from '../lfs/model.js';
import { onStorage } from '../lfs/storage-errors.js';
import { StitchedStream } from '../lfs/stitch.js';
import { coversAll, missingRanges, planRangePieces, subtractRange, type Blocks, type RangePiece } from './blocks.js';

/** Chunks copied at once to a target with cheap offset writes. */
const PARALLEL_CHUNKS = 3;

/** The part of the file system the replica engine uses: where a file's data is on a storage. */
export interface ReplicaPlacements {
  replicaPlacement(fileUuid: string, storageId: string): Promise<{ doc: FileDoc; space: SpaceDoc; placement: Placement }>;
}

export interface ReplicateOptions {
  signal?: AbortSignal;
  /**
   * Called with the bytes copied since the previous call: after each chunk that landed and
   * was recorded, and every `chunkSize` bytes while a larger range streams to the target
   * (those bytes are recorded only when the whole range has landed).
   */
  onProgress?: (bytes: number) => Promise<void> | void;
}

/** Result of one eviction: `evicted`, or the reason the replica stayed. */
export type EvictionOutcome = 'evicted' | 'absent' | 'lastReplica' | 'protected';

/** Decides whether a replica of a file on a storage is kept for a QoS requirement. */
export type ReplicaProtection = (doc: FileDoc, storageId: string) => Promise<boolean>;

/**
 * Copies and removes file replicas between the storages of a space. Replication copies
 * only the missing blocks and records them in the target's file location once they
 * landed, so an interrupted replication resumes from the blocks copied.
 *
 * How the missing bytes are written depends on the target. Where offset writes are cheap
 * (POSIX, SFTP) they go in chunks of `chunkSize` bytes, each recorded as it lands. Where an
 * offset write rebuilds the object (`write_at_offset_rewrites_object`, S3), a target that
 * has nothing of the file gets it in one streamed write without an offset, and a target
 * that has part of it gets each missing range in one offset write.
 */
export class ReplicaEngine {
  constructor(
    private readonly store: MetadataStore,
    private readonly placements: ReplicaPlacements,
    private readonly logger: Logger,
    private readonly options: { providerId: string; chunkSize: number },
  ) {}

  /**
   * Make `targetStorageId` hold all of a regular file. Returns the bytes copied and
   * recorded. A range that a concurrent write made stale is not recorded, and the loop
   * copies it again. Throws an `AbortError` when the signal is aborted, and the range being
   * copied then stays unrecorded.
   */
  async replicateFile(fileUuid: string, targetStorageId: string, options: ReplicateOptions = {}): Promise<number> {
    let copied = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const fileDocument = await this.store.get<FileDoc>(COLLECTIONS.file, fileUuid);
      if (!fileDocument || fileDocument.value.type !== 'REG') return copied;
      const size = fileDocument.value.size;
      const target = await this.location(fileUuid, targetStorageId);
      const missing = missingRanges(target?.blocks ?? [], size);
      if (missing.length === 0) return copied;

      const { placement } = await this.placements.replicaPlacement(fileUuid, targetStorageId);
      const copies = this.nextCopies(missing, size, (target?.blocks.length ?? 0) === 0, placement);
      const results = await Promise.allSettled(copies.map((copy) => this.copyRange(fileDocument.value, fileDocument.version, placement, copy, options)));
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) throw failure.reason;

      copies.forEach((copy, index) => {
        const result = results[index];
        if (result?.status === 'fulfilled' && result.value) copied += copy.length;
      });
    }
  }

  /**
   * Choose the ranges to copy next, and whether they go as one write of the whole object.
   * Where offset writes are cheap, up to `PARALLEL_CHUNKS` chunks are copied at once, so
   * that recording one chunk overlaps the data of the others. The first chunk of an
   * empty target goes alone, because it creates the file.
   */
  private nextCopies(missing: Array<[number, number]>, size: number, targetEmpty: boolean, target: Placement): RangeCopy[] {
    const [offset, gapLength] = missing[0] as [number, number];
    if (!target.helper.capabilities.write_at_offset_rewrites_object) {
      return chunksOf(missing, this.options.chunkSize, targetEmpty ? 1 : PARALLEL_CHUNKS);
    }
    // NOTE: a whole-object write records nothing until it completes, so a replication
    // interrupted by a worker crash or a cancel starts that file again from byte 0.
    if (targetEmpty) return [{ offset: 0, length: size, whole: true }];
    return [{ offset, length: gapLength, whole: false }];
  }

  /** Bytes of a regular file that a storage lacks. */
  async missingBytes(doc: FileDoc, storageId: string): Promise<number> {
    const location = await this.location(doc.uuid, storageId);
    return missingRanges(location?.blocks ?? [], doc.size).reduce((sum, [, length]) => sum + length, 0);
  }

  /**
   * Remove a file's replica from a storage. The last complete replica is kept, and so is
   * one that `isProtected` marks as kept for a QoS requirement.
   */
  async evictFile(fileUuid: string, storageId: string, isProtected: ReplicaProtection): Promise<EvictionOutcome> {
    const { doc, space, placement } = await this.placements.replicaPlacement(fileUuid, storageId);
    const location = await this.location(fileUuid, storageId);
    if (!location || location.blocks.length === 0) return 'absent';
    if (doc.type === 'REG' && !(await this.heldElsewhere(doc, space, storageId))) return 'lastReplica';
    if (await isProtected(doc, storageId)) return 'protected';

    // The record goes first so that no read picks this storage while its data is removed.
    await this.store.delete(COLLECTIONS.location, locationKey(fileUuid, storageId));
    await onStorage(() => placement.helper.delete(location.storageFileId || placement.path));
    this.logger.debug({ fileUuid, storageId }, 'replica evicted');
    return 'evicted';
  }

  private async heldElsewhere(doc: FileDoc, space: SpaceDoc, storageId: string): Promise<boolean> {
    for (const support of space.supports) {
      if (support.storageId === storageId) continue;
      const other = await this.location(doc.uuid, support.storageId);
      if (other && coversAll(other.blocks, doc.size)) return true;
    }
    return false;
  }

  private async location(fileUuid: string, storageId: string): Promise<FileLocationDoc | undefined> {
    return (await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(fileUuid, storageId)))?.value;
  }

  /** Open a stream of a range of the file, read from the other storages that hold it. */
  private async openSources(doc: FileDoc, targetStorageId: string, offset: number, length: number): Promise<Readable> {
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    const holders: Array<{ storageId: string; blocks: Blocks }> = [];
    for (const support of space?.value.supports ?? []) {
      if (support.storageId === targetStorageId) continue;
      const location = await this.location(doc.uuid, support.storageId);
      if (location) holders.push({ storageId: support.storageId, blocks: location.blocks });
    }

    const plan = planRangePieces(holders, offset, length);
    if (plan.uncoveredAt !== undefined) {
      throw new OpError('unavailable', `no storage is recorded to have byte ${plan.uncoveredAt} of "${doc.name}", so it cannot be replicated; check the file's distribution`, { fileUuid: doc.uuid });
    }
    const readPiece = async (piece: RangePiece): Promise<Readable> => {
      const { placement } = await this.placements.replicaPlacement(doc.uuid, piece.storageId);
      return onStorage(() => placement.helper.read(placement.path, { offset: piece.offset, length: piece.length }));
    };
    return plan.pieces.length === 1 ? readPiece(plan.pieces[0] as RangePiece) : new StitchedStream(plan.pieces, readPiece);
  }

  /**
   * Copy one range and record it on the target. Returns false when the file changed
   * while the range was copied, so the recorded range was taken back.
   */
  private async copyRange(doc: FileDoc, fileVersion: number, target: Placement, copy: RangeCopy, options: ReplicateOptions): Promise<boolean> {
    const { offset, length } = copy;
    const signal = options.signal;
    const source = await this.openSources(doc, target.support.storageId, offset, length);
    // A range of one chunk is reported once recorded; a longer one also while it streams.
    const progress = new ProgressCounter(length > this.options.chunkSize ? this.options.chunkSize : Infinity, options.onProgress);
    pipeline(source, progress, () => undefined);
    const abort = (): void => {
      source.destroy(signal?.reason instanceof Error ? signal.reason : new Error('replication aborted'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const writeOptions = copy.whole ? { size: length } : { offset, size: length };
      await onStorage(() => target.helper.write(target.path, progress, writeOptions));
    } catch (error) {
      // A writer that failed may leave the source unread; destroying it closes the storage read.
      source.destroy();
      throw error;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    signal?.throwIfAborted();

    const targetStorageId = target.support.storageId;
    const key = locationKey(doc.uuid, targetStorageId);
    await upsertDocument<FileLocationDoc>(
      this.store,
      COLLECTIONS.location,
      key,
      () => ({ fileUuid: doc.uuid, spaceId: doc.spaceId, storageId: targetStorageId, providerId: this.options.providerId, storageFileId: target.path, blocks: [] }),
      (location) => {
        location.storageFileId = target.path;
        location.blocks = addBlock(location.blocks, offset, length);
      },
    );

    // A write that raced with this copy changed the file document. Its invalidation may
    // have run before the range above was recorded, so the range is taken back.
    const after = await this.store.get<FileDoc>(COLLECTIONS.file, doc.uuid);
    if (after?.version === fileVersion) {
      await progress.flush();
      return true;
    }
    await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, key, (location) => {
      location.blocks = subtractRange(location.blocks, offset, length);
    }).catch(() => undefined);
    return false;
  }
}

/** A range of a file to copy to the target; `whole` writes it as the whole object, without an offset. */
interface RangeCopy {
  offset: number;
  length: number;
  whole: boolean;
}

/** Split the missing ranges into chunks of at most `chunkSize` bytes and return the first `count`, in order. */
function chunksOf(missing: Array<[number, number]>, chunkSize: number, count: number): RangeCopy[] {
  const chunks: RangeCopy[] = [];
  for (const [start, length] of missing) {
    for (let offset = start; offset < start + length && chunks.length < count; offset += chunkSize) {
      chunks.push({ offset, length: Math.min(chunkSize, start + length - offset), whole: false });
    }
    if (chunks.length === count) break;
  }
  return chunks;
}

/**
 * Stream stage that passes bytes through and reports them to `report` in steps of `step` bytes. Reports run
 * one after another beside the data, so a slow report does not stall the copy. `flush`
 * reports the remainder once the range is recorded, waits for the reports before it, and
 * throws the first report that failed.
 */
class ProgressCounter extends Transform {
  private unreported = 0;
  private reports: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly step: number,
    private readonly report: ((bytes: number) => Promise<void> | void) | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.unreported += chunk.length;
    if (this.unreported >= this.step) this.queueReport();
    callback(null, chunk);
  }

  async flush(): Promise<void> {
    this.queueReport();
    await this.reports;
    if (this.failure !== undefined) throw this.failure;
  }

  private queueReport(): void {
    const bytes = this.unreported;
    this.unreported = 0;
    if (bytes === 0 || this.report === undefined) return;

    const report = this.report;
    this.reports = this.reports.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await report(bytes);
      } catch (error) {
        this.failure = error;
      }
    });
  }
}
