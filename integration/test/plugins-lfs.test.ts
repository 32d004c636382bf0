import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import {
  bootstrapCore,
  COLLECTIONS,
  decodeFileId,
  locationKey,
  OpError,
  SqliteMetadataStore,
  StorageError,
  type Core,
  type FileAttributes,
  type FileLocationDoc,
  type Identity,
  type OpErrorKind,
  type SpaceInfo,
  type StorageHelper,
} from '@op-worker/core';
import { azureManifest } from '@op-worker/plugin-azure';
import { posixPlugin } from '@op-worker/plugin-posix';
import { s3Plugin } from '@op-worker/plugin-s3';
import { sftpPlugin } from '@op-worker/plugin-sftp';
import { pino } from 'pino';
import {
  generatedBytes,
  generatedStream,
  MiB,
  modelBytes,
  modelDigest,
  streamDigest,
  type ContentModel,
} from '../src/servers/content.js';
import { startAzure, startS3, startSftp, type StorageOptions, type StorageServer } from '../src/servers/storages.js';

/**
 * The core services (logical file system, storage registry, SQLite store) on a space of
 * each storage type, against the real servers: moto, sshd and Azurite, each started
 * once for this file.
 */

type StorageType = 'posix' | 's3' | 'sftp' | 'azure';
const TYPES: StorageType[] = ['posix', 's3', 'sftp', 'azure'];

/** S3 multipart part size and Azure block size that the helpers use by default. */
const PART_SIZE = 8 * MiB;
const LARGE_SIZE = 100 * MiB;
const MANY_ENTRIES = 2_500;

interface Target {
  type: StorageType;
  /** A space on a storage with the type's default path layout (S3 and Azure: flat). */
  space: SpaceInfo;
  storageId: string;
  /** A space on a canonical storage, where names and directories reach the storage. */
  canonicalSpace: SpaceInfo;
  canonicalStorageId: string;
}

const owner: Identity = { userId: 'owner', isAdmin: false };
const targets = new Map<StorageType, Target>();
const servers: StorageServer[] = [];
let core: Core;
let store: SqliteMetadataStore;
let workDir: string;

test.before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'op-it-plugins-'));
  const started = await Promise.all([startS3(), startSftp(), startAzure()]);
  servers.push(...started);

  store = new SqliteMetadataStore({ path: path.join(workDir, 'metadata.db') });
  await store.open();
  core = bootstrapCore({ store, plugins: [posixPlugin, s3Plugin, sftpPlugin, azureManifest], logger: pino({ level: 'silent' }) });

  for (const type of TYPES) {
    const server = started.find((candidate) => candidate.type === type);
    const options = async (label: string): Promise<StorageOptions> => {
      if (server !== undefined) return server.newStorage(label);
      const mountPoint = path.join(workDir, label);
      await mkdir(mountPoint);
      return { mountPoint };
    };

    const plain = await core.storages.add({ name: `${type}-default`, type, config: await options('default') });
    const canonicalConfig = await options('canonical');
    // Azure's List Blobs page is cut to 1,000 so that a listing of 2,500 entries spans several.
    if (type === 'azure') canonicalConfig['listPageSize'] = 1000;
    const canonical = await core.storages.add({ name: `${type}-canonical`, type, config: canonicalConfig, storagePathType: 'canonical' });

    targets.set(type, {
      type,
      storageId: plain.storageId,
      space: await supportedSpace(`${type}-space`, plain.storageId),
      canonicalStorageId: canonical.storageId,
      canonicalSpace: await supportedSpace(`${type}-canonical-space`, canonical.storageId),
    });
  }
});

test.after.always(async () => {
  await core?.close();
  await Promise.all(servers.map((server) => server.stop()));
  await rm(workDir, { recursive: true, force: true });
});

async function supportedSpace(name: string, storageId: string): Promise<SpaceInfo> {
  const created = await core.spaces.create({ name, ownerUserId: owner.userId });
  return core.spaces.support({ spaceId: created.spaceId, storageId });
}

function target(type: StorageType): Target {
  const found = targets.get(type);
  if (found === undefined) throw new Error(`no space was set up for storage type ${type}`);
  return found;
}

/** Where a file's data is on a storage, from its file location document. */
async function storagePathOf(file: FileAttributes, storageId: string): Promise<string> {
  const { fileUuid } = decodeFileId(file.fileId);
  const location = await store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(fileUuid, storageId));
  if (location === undefined) throw new Error(`file ${file.path} has no location on storage ${storageId}`);
  return location.value.storageFileId;
}

