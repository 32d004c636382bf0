import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { StorageError } from '@op-worker/core';
import { copySourceOf, type S3Target } from './client.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3 multipart limits; tests lower `maxCopyPartSize` and `maxCopyObjectSize` to reach the split paths. */
export interface PartLimits {
  /** Smallest part except the last, in bytes (S3: 5 MiB). */
  minPartSize: number;
  /** Largest part, in bytes (S3: 5 GiB); also bounds one UploadPartCopy. */
  maxCopyPartSize: number;
  /** Largest object a single CopyObject may copy, in bytes (S3: 5 GiB). */
  maxCopyObjectSize: number;
  /** Maximum number of parts in one upload (S3: 10,000). */
  maxParts: number;
  /** Size of uploaded data parts when the stream size is unknown, in bytes. */
  defaultPartSize: number;
  /** Parts uploaded at the same time by one write. */
  concurrency: number;
}

export const S3_LIMITS: Readonly<PartLimits> = Object.freeze({
  minPartSize: 5 * MiB,
  maxCopyPartSize: 5 * GiB,
  maxCopyObjectSize: 5 * GiB,
  maxParts: 10_000,
  defaultPartSize: 8 * MiB,
  concurrency: 4,
});

/**
 * Choose the size of uploaded parts for a stream of `expectedSize` bytes: the default
 * part size, grown in whole MiB so that the stream fits in `maxParts - reserve` parts.
 * The reserve leaves room for the copied parts of an offset write.
 */
export function choosePartSize(limits: PartLimits, expectedSize?: number, reserve = 0): number {
  const base = Math.max(limits.defaultPartSize, limits.minPartSize);
  if (expectedSize === undefined) return base;
  const needed = Math.ceil(expectedSize / (limits.maxParts - reserve));
  return Math.max(base, Math.ceil(needed / MiB) * MiB);
}

/** The object whose byte ranges `addCopy` copies, pinned to one version by its ETag. */
export interface CopySource {
  key: string;
  etag?: string;
}

interface ByteInterval {
  start: number;
  end: number;
}

/**
 * Builds one new object from a sequence of pieces: byte chunks (new data or zeros) and
 * byte ranges of an existing object copied on the server with UploadPartCopy. Every part
 * but the last must be at least `minPartSize`, so a short copied range next to buffered
 * bytes is read from the source instead (at most `minPartSize` bytes per junction).
 * Memory stays below about `(concurrency + 1) * partSize` whatever the object size.
 *
 * The multipart upload is created only when the first part is ready. A result that
 * fits in one data part is written with a single PutObject instead. Nothing becomes
 * visible before `complete`; after any failure the caller must call `abort`.
 */
export class MultipartAssembler {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** A copied range shorter than `minPartSize`, kept as a copy in case it ends the object. */
  private deferredCopy: ByteInterval | undefined;
  private uploadId: Promise<string> | undefined;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private nextPartNumber = 1;
  private failure: unknown;

  constructor(
    private readonly target: S3Target,
    private readonly key: string,
    private readonly partSize: number,
    private readonly limits: PartLimits,
    private readonly source?: CopySource,
  ) {}

  /** Append bytes; full data parts are uploaded as they fill. */
  async addBytes(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    await this.materializeDeferredCopy();

    this.pending.push(chunk);
    this.pendingLength += chunk.length;

    while (this.pendingLength >= this.partSize) {
      await this.uploadData(this.takePending(this.partSize));
    }
  }

  /** Append `length` zero bytes without allocating more than one part. */
  async addZeros(length: number): Promise<void> {
    let remaining = length;
    while (remaining > 0) {
      const size = Math.min(remaining, this.partSize);
      await this.addBytes(Buffer.alloc(size));
      remaining -= size;
    }
  }

  /** Append the source bytes `[start, end)`, copied on the server where part sizes allow. */
  async addCopy(start: number, end: number): Promise<void> {
    if (end <= start) return;
    let from = start;

    if (this.deferredCopy !== undefined && this.deferredCopy.end === from) {
      from = this.deferredCopy.start;
      this.deferredCopy = undefined;
    }
    await this.materializeDeferredCopy();

    from = await this.fillPendingFromSource(from, end);
    if (from === end) return;

    if (end - from < this.limits.minPartSize) {
      this.deferredCopy = { start: from, end };
      return;
    }
    await this.uploadCopies(from, end);
  }

  /** Upload what is buffered and make the object visible. */
  async complete(): Promise<void> {
    if (this.uploadId === undefined) {
      await this.materializeDeferredCopy();
      await this.putWhole(this.takePending(this.pendingLength));
      return;
    }

    if (this.deferredCopy !== undefined) {
      await this.uploadCopy(this.deferredCopy);
      this.deferredCopy = undefined;
    } else if (this.pendingLength > 0) {
      await this.uploadData(this.takePending(this.pendingLength));
    }

    await this.drain();
    await this.completeUpload(await this.uploadId);
  }

  /** Abort the multipart upload, if one was created, after its running part requests end. */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    if (this.uploadId === undefined) return;

