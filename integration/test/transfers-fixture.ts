import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bootstrapCore, SqliteMetadataStore, type Core, type Identity, type SpaceInfo, type StoragePluginManifest, type TransferDoc } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';
import pino from 'pino';

/** Job timings for tests: a dead worker's lease expires after 3 s. */
export const TEST_JOBS = { leaseTtlMs: 3_000, pollIntervalMs: 50, concurrency: 2 };

/** Replication chunk in tests: small, so that files span many recorded blocks. */
export const TEST_CHUNK = 256 * 1024;

export function openTestCore(dir: string, plugins: StoragePluginManifest[] = [posixPlugin]): Promise<Core> {
  const store = new SqliteMetadataStore({ path: path.join(dir, 'metadata.db') });
  return store.open().then(() =>
    bootstrapCore({ store, plugins, logger: pino({ level: 'silent' }), jobs: TEST_JOBS, replicationChunkSize: TEST_CHUNK }),
  );
}

/** A core on SQLite with a space supported by two POSIX storages, `first` taking new data. */
export interface TwoStorages {
  dir: string;
  core: Core;
  owner: Identity;
  space: SpaceInfo;
  first: string;
  second: string;
  roots: { first: string; second: string };
  dispose(): Promise<void>;
}

export async function twoPosixStorages(options: { startJobs?: boolean } = {}): Promise<TwoStorages> {
  const dir = await mkdtemp(path.join(tmpdir(), 'op-transfers-'));
  const roots = { first: path.join(dir, 'first'), second: path.join(dir, 'second') };
  await mkdir(roots.first);
  await mkdir(roots.second);
  const core = await openTestCore(dir);
  const owner: Identity = { userId: 'alice', isAdmin: false };
  const first = await core.storages.add({ name: 'first', type: 'posix', config: { mountPoint: roots.first }, qosParameters: { tier: 'hot' } });
  const second = await core.storages.add({ name: 'second', type: 'posix', config: { mountPoint: roots.second }, qosParameters: { tier: 'cold' } });
  const created = await core.spaces.create({ name: 'space1', ownerUserId: owner.userId });
  await core.spaces.support({ spaceId: created.spaceId, storageId: first.storageId });
  const space = await core.spaces.support({ spaceId: created.spaceId, storageId: second.storageId });
  if (options.startJobs !== false) core.jobs.start();
  return {
    dir,
    core,
    owner,
    space,
    first: first.storageId,
    second: second.storageId,
    roots,
    async dispose() {
      await core.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Poll a transfer until it ends (at most 50 s). */
export async function waitForTransferEnd(core: Core, who: Identity, transferId: string): Promise<TransferDoc> {
  const deadline = Date.now() + 50_000;
  for (;;) {
    const doc = await core.transfers.get(who, transferId);
    if (doc.finishTime !== 0) return doc;
    if (Date.now() > deadline) throw new Error(`transfer ${transferId} did not end: ${doc.replicationStatus}/${doc.evictionStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
