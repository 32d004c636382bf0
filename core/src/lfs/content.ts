import { Readable } from 'node:stream';
import { OpError } from '../errors.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import { storageFileId } from './layout.js';
import { addBlock, COLLECTIONS, locationKey, readDocuments, truncateBlocks, type FileDoc, type FileLocationDoc } from './model.js';
import { onStorage } from './storage-errors.js';
import { StitchedStream } from './stitch.js';
import { planRangePieces, type RangePiece } from '../transfers/blocks.js';
import { encodeFileId } from '../ids/file-id.js';
import type { FileAttributes, Identity, ReadResult, WriteRequest } from './types.js';
import { LfsBase, type ResolvedFile, type Placement, assertRegular } from './base.js';

/** Reading and writing file content, and truncation. */
export abstract class LfsContent extends LfsBase {
  async read(who: Identity, fileId: string, range?: { offset: number; length?: number }): Promise<ReadResult> {
    const file = await this.resolveFor(who, fileId, 'read_object');
    assertRegular(file.doc);
    const fileSize = file.doc.size;
    const offset = range?.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw OpError.badValue('offset', `offset must be a non-negative integer, got ${offset}`);

    // Reads never go past the logical size, so bytes of an interrupted write beyond it stay hidden.
    const available = Math.max(0, fileSize - offset);
    const length = Math.min(range?.length ?? available, available);
    if (length === 0) return { stream: Readable.from([]), fileSize };

    const plan = await this.planRead(file, offset, length);
    const readPiece = async (piece: RangePiece): Promise<Readable> => {
      try {
        return await this.openPiece(file, piece, plan.locations);
      } catch (error) {
        if (!OpError.is(error) || error.kind !== 'notFound') throw error;
        // An eviction deletes the location record before the data, so a replica can
        // vanish between planning and opening. The range is planned again once, from
        // the records as they are now.
        const replanned = await this.planRead(file, piece.offset, piece.length);
        return this.openPieces(replanned.pieces, (again) => this.openPiece(file, again, replanned.locations));
      }
    };
    return { stream: await this.openPieces(plan.pieces, readPiece), fileSize };
  }

  /** Open one stream over consecutive pieces, directly when there is only one. */
  private async openPieces(pieces: RangePiece[], open: (piece: RangePiece) => Promise<Readable>): Promise<Readable> {
    return pieces.length === 1 ? open(pieces[0] as RangePiece) : new StitchedStream(pieces, open);
  }

  /** Open one piece; `locations` are the records the piece was planned from, by storage id. */
  private async openPiece(file: ResolvedFile, piece: RangePiece, locations: ReadonlyMap<string, FileLocationDoc>): Promise<Readable> {
    const placement = await this.placement(file, supportOf(file, piece.storageId), locations.get(piece.storageId));
    return onStorage(() => placement.helper.read(placement.path, { offset: piece.offset, length: piece.length }));
  }

  /**
   * Choose which storages serve a range: one storage when one has all of it (the first
   * such in the order of the space's supports), else consecutive pieces from several.
   * Returns the pieces and the location records they were planned from, read in one batch.
   */
  private async planRead(
    file: ResolvedFile,
    offset: number,
    length: number,
  ): Promise<{ pieces: RangePiece[]; locations: Map<string, FileLocationDoc> }> {
    const supports = file.space.supports;
    const keys = supports.map((support) => locationKey(file.doc.uuid, support.storageId));
    const found = await readDocuments<FileLocationDoc>(this.store, COLLECTIONS.location, keys);

    const locations = new Map<string, FileLocationDoc>();
    const holders: Array<{ storageId: string; blocks: FileLocationDoc['blocks'] }> = [];
    supports.forEach((support, index) => {
      const location = found.get(keys[index] ?? '')?.value;
      if (location === undefined) return;
      locations.set(support.storageId, location);
      holders.push({ storageId: support.storageId, blocks: location.blocks });
    });

    const plan = planRangePieces(holders, offset, length);
    if (plan.uncoveredAt !== undefined) {
      throw new OpError('unavailable', `no storage is recorded to have byte ${plan.uncoveredAt} of "${file.doc.name}", so bytes ${offset}-${offset + length - 1} cannot be read; check the file's distribution`, {
        fileId: encodeFileId({ fileUuid: file.doc.uuid, spaceId: file.doc.spaceId }),
      });
    }
    return { pieces: plan.pieces, locations };
  }

  async write(who: Identity, fileId: string, data: Readable, request: WriteRequest): Promise<FileAttributes> {
    const file = await this.resolveFor(who, fileId, 'write_object');
    assertRegular(file.doc);
    const doc = await this.writeData(file, data, request);
    await this.recordChange(doc, false);
    return this.changedAttributes(file, doc);
  }

