import { Readable } from 'node:stream';
import type { StorageError } from '@op-worker/core';
import type { SftpConnection } from './client.js';

/**
 * Bytes per READ request: OpenSSH's largest read payload (256 KiB less 1 KiB of
 * header room). ssh2 splits larger requests, and servers may return fewer bytes.
 */
export const READ_CHUNK_BYTES = 255 * 1024;

/** READ requests kept in flight, so that throughput is not one round trip per chunk. */
const READS_IN_FLIGHT = 4;

interface PendingRead {
  position: number;
  length: number;
  result: Promise<Buffer>;
}

export interface RangeReaderOptions {
  connection: SftpConnection;
  handle: Buffer;
  /** First byte to read. */
  start: number;
  /** One past the last byte to read; Infinity reads to the end of the file. */
  end: number;
  /** Called once when the stream ends, fails or is destroyed; `error` is set on failure. */
  onDone(error: unknown): void;
  /** Maps a native error to the StorageError that the stream emits. */
  mapError(error: unknown): StorageError;
}

/**
 * A Readable over `[start, end)` of an open SFTP file handle, with a few READ
 * requests pipelined ahead of the consumer. It closes the handle when it ends or is
 * destroyed; a failure surfaces as a StorageError on the stream.
 */
export class SftpRangeReader extends Readable {
  private readonly pending: PendingRead[] = [];
  private nextPosition: number;
  private finished = false;

  constructor(private readonly options: RangeReaderOptions) {
    super({ highWaterMark: READ_CHUNK_BYTES });
    this.nextPosition = options.start;
  }

  override _read(): void {
    this.fillPipeline();
    const head = this.pending.shift();
    if (!head) {
      this.push(null);
      return;
    }

    head.result.then(
      (data) => this.deliver(head, data),
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const failure = error ? this.options.mapError(error) : null;
    // Settle outstanding reads so that none rejects unobserved.
    for (const read of this.pending.splice(0)) read.result.catch(() => undefined);

    this.closeHandle(failure).then(
      () => callback(failure),
      () => callback(failure),
    );
  }

  private deliver(read: PendingRead, data: Buffer): void {
    // A reply that arrives after the consumer destroyed the stream has nowhere to go.
    if (this.destroyed) return;
    if (data.length === 0) {
      this.endOfFile();
      return;
    }

    // A short read that is not at the end of the file leaves a gap: read the rest of
    // this request's range before the requests already queued behind it.
    if (data.length < read.length) {
      const position = read.position + data.length;
      const length = read.length - data.length;
      this.pending.unshift({ position, length, result: this.options.connection.read(this.options.handle, length, position) });
    }
    this.push(data);
  }

  private endOfFile(): void {
    for (const read of this.pending.splice(0)) read.result.catch(() => undefined);
    this.nextPosition = this.options.end;
    this.push(null);
  }

  private fillPipeline(): void {
    while (this.pending.length < READS_IN_FLIGHT && this.nextPosition < this.options.end) {
      const position = this.nextPosition;
      const length = Math.min(READ_CHUNK_BYTES, this.options.end - position);
      this.nextPosition += length;
      this.pending.push({ position, length, result: this.options.connection.read(this.options.handle, length, position) });
    }
  }

  private async closeHandle(failure: StorageError | null): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      if (this.options.connection.alive) await this.options.connection.close(this.options.handle);
    } catch {
      // The handle dies with its connection; a failed CLOSE loses nothing that was read.
    }
    this.options.onDone(failure);
  }
}
