import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const PATTERN_CHUNK_BYTES = 256 * 1024;
const ZEROS = Buffer.alloc(PATTERN_CHUNK_BYTES);

/**
 * A stream of `size` pseudo-random bytes derived from `seed` (an AES-128-CTR key
 * stream), generated chunk by chunk so that large objects are never held in memory.
 * `digest()` returns the sha256 of the bytes produced so far.
 */
export class PatternStream extends Readable {
  private remaining: number;
  private readonly cipher;
  private readonly hash = createHash('sha256');

  constructor(seed: string, size: number) {
    super();
    this.remaining = size;
    const key = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  override _read(): void {
    if (this.remaining === 0) {
      this.push(null);
      return;
    }
    const length = Math.min(PATTERN_CHUNK_BYTES, this.remaining);
    const bytes = this.cipher.update(ZEROS.subarray(0, length));
    this.hash.update(bytes);
    this.remaining -= length;
    this.push(bytes);
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

/** Small pseudo-random content for tests that compare bytes directly. */
export function patternBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return cipher.update(Buffer.alloc(size));
}

/** Create a byte stream (not object mode) of the given buffers. */
export function streamOf(...chunks: Buffer[]): Readable {
  return Readable.from(chunks, { objectMode: false });
}

/**
 * Create a stream that yields `chunks` and then fails with an error, as an upload does when
 * its client disconnects.
 */
export function failingStream(chunks: Buffer[]): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for (const chunk of chunks) {
      yield chunk;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error('source stream failed on purpose after some bytes');
  }
  return Readable.from(generate(), { objectMode: false });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Consume a stream and return the sha256 of its bytes and their count. */
export async function digestOf(stream: Readable): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      bytes += chunk.length;
      hash.update(chunk);
    }
  });
  return { digest: hash.digest('hex'), bytes };
}

/** Collect a small stream into one buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