async function readRange(file: FileAttributes, offset: number, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await core.lfs.read(owner, file.fileId, { offset, length })).stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function wholeDigest(file: FileAttributes): Promise<{ sha256: string; bytes: number }> {
  return streamDigest((await core.lfs.read(owner, file.fileId)).stream);
}

/**
 * Run the tests of one storage type one after another, while tests of different types
 * (different servers) overlap: moto, Azurite and sshd are separate processes.
 */
const typeQueues = new Map<StorageType, Promise<unknown>>();
function oneAtATime(type: StorageType, body: (t: ExecutionContext) => Promise<void>): (t: ExecutionContext) => Promise<void> {
  return (t) => {
    const run = (typeQueues.get(type) ?? Promise.resolve()).then(() => body(t));
    typeQueues.set(type, run.catch(() => undefined));
    return run;
  };
}

async function assertRejectsWith(t: ExecutionContext, promise: Promise<unknown>, kind: OpErrorKind, label: string): Promise<void> {
  const error = await t.throwsAsync(promise, undefined, label);
  t.true(OpError.is(error), label);
  t.is((error as OpError).kind, kind, label);
}

async function assertGoneFromStorage(t: ExecutionContext, helper: StorageHelper, storagePath: string, label: string): Promise<void> {
  const error = await t.throwsAsync(helper.stat(storagePath), undefined, label);
  t.true(StorageError.is(error), label);
  t.is((error as StorageError).kind, 'NotFound', label);
}

