import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Large test contents that are never held in memory: bytes come from an AES-256-CTR
 * keystream per seed, so any range can be generated again to compute an expected
 * digest or compare a ranged read.
 */

export const MiB = 1024 * 1024;

const CHUNK = MiB;

/** Generate bytes `[offset, offset + length)` of the content of `seed`. */
export function generatedBytes(seed: number, offset: number, length: number): Buffer {
  const block = Math.floor(offset / 16);
  const skip = offset - block * 16;
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const key = createHash('sha256').update(`op-worker test content ${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return cipher.update(Buffer.alloc(skip + length)).subarray(skip);
}

/**
 * Stream the first `size` bytes of the content of `seed`, in 1 MiB chunks.
 * `onProgress`, when given, is called with the bytes produced so far before each chunk.
 */
export function generatedStream(seed: number, size: number, onProgress?: (produced: number) => void): Readable {
  let produced = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      onProgress?.(produced);
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(CHUNK, size - produced);
      const chunk = generatedBytes(seed, produced, length);
      produced += length;
      this.push(chunk);
    },
  });
}

/** Bytes written over a base content: `length` bytes of the content of `seed`, placed at `at`. */
export interface Patch {
  seed: number;
  at: number;
  length: number;
}

/** A file's expected content: the content of `seed` cut to `size`, with patches applied in order. */
export interface ContentModel {
  seed: number;
  size: number;
  patches: Patch[];
}

/** Compute bytes `[offset, offset + length)` of a model. */
export function modelBytes(model: ContentModel, offset: number, length: number): Buffer {
  const end = Math.min(offset + length, model.size);
  if (end <= offset) return Buffer.alloc(0);
  const bytes = generatedBytes(model.seed, offset, end - offset);
  for (const patch of model.patches) {
    const from = Math.max(offset, patch.at);
    const to = Math.min(end, patch.at + patch.length);
    if (from >= to) continue;
    generatedBytes(patch.seed, from - patch.at, to - from).copy(bytes, from - offset);
  }
  return bytes;
}

/** SHA-256 (hex) of a model's whole content, computed chunk by chunk. */
export function modelDigest(model: ContentModel): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < model.size; offset += CHUNK) {
    hash.update(modelBytes(model, offset, Math.min(CHUNK, model.size - offset)));
  }
  return hash.digest('hex');
}

/** SHA-256 (hex) and length of everything a stream yields. */
export async function streamDigest(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
