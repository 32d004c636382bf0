import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Core, Identity, SpaceInfo } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';
import { s3Plugin } from '@op-worker/plugin-s3';
import { startS3, type StorageServer } from '../src/servers/storages.js';
import { openTestCore } from './transfers-fixture.js';

/** A core with the POSIX and S3 plugins and its job runner started, next to a moto server of its own. */
export interface PosixAndS3 {
  core: Core;
  s3: StorageServer;
  workDir: string;
  close(): Promise<void>;
}

/** Start moto and open a core in a new temporary folder named after `prefix`. */
export async function openPosixAndS3(prefix: string): Promise<PosixAndS3> {
  const workDir = await mkdtemp(path.join(tmpdir(), prefix));
  const s3 = await startS3();
  const core = await openTestCore(workDir, [posixPlugin, s3Plugin]);
  core.jobs.start();

  const close = async (): Promise<void> => {
    await core.close();
    await s3.stop();
    await rm(workDir, { recursive: true, force: true });
  };
  return { core, s3, workDir, close };
}

/** QoS parameters of the two storages of a space made by `posixAndS3Space`. */
export interface SpaceQos {
  posix?: Record<string, string>;
  s3?: Record<string, string>;
}

/**
 * Create a space owned by `owner` on a new POSIX storage (which takes new data, as the
 * first support) and a new S3 bucket. Returns the space and the two storage ids.
 */
export async function posixAndS3Space(fixture: PosixAndS3, owner: Identity, name: string, qos: SpaceQos = {}): Promise<{ space: SpaceInfo; posix: string; s3: string }> {
  const { core, s3, workDir } = fixture;
  const mountPoint = path.join(workDir, `${name}-posix`);
  await mkdir(mountPoint);
  const posix = await core.storages.add({ name: `${name}-posix`, type: 'posix', config: { mountPoint }, qosParameters: qos.posix });
  const bucket = await core.storages.add({ name: `${name}-s3`, type: 's3', config: await s3.newStorage(name), qosParameters: qos.s3 });

  const created = await core.spaces.create({ name, ownerUserId: owner.userId });
  await core.spaces.support({ spaceId: created.spaceId, storageId: posix.storageId });
  const space = await core.spaces.support({ spaceId: created.spaceId, storageId: bucket.storageId });
  return { space, posix: posix.storageId, s3: bucket.storageId };
}
