/** Byte ranges as sorted, non-overlapping `[offset, length]` pairs, as in file locations. */
export type Blocks = ReadonlyArray<readonly [number, number]>;

/** Ranges of `[0, size)` not covered by `blocks`. */
export function missingRanges(blocks: Blocks, size: number): Array<[number, number]> {
  const missing: Array<[number, number]> = [];
  let position = 0;
  for (const [offset, length] of blocks) {
    if (offset > position) missing.push([position, Math.min(offset, size) - position]);
    position = Math.max(position, offset + length);
    if (position >= size) break;
  }
  if (position < size) missing.push([position, size - position]);
  return missing.filter(([, length]) => length > 0);
}

/** Remove `[offset, offset + length)` from `blocks`. */
export function subtractRange(blocks: Blocks, offset: number, length: number): Array<[number, number]> {
  const end = offset + length;
  const kept: Array<[number, number]> = [];
  for (const [blockOffset, blockLength] of blocks) {
    const blockEnd = blockOffset + blockLength;
    if (blockEnd <= offset || blockOffset >= end) {
      kept.push([blockOffset, blockLength]);
      continue;
    }
    if (blockOffset < offset) kept.push([blockOffset, offset - blockOffset]);
    if (blockEnd > end) kept.push([end, blockEnd - end]);
  }
  return kept;
}

/** Bytes of `[0, size)` that `blocks` cover. */
export function coveredBytes(blocks: Blocks, size: number): number {
  let total = 0;
  for (const [offset, length] of blocks) total += Math.max(0, Math.min(offset + length, size) - offset);
  return total;
}

/** Whether `blocks` hold all of `[0, size)`. */
export function coversAll(blocks: Blocks, size: number): boolean {
  return missingRanges(blocks, size).length === 0;
}

/** Return the end of the block that contains byte `offset`, or undefined when none does. */
export function coveredUntil(blocks: Blocks, offset: number): number | undefined {
  const block = blocks.find(([start, length]) => start <= offset && start + length > offset);
  return block ? block[0] + block[1] : undefined;
}

/** One part of a byte range, served by one storage. */
export interface RangePiece {
  storageId: string;
  offset: number;
  length: number;
}

/**
 * Split `[offset, offset + length)` into pieces, each held by one of `holders` (tried in
 * order). A holder that covers the whole range serves it alone. Otherwise each piece goes
 * to the holder whose block reaches furthest, so the range needs as few pieces as it can.
 * Returns `uncoveredAt`, the first byte no holder has, when the range cannot be served.
 */
export function planRangePieces(
  holders: ReadonlyArray<{ storageId: string; blocks: Blocks }>,
  offset: number,
  length: number,
): { pieces: RangePiece[]; uncoveredAt?: number } {
  if (length === 0) return { pieces: [] };
  const end = offset + length;
  const whole = holders.find((holder) => (coveredUntil(holder.blocks, offset) ?? -1) >= end);
  if (whole) return { pieces: [{ storageId: whole.storageId, offset, length }] };

  const pieces: RangePiece[] = [];
  let position = offset;
  while (position < end) {
    let best: { storageId: string; until: number } | undefined;
    for (const holder of holders) {
      const until = coveredUntil(holder.blocks, position);
      if (until !== undefined && (best === undefined || until > best.until)) best = { storageId: holder.storageId, until };
    }
    if (best === undefined) return { pieces, uncoveredAt: position };

    const pieceEnd = Math.min(best.until, end);
    const previous = pieces[pieces.length - 1];
    if (previous?.storageId === best.storageId) previous.length += pieceEnd - position;
    else pieces.push({ storageId: best.storageId, offset: position, length: pieceEnd - position });
    position = pieceEnd;
  }
  return { pieces };
}
