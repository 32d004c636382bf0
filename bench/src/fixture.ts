/** The benchmark's files: one large file and a set of small ones, filled with random bytes. */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Fixture {
  rootDir: string;
  largeFileName: string;
  largeFileBytes: number;
  largeFileSha256: string;
  smallDirName: string;
  smallFileNames: string[];
  smallFileBytes: number;
  uploadDirName: string;
}

export interface FixtureSize {
  largeFileBytes: number;
  smallFileCount: number;
  smallFileBytes: number;
}

const WRITE_CHUNK_BYTES = 4 * 1024 * 1024;

export async function createFixture(rootDir: string, size: FixtureSize): Promise<Fixture> {
  const fixture: Fixture = {
    rootDir,
    largeFileName: 'large.bin',
    largeFileBytes: size.largeFileBytes,
    largeFileSha256: '',
    smallDirName: 'small',
    smallFileNames: Array.from({ length: size.smallFileCount }, (_, index) => `f${String(index).padStart(5, '0')}.bin`),
    smallFileBytes: size.smallFileBytes,
    uploadDirName: 'uploads',
  };

  await mkdir(join(rootDir, fixture.smallDirName), { recursive: true });
  await mkdir(join(rootDir, fixture.uploadDirName), { recursive: true });
  fixture.largeFileSha256 = await writeRandomFile(join(rootDir, fixture.largeFileName), size.largeFileBytes);
  for (const fileName of fixture.smallFileNames) {
    await writeFile(join(rootDir, fixture.smallDirName, fileName), randomBytes(size.smallFileBytes));
  }
  return fixture;
}

/** Writes size random bytes to path and returns their SHA-256 (hex). */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const part = chunk.subarray(0, Math.min(chunk.length, size - written));
      randomFillSync(part);
      hash.update(part);
      await handle.write(part);
      written += part.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: WRITE_CHUNK_BYTES })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
