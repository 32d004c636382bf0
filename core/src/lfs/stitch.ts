import { Readable } from 'node:stream';
import { OpError } from '../errors.js';
import type { RangePiece } from '../transfers/blocks.js';

/** Opens the stream of one piece: exactly `piece.length` bytes from `piece.offset`. */
export type PieceOpener = (piece: RangePiece) => Promise<Readable>;

/**
 * A stream of consecutive pieces read one after another from their storages. Each piece
 * is opened only when the one before it has ended, so at most one storage read is open
 * and nothing is buffered beyond the stream's high-water mark. A piece that yields a
 * different number of bytes than planned fails the stream, because later bytes would
 * land at the wrong offsets. Destroying the stream destroys the open piece.
 */
export class StitchedStream extends Readable {
  private next = 0;
  private current: Readable | undefined;
  private opening = false;

  constructor(
    private readonly pieces: readonly RangePiece[],
    private readonly open: PieceOpener,
  ) {
    super();
  }

  override _read(): void {
    if (this.current) {
      this.current.resume();
      return;
    }
    if (!this.opening) this.openNext();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.current?.destroy();
    this.current = undefined;
    callback(error);
  }

  private openNext(): void {
    const piece = this.pieces[this.next];
    if (piece === undefined) {
      this.push(null);
      return;
    }
    this.next += 1;
    this.opening = true;
    this.open(piece).then(
      (stream) => this.follow(piece, stream),
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  private follow(piece: RangePiece, stream: Readable): void {
    this.opening = false;
    if (this.destroyed) {
      stream.destroy();
      return;
    }

    this.current = stream;
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (!this.push(chunk)) stream.pause();
    });
    stream.once('error', (error) => this.destroy(error));
    stream.once('end', () => {
      this.current = undefined;
      if (received !== piece.length) {
        this.destroy(shortPiece(piece, received));
        return;
      }
      this.openNext();
    });
  }
}

function shortPiece(piece: RangePiece, received: number): OpError {
  return new OpError(
    'unavailable',
    `storage "${piece.storageId}" returned ${received} bytes for the ${piece.length} bytes at offset ${piece.offset} it is recorded to hold`,
    { storageId: piece.storageId, offset: piece.offset, length: piece.length },
  );
}
