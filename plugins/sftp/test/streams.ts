import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK_BYTES = 1024 * 1024;

/** Derive one MiB of bytes from `seed`: the base of every chunk of a pattern. */
function baseChunk(seed: string): Buffer {
  const base = Buffer.alloc(CHUNK_BYTES);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < CHUNK_BYTES; offset += block.length) {
    block.copy(base, offset);
    block = createHash('sha256').update(block).digest();
  }
  return base;
}

/**
 * A generated stream of `total` bytes, produced one MiB at a time and never held
 * whole. Chunk k is a seeded base with k written into its first 8 bytes, so a chunk
 * written at the wrong offset changes the digest. `digest()` is valid after the end.
 */
export class PatternStream extends Readable {
  private readonly base: Buffer;
  private readonly hash = createHash('sha256');
  private produced = 0;

  constructor(
    seed: string,
    private readonly total: number,
    private readonly onProgress?: (produced: number) => void,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
    this.base = baseChunk(seed);
  }

  override _read(): void {
    if (this.produced >= this.total) {
      this.push(null);
      return;
    }
    const length = Math.min(CHUNK_BYTES, this.total - this.produced);
    const chunk = patternChunk(this.base, this.produced / CHUNK_BYTES).subarray(0, length);
    this.hash.update(chunk);
    this.produced += length;
    this.onProgress?.(this.produced);
    this.push(chunk);
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

/** Return the bytes `[offset, offset + length)` of the pattern stream of `seed`. */
export function patternRange(seed: string, offset: number, length: number): Buffer {
  const base = baseChunk(seed);
  const out = Buffer.alloc(length);
  let written = 0;
  while (written < length) {
    const position = offset + written;
    const chunk = patternChunk(base, Math.floor(position / CHUNK_BYTES));
    const within = position % CHUNK_BYTES;
    written += chunk.copy(out, written, within, Math.min(CHUNK_BYTES, within + length - written));
  }
  return out;
}

function patternChunk(base: Buffer, index: number): Buffer {
  const chunk = Buffer.from(base);
  chunk.writeBigUInt64BE(BigInt(index), 0);
  return chunk;
}

/** sha256 and length of everything a stream yields, without keeping it. */
export async function digestOf(stream: Readable): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { digest: hash.digest('hex'), bytes };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function streamOf(...chunks: Array<Buffer | string>): Readable {
  return Readable.from(chunks.map((chunk) => Buffer.from(chunk)));
}

/** Yields `chunks`, then fails with `message`, as a client that disconnects mid-upload. */
export function failingStream(chunks: Buffer[], message: string): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      throw new Error(message);
    })(),
  );
}