for (const type of TYPES) {
  test(`${type}: 100 MiB file round trip`, oneAtATime(type, async (t) => {
    const { space, storageId } = target(type);
    const helper = await core.storages.helper(storageId);
    const model: ContentModel = { seed: 1, size: LARGE_SIZE, patches: [] };

    const created = await core.lfs.create(owner, space.dirId, 'large.bin', {
      type: 'REG',
      content: generatedStream(model.seed, model.size),
      size: model.size,
    });
    t.is(created.size, LARGE_SIZE);
    t.is((await helper.stat(await storagePathOf(created, storageId))).size, LARGE_SIZE);

    for (const [offset, length] of [
      [0, 1],
      [PART_SIZE - 3, 7],
      [37 * MiB + 11, 3 * MiB],
      [LARGE_SIZE - 5, 5],
      [LARGE_SIZE - 5, 100],
    ] as const) {
      t.deepEqual(await readRange(created, offset, length), modelBytes(model, offset, length), `range ${offset}+${length}`);
    }

    // An unaligned 3 MiB overwrite that spans part and block boundaries.
    const patch = { seed: 2, at: 50 * MiB - 5, length: 3 * MiB };
    const written = await core.lfs.write(owner, created.fileId, generatedStream(patch.seed, patch.length), { offset: patch.at, size: patch.length });
    model.patches.push(patch);
    t.is(written.size, LARGE_SIZE);
    t.deepEqual(await readRange(created, patch.at - 10, 20), modelBytes(model, patch.at - 10, 20));

    const listing = await core.lfs.listChildren(owner, space.dirId, {});
    t.true(listing.children.some((child) => child.name === 'large.bin' && child.size === LARGE_SIZE));

    const dir = await core.lfs.create(owner, space.dirId, 'moved here', { type: 'DIR' });
    const renamed = await core.lfs.rename(owner, created.fileId, dir.fileId, 'renamed.bin');
    t.is(renamed.path, `/${space.name}/moved here/renamed.bin`);
    await assertRejectsWith(t, core.lfs.lookupPath(owner, `/${space.name}/large.bin`), 'notFound', 'old name after rename');
    // One whole read at the end covers the upload, the overwrite and the rename.
    t.deepEqual(await wholeDigest(renamed), { sha256: modelDigest(model), bytes: LARGE_SIZE });

    const storagePath = await storagePathOf(renamed, storageId);
    await core.lfs.remove(owner, renamed.fileId);
    await assertRejectsWith(t, core.lfs.getAttributes(owner, renamed.fileId), 'notFound', 'attributes after delete');
    await assertGoneFromStorage(t, helper, storagePath, 'data after delete');
  }));

  test(`${type}: awkward names stay distinct`, oneAtATime(type, async (t) => {
    const { canonicalSpace: space, canonicalStorageId: storageId } = target(type);
    const helper = await core.storages.helper(storageId);
    const dir = await core.lfs.create(owner, space.dirId, 'names', { type: 'DIR' });
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    const names = ['with space', 'per%cent', '%41', 'hash#tag', 'question?mark', 'plus+sign', 'a b+c%20#?', nfc, nfd, 'zero'];

    for (const name of names) {
      const content = name === 'zero' ? Buffer.alloc(0) : Buffer.from(`content of ${name}`);
      await core.lfs.create(owner, dir.fileId, name, { type: 'REG', content: Readable.from([content]), size: content.length });
    }

    const listed = (await core.lfs.listChildren(owner, dir.fileId, { limit: 100 })).children.map((child) => child.name);
    t.deepEqual([...listed].sort(), [...names].sort());
    t.not(nfc, nfd);

    const onStorage = (await helper.list(`${space.spaceId}/names`, { limit: 100 })).entries.map((entry) => entry.name);
    t.deepEqual([...onStorage].sort(), [...names].sort(), 'names on the canonical storage');

    for (const name of names) {
      const file = await core.lfs.lookupPath(owner, `/${space.name}/names/${name}`);
      t.is(file.name, name);
      const expected = name === 'zero' ? '' : `content of ${name}`;
      t.is((await readRange(file, 0, 1000)).toString(), expected, name);
      t.is((await helper.stat(await storagePathOf(file, storageId))).size, Buffer.byteLength(expected), `${name} on storage`);
    }
  }));

  test(`${type}: file of exactly one part size`, oneAtATime(type, async (t) => {
    const { space, storageId } = target(type);
    const helper = await core.storages.helper(storageId);
    const model: ContentModel = { seed: 3, size: PART_SIZE, patches: [] };

    const file = await core.lfs.create(owner, space.dirId, 'one-part.bin', {
      type: 'REG',
      content: generatedStream(model.seed, model.size),
      size: model.size,
    });

    t.is(file.size, PART_SIZE);
    t.is((await helper.stat(await storagePathOf(file, storageId))).size, PART_SIZE);
    t.deepEqual(await wholeDigest(file), { sha256: modelDigest(model), bytes: PART_SIZE });
    t.deepEqual(await readRange(file, PART_SIZE - 1, 10), generatedBytes(model.seed, PART_SIZE - 1, 1));

    // Unknown size: the helpers cannot choose a single request up front.
    const unsized = await core.lfs.create(owner, space.dirId, 'one-part-unsized.bin', { type: 'REG', content: generatedStream(model.seed, model.size) });
    t.is(unsized.size, PART_SIZE);
    t.deepEqual(await wholeDigest(unsized), { sha256: modelDigest(model), bytes: PART_SIZE });
  }));

  test(`${type}: 2,500 entries list in pages`, oneAtATime(type, async (t) => {
    const { canonicalSpace: space, canonicalStorageId: storageId } = target(type);
    const helper = await core.storages.helper(storageId);
    const dir = await core.lfs.create(owner, space.dirId, 'many', { type: 'DIR' });
    const names = Array.from({ length: MANY_ENTRIES }, (_, index) => `entry ${String(index).padStart(4, '0')}${index % 7 === 0 ? '+x' : ''}`);

    // Eight creates at a time keeps the servers busy without flooding the two cores.
    let next = 0;
    const createNext = async (): Promise<void> => {
      while (next < names.length) {
        const name = names[next++]!;
        await core.lfs.create(owner, dir.fileId, name, { type: 'REG', content: Readable.from([Buffer.from(name)]), size: Buffer.byteLength(name) });
      }
    };
    await Promise.all(Array.from({ length: 8 }, createNext));

    const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const listed: string[] = [];
    const pageSizes: number[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await core.lfs.listChildren(owner, dir.fileId, { limit: 1000, token });
      listed.push(...result.children.map((child) => child.name));
      pageSizes.push(result.children.length);
      if (result.isLast) break;
      token = result.nextPageToken ?? undefined;
    }
    t.deepEqual(pageSizes, [1000, 1000, 500]);
    t.deepEqual(listed, expected);

    // The storage holds one object per entry; 1,200 per page crosses S3's 1,000-key pages,
    // the 1,000-blob pages set for Azure and OpenSSH's READDIR batches.
    const stored: string[] = [];
    let startAfter: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await helper.list(`${space.spaceId}/many`, { limit: 1200, startAfter });
      stored.push(...result.entries.map((entry) => entry.name));
      if (result.isLast || result.entries.length === 0) break;
      startAfter = result.entries.at(-1)?.name;
    }
    t.deepEqual(stored, expected);
  }));
}