  /**
   * Store content on the space's preferred storage, then record the new size, times and
   * blocks. Metadata changes only after the storage write succeeded.
   */
  protected async writeData(file: ResolvedFile, data: Readable, request: WriteRequest): Promise<FileDoc> {
    const placement = await this.writablePlacement(file);
    const { helper, path } = placement;
    const durable = helper.capabilities.durable_write;
    const offset = request.offset;
    if (offset !== undefined && (!Number.isSafeInteger(offset) || offset < 0)) {
      throw OpError.badValue('offset', `offset must be a non-negative integer, got ${offset}`);
    }

    if (offset === undefined) {
      const result = await onStorage(() => helper.write(path, data, { size: request.size, durable }));
      return this.recordWrite(file.doc, placement, { replace: true, offset: 0, written: result.written });
    }

    // Bytes past the logical size may be left from an interrupted write: cut them so that a
    // gap before `offset` reads as zeros.
    if (offset > file.doc.size && helper.capabilities.truncate) {
      const stat = await onStorage(() => helper.stat(path)).catch(() => undefined);
      if (stat && stat.size > file.doc.size) await onStorage(() => helper.truncate(path, file.doc.size));
    }
    const result = await onStorage(() => helper.write(path, data, { offset, size: request.size, durable }));
    return this.recordWrite(file.doc, placement, { replace: false, offset, written: result.written });
  }

  protected async recordWrite(
    doc: FileDoc,
    placement: Placement,
    write: { replace: boolean; offset: number; written: number },
  ): Promise<FileDoc> {
    const now = this.clock.now();
    const end = write.offset + write.written;

    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, doc.uuid, (value) => {
      value.size = write.replace ? write.written : Math.max(value.size, end);
      value.mtimeMs = now;
      value.ctimeMs = now;
    });
    const size = updated.value.size;

    await upsertDocument<FileLocationDoc>(
      this.store,
      COLLECTIONS.location,
      locationKey(doc.uuid, placement.record.storageId),
      () => this.newLocation(doc, placement),
      (location) => {
        location.storageFileId = placement.path;
        delete location.storageMtimeMs;
        // After a whole write the storage has [0, size). An offset write adds only its range, plus
        // the zero-filled gap from the old end when it starts past it: earlier bytes may be elsewhere.
        const from = Math.min(write.offset, doc.size);
        location.blocks = write.replace ? [[0, size]] : addBlock(location.blocks, from, end - from);
        location.blocks = truncateBlocks(location.blocks, size);
      },
    );
    await this.invalidateOtherReplicas(doc, placement.record.storageId, write.replace ? undefined : { offset: write.offset, length: write.written });
    return updated.value;
  }

  async truncate(who: Identity, fileId: string, size: number): Promise<FileAttributes> {
    const file = await this.resolveFor(who, fileId, 'write_object');
    assertRegular(file.doc);
    if (!Number.isSafeInteger(size) || size < 0) throw OpError.badValue('size', `size must be a non-negative integer, got ${size}`);
    const oldSize = file.doc.size;

    const placement = await this.writablePlacement(file);
    const hasObject = await this.truncateOnStorage(placement, oldSize, size);

    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, file.doc.uuid, (value) => {
      value.size = size;
      value.mtimeMs = now;
      value.ctimeMs = now;
    });
    if (hasObject) {
      await upsertDocument<FileLocationDoc>(
        this.store,
        COLLECTIONS.location,
        locationKey(file.doc.uuid, placement.record.storageId),
        () => this.newLocation(file.doc, placement),
        (location) => {
          // The storage keeps only its own blocks below `size`, plus the zero-filled gap when the
          // file grows. Bytes below the old end that it never had are still on other storages.
          location.storageFileId = placement.path;
          location.blocks = truncateBlocks(location.blocks, size);
          if (size > oldSize) location.blocks = addBlock(location.blocks, oldSize, size - oldSize);
        },
      );
    }
    await this.invalidateOtherReplicas(file.doc, placement.record.storageId, { offset: Math.min(oldSize, size), length: Infinity });
    await this.recordChange(updated.value, false);
    return this.changedAttributes(file, updated.value);
  }

  /**
   * Set the size of the file's object on the storage that takes new data. Returns false when
   * the storage has no object for the file and none is needed (a shrink of data held elsewhere).
   * Growing a missing object creates it empty first, so the zero-filled gap has a place.
   */
  private async truncateOnStorage(placement: Placement, oldSize: number, size: number): Promise<boolean> {
    const { helper, path } = placement;
    const stat = await onStorage(() => helper.stat(path)).catch((error: unknown) => {
      if (OpError.is(error) && error.kind === 'notFound') return undefined;
      throw error;
    });

    if (stat === undefined) {
      if (size <= oldSize) return false;
      await onStorage(() => helper.write(path, Readable.from([]), { size: 0 }));
    } else if (size > oldSize && stat.size > oldSize) {
      // Bytes past the logical size may be left from an interrupted write. Cut them so that the
      // grown part reads as zeros.
      await onStorage(() => helper.truncate(path, oldSize));
    }
    await onStorage(() => helper.truncate(path, size));
    return true;
  }
}

function supportOf(file: ResolvedFile, storageId: string): ResolvedFile['space']['supports'][number] {
  const support = file.space.supports.find((candidate) => candidate.storageId === storageId);
  if (!support) throw new OpError('internal', `storage "${storageId}" no longer supports space "${file.space.name}"`, { storageId });
  return support;
}
