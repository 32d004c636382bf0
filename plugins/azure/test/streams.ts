import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Create a deterministic pseudo-random stream of `size` bytes in 1 MiB chunks, so
 * large uploads never exist whole in memory. The same seed gives the same bytes.
 */
export function generatedStream(size: number, seed = 1): Readable {
  let produced = 0;
  let state = seed >>> 0 || 1;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(1024 * 1024, size - produced);
      const chunk = Buffer.allocUnsafe(length);
      for (let i = 0; i + 4 <= length; i += 4) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        chunk.writeUInt32LE(state >>> 0, i);
      }
      for (let i = length - (length % 4); i < length; i++) chunk[i] = i & 0xff;
      produced += length;
      this.push(chunk);
    },
  });
}

/** SHA-256 of a stream, consumed chunk by chunk. */
export async function sha256Of(stream: AsyncIterable<unknown>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Read a whole stream into one buffer; for test data of bounded size only. */
export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Create a stream that yields `prefix`, then fails with `error`. */
export function failingStream(prefix: Buffer, error: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(prefix);
        return;
      }
      this.destroy(error);
    },
  });
}