    let uploadId: string;
    try {
      uploadId = await this.uploadId;
    } catch {
      return;
    }
    await this.target.client.send(
      new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.key, UploadId: uploadId }),
    );
  }

  /**
   * Before a copied range can become a part of its own, buffered bytes must form a part
   * of at least `minPartSize`: read the missing bytes from the start of the range.
   * Returns where the part of the range still to copy begins.
   */
  private async fillPendingFromSource(start: number, end: number): Promise<number> {
    if (this.pendingLength === 0) return start;

    let from = start;
    const missing = this.limits.minPartSize - this.pendingLength;
    if (missing > 0) {
      const readEnd = Math.min(end, from + missing);
      const bytes = await this.readSource(from, readEnd);
      this.pending.push(bytes);
      this.pendingLength += bytes.length;
      from = readEnd;
    }

    if (this.pendingLength >= this.limits.minPartSize) {
      await this.uploadData(this.takePending(this.pendingLength));
    }
    return from;
  }

  private async materializeDeferredCopy(): Promise<void> {
    if (this.deferredCopy === undefined) return;
    const { start, end } = this.deferredCopy;
    this.deferredCopy = undefined;

    const bytes = await this.readSource(start, end);
    this.pending.push(bytes);
    this.pendingLength += bytes.length;
  }

  /** Copy `[start, end)` (at least `minPartSize` bytes) as parts no larger than `maxCopyPartSize`. */
  private async uploadCopies(start: number, end: number): Promise<void> {
    const length = end - start;
    const count = Math.ceil(length / this.limits.maxCopyPartSize);
    const pieceSize = Math.ceil(length / count);

    for (let from = start; from < end; from += pieceSize) {
      await this.uploadCopy({ start: from, end: Math.min(end, from + pieceSize) });
    }
  }

  private takePending(length: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    const taken = all.subarray(0, length);
    const rest = all.subarray(length);

    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingLength = rest.length;
    return taken;
  }

  private async readSource(start: number, end: number): Promise<Buffer> {
    const source = this.requireSource();
    const output = await this.target.client.send(
      new GetObjectCommand({
        Bucket: this.target.bucket,
        Key: source.key,
        Range: `bytes=${start}-${end - 1}`,
        ...(source.etag === undefined ? {} : { IfMatch: source.etag }),
      }),
    );
    const bytes = Buffer.from(await output.Body!.transformToByteArray());
    if (bytes.length !== end - start) {
      throw new StorageError('ConditionNotMatch', `object "${source.key}" is shorter than expected: read ${bytes.length} of ${end - start} bytes at ${start}`);
    }
    return bytes;
  }

  private uploadData(body: Buffer): Promise<void> {
    return this.startPart(async (uploadId, partNumber) => {
      const output = await this.target.client.send(
        new UploadPartCommand({
          Bucket: this.target.bucket,
          Key: this.key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      return output.ETag;
    });
  }

  private uploadCopy(range: ByteInterval): Promise<void> {
    const source = this.requireSource();
    return this.startPart(async (uploadId, partNumber) => {
      const output = await this.target.client.send(
        new UploadPartCopyCommand({
          Bucket: this.target.bucket,
          Key: this.key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: copySourceOf(this.target.bucket, source.key),
          CopySourceRange: `bytes=${range.start}-${range.end - 1}`,
          ...(source.etag === undefined ? {} : { CopySourceIfMatch: source.etag }),
        }),
      );
      return output.CopyPartResult?.ETag;
    });
  }

  /**
   * Start one part request, waiting first while `concurrency` requests run. The first
   * failure of any part is thrown by the next call or by `complete`.
   */
  private async startPart(send: (uploadId: string, partNumber: number) => Promise<string | undefined>): Promise<void> {
    while (this.inFlight.size >= this.limits.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();

    const partNumber = this.nextPartNumber++;
    if (partNumber > this.limits.maxParts) {
      throw new StorageError(
        'Unsupported',
        `object "${this.key}" needs more than ${this.limits.maxParts} multipart parts of ${this.partSize} bytes; pass the expected size so that larger parts are chosen`,
      );
    }

    this.uploadId ??= this.createUpload();
    const uploadId = this.uploadId;
    const request = (async () => {
      const etag = await send(await uploadId, partNumber);
      this.parts.push({ PartNumber: partNumber, ETag: etag });
    })()
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.inFlight.delete(request));
    this.inFlight.add(request);
  }

  private async createUpload(): Promise<string> {
    const output = await this.target.client.send(new CreateMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.key }));
    if (output.UploadId === undefined) {
      throw new StorageError('Unexpected', `CreateMultipartUpload for "${this.key}" returned no upload id`);
    }
    return output.UploadId;
  }

  private async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
    this.throwIfFailed();
  }

  private async completeUpload(uploadId: string): Promise<void> {
    const parts = [...this.parts].sort((left, right) => left.PartNumber! - right.PartNumber!);
    await this.target.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.target.bucket,
        Key: this.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  private async putWhole(body: Buffer): Promise<void> {
    await this.target.client.send(
      new PutObjectCommand({ Bucket: this.target.bucket, Key: this.key, Body: body, ContentLength: body.length }),
    );
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private requireSource(): CopySource {
    if (this.source === undefined) {
      throw new StorageError('Unexpected', `no source object to copy from while building "${this.key}"`);
    }
    return this.source;
  }
}
