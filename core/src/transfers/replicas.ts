import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { upsertDocument, updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Placement } from '../lfs/base.js';
import { addBlock, COLLECTIONS, locationKey, type FileDoc, type FileLocationDoc, type SpaceDoc } from '../lfs/model.js';
import { onStorage } from '../lfs/storage-errors.js';
import { coveredUntil, coversAll, missingRanges, subtractRange } from './blocks.js';

/** The part of the file system the replica engine uses: where a file's data is on a storage. */
export interface ReplicaPlacements {
  replicaPlacement(fileUuid: string, storageId: string): Promise<{ doc: FileDoc; space: SpaceDoc; placement: Placement }>;
}

export interface ReplicateOptions {
  signal?: AbortSignal;
  /** Called after each chunk that landed and was recorded, with its length in bytes. */
  onChunk?: (bytes: number) => Promise<void> | void;
}

/** Result of one eviction: `evicted`, or the reason the replica stayed. */
export type EvictionOutcome = 'evicted' | 'absent' | 'lastReplica' | 'protected';

/** Decides whether a replica of a file on a storage is kept for a QoS requirement. */
export type ReplicaProtection = (doc: FileDoc, storageId: string) => Promise<boolean>;

/**
 * Copies and removes file replicas between the storages of a space. Replication copies
 * only the missing blocks, chunk by chunk, and records each chunk in the target's file
 * location as it lands, so an interrupted replication resumes from the blocks copied.
 */
export class ReplicaEngine {
  constructor(
    private readonly store: MetadataStore,
    private readonly placements: ReplicaPlacements,
    private readonly logger: Logger,
    private readonly options: { providerId: string; chunkSize: number },
  ) {}

  /**
   * Make `targetStorageId` hold all of a regular file. Returns the bytes copied. A chunk
   * that a concurrent write made stale is not recorded, and the loop copies it again.
   * Throws an `AbortError` when the signal is aborted between chunks.
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

      const [offset, gapLength] = missing[0] as [number, number];
      const source = await this.sourceFor(fileDocument.value, targetStorageId, offset);
      const length = Math.min(gapLength, source.until - offset, this.options.chunkSize);
      const landed = await this.copyChunk(fileDocument.value, fileDocument.version, source.placement, targetStorageId, offset, length, options.signal);
      if (!landed) continue;

      copied += length;
      await options.onChunk?.(length);
    }
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

  /** A storage other than the target that holds byte `offset`, and where its block ends. */
  private async sourceFor(doc: FileDoc, targetStorageId: string, offset: number): Promise<{ placement: Placement; until: number }> {
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, doc.spaceId);
    for (const support of space?.value.supports ?? []) {
      if (support.storageId === targetStorageId) continue;
      const location = await this.location(doc.uuid, support.storageId);
      const until = location ? coveredUntil(location.blocks, offset) : undefined;
      if (until === undefined) continue;
      const { placement } = await this.placements.replicaPlacement(doc.uuid, support.storageId);
      return { placement, until };
    }
    throw new OpError('unavailable', `no storage holds byte ${offset} of "${doc.name}" to replicate it from`, { fileUuid: doc.uuid });
  }

  /**
   * Copy one chunk and record it on the target. Returns false when the file changed
   * while the chunk was copied, so the recorded range was taken back.
   */
  private async copyChunk(
    doc: FileDoc,
    fileVersion: number,
    source: Placement,
    targetStorageId: string,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const { placement: target } = await this.placements.replicaPlacement(doc.uuid, targetStorageId);
    const stream = await onStorage(() => source.helper.read(source.path, { offset, length }));
    const abort = (): void => {
      // The writer reports the error; this listener keeps an error after the writer let go of the stream from going uncaught.
      stream.on('error', () => undefined);
      stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('replication aborted'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await onStorage(() => target.helper.write(target.path, stream, { offset, size: length }));
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    signal?.throwIfAborted();

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
    if (after?.version === fileVersion) return true;
    await updateDocument<FileLocationDoc>(this.store, COLLECTIONS.location, key, (location) => {
      location.blocks = subtractRange(location.blocks, offset, length);
    }).catch(() => undefined);
    return false;
  }
}
