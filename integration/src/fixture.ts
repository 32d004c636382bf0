import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { bootstrapCore, SqliteMetadataStore, type Core, type Identity, type SpaceInfo, type StoragePluginManifest } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';
import pino from 'pino';

/** A core on a temporary SQLite store and POSIX storage, with one user and one supported space. */
export interface CoreFixture {
  core: Core;
  dir: string;
  storageRoot: string;
  owner: Identity;
  space: SpaceInfo;
  storageId: string;
  dispose(): Promise<void>;
}

export interface FixtureOptions {
  storagePathType?: 'canonical' | 'flat';
  plugins?: StoragePluginManifest[];
}

export async function createCoreFixture(options: FixtureOptions = {}): Promise<CoreFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'op-worker-it-'));
  const storageRoot = path.join(dir, 'storage');
  await mkdir(storageRoot);

  const store = new SqliteMetadataStore({ path: path.join(dir, 'metadata.db') });
  await store.open();
  const core = bootstrapCore({ store, plugins: options.plugins ?? [posixPlugin], logger: pino({ level: 'silent' }) });

  const owner: Identity = { userId: 'alice', isAdmin: false };
  const storage = await core.storages.add({
    name: 'local',
    type: 'posix',
    config: { mountPoint: storageRoot },
    storagePathType: options.storagePathType,
  });
  const created = await core.spaces.create({ name: 'space1', ownerUserId: owner.userId });
  const space = await core.spaces.support({ spaceId: created.spaceId, storageId: storage.storageId });

  return {
    core,
    dir,
    storageRoot,
    owner,
    space,
    storageId: storage.storageId,
    async dispose() {
      await core.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A stream of the given chunks. */
export function streamOf(...chunks: Array<string | Buffer>): Readable {
  return Readable.from(chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)));
}

/** Read a whole stream into a buffer (tests only: small files). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
