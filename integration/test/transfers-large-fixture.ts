import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { bootstrapCore, SqliteMetadataStore, type FileDistribution, type Identity, type TransferDoc } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';
import pino from 'pino';
import { REST, send, type WorkerProcess } from '../src/servers/worker.js';

/**
 * Helpers for transfer tests on GiB files with the real worker binary. A seeded file is
 * written and hashed as a stream, and downloads are hashed as they arrive, so no test
 * keeps a whole file in memory. REST calls for transfers and distribution are here too.
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/**
 * Write `size` pseudo-random bytes to `file` and return their sha256. The bytes are the
 * AES-256-CTR keystream of `seed`, so the same seed gives the same file and the test
 * needs no random source.
 */
export async function writeSeededFile(file: string, size: number, seed: string): Promise<string> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  const hash = createHash('sha256');

  async function* keystream(): AsyncGenerator<Buffer> {
    for (let written = 0; written < size; written += zeros.length) {
      const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - written)));
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(keystream(), createWriteStream(file));
  return hash.digest('hex');
}

/** sha256 of a whole file, or of `length` bytes from `offset`. */
export async function sha256OfFile(file: string, range?: { offset: number; length: number }): Promise<string> {
  const options = range === undefined ? {} : { start: range.offset, end: range.offset + range.length - 1 };
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { ...options, highWaterMark: MiB }), hash);
  return hash.digest('hex');
}

/** Upload the first `size` bytes of a local file as a new file `name` in a directory; returns its file id. */
export async function uploadFile(worker: WorkerProcess, dirId: string, name: string, file: string, size: number): Promise<string> {
  const body = createReadStream(file, { start: 0, end: size - 1, highWaterMark: MiB });
  const created = await send(worker, `${REST}/data/${dirId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body,
    contentLength: size,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (created.status !== 201) throw new Error(`upload of ${name} failed with HTTP ${created.status}: ${created.body.toString()}`);
  return created.json().fileId as string;
}

export interface TransferRequest {
  type: 'replication' | 'eviction' | 'migration';
  fileId: string;
  replicatingProviderId?: string;
  evictingProviderId?: string;
}

/** Schedule a transfer through `POST /transfers`; returns its id. */
export async function scheduleTransfer(worker: WorkerProcess, transfer: TransferRequest): Promise<string> {
  const response = await send(worker, `${REST}/transfers`, {
    method: 'POST',
    body: Buffer.from(JSON.stringify({ dataSourceType: 'file', ...transfer })),
    headers: { 'Content-Type': 'application/json' },
  });
  if (response.status !== 201) throw new Error(`scheduling a ${transfer.type} failed with HTTP ${response.status}: ${response.body.toString()}`);
  return response.json().transferId as string;
}

/** The fields of Onedata's `TransferStatus` that the tests read. */
export interface RestTransfer {
  transferStatus: string;
  replicationStatus: string;
  evictionStatus: string;
  bytesReplicated: number;
  filesReplicated: number;
  filesEvicted: number;
  filesFailed: number;
  finishTime: number;
}

export async function getTransfer(worker: WorkerProcess, transferId: string): Promise<RestTransfer> {
  const response = await send(worker, `${REST}/transfers/${transferId}`);
  if (response.status !== 200) throw new Error(`GET transfer ${transferId} failed with HTTP ${response.status}: ${response.body.toString()}`);
  return response.json() as RestTransfer;
}

/** Poll a transfer every 200 ms until its finish time is set; fails after `timeoutMs`. */
export async function waitForEnd(worker: WorkerProcess, transferId: string, timeoutMs: number): Promise<RestTransfer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const transfer = await getTransfer(worker, transferId);
    if (transfer.finishTime !== 0) return transfer;
    if (Date.now() > deadline) throw new Error(`transfer ${transferId} did not end within ${timeoutMs} ms: ${JSON.stringify(transfer)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Byte ranges `[offset, length]` and storage file id of one storage, from `GET /data/{id}/distribution`. */
export interface StorageReplica {
  blocks: Array<[number, number]>;
  storageFileId: string | null;
}

export async function replicaOn(worker: WorkerProcess, fileId: string, storageId: string): Promise<StorageReplica> {
  const response = await send(worker, `${REST}/data/${fileId}/distribution`);
  if (response.status !== 200) throw new Error(`GET distribution of ${fileId} failed with HTTP ${response.status}: ${response.body.toString()}`);
  const perProvider = Object.values(response.json().distributionPerProvider)[0] as {
    locationsPerStorage: Record<string, string | null>;
    distributionPerStorage: Record<string, { blocks: Array<[number, number]> }>;
  };
  return {
    blocks: perProvider.distributionPerStorage[storageId]?.blocks ?? [],
    storageFileId: perProvider.locationsPerStorage[storageId] ?? null,
  };
}

export function totalLength(blocks: Array<[number, number]>): number {
  return blocks.reduce((sum, [, length]) => sum + length, 0);
}

export interface HashedDownload {
  status: number;
  length: number;
  sha256: string;
}

/**
 * GET a file's content over REST, hashing the body as it arrives. With `range`, sends
 * `Range: bytes=offset-end`.
 */
export function downloadHashed(worker: WorkerProcess, fileId: string, range?: { offset: number; length: number }): Promise<HashedDownload> {
  const headers: Record<string, string> = { 'X-Auth-Token': worker.token };
  if (range !== undefined) headers['Range'] = `bytes=${range.offset}-${range.offset + range.length - 1}`;

  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: worker.port, path: `${REST}/data/${fileId}/content`, headers, agent: false }, (incoming) => {
      const hash = createHash('sha256');
      let length = 0;
      incoming.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      incoming.on('error', reject);
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, length, sha256: hash.digest('hex') }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/**
 * Read a transfer and a file's distribution straight from the SQLite store of a data
 * folder. Meant for a stopped or killed worker: it shows what the worker had recorded
 * when it died.
 */
export async function readStoppedWorkerState(
  dataDir: string,
  who: Identity,
  transferId: string,
  fileId: string,
): Promise<{ transfer: TransferDoc; distribution: FileDistribution }> {
  const store = new SqliteMetadataStore({ path: path.join(dataDir, 'metadata.db') });
  await store.open();
  const core = bootstrapCore({ store, plugins: [posixPlugin], logger: pino({ level: 'silent' }) });
  try {
    return { transfer: await core.transfers.get(who, transferId), distribution: await core.lfs.getDistribution(who, fileId) };
  } finally {
    await core.close();
  }
}
