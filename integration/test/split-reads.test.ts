import { randomBytes } from 'node:crypto';
import test from 'ava';
import { OpError, COLLECTIONS, decodeFileId, locationKey, updateDocument, type FileLocationDoc } from '@op-worker/core';
import { readAll, streamOf } from '../src/fixture.js';
import { splitReplicas } from './split-reads-fixture.js';
import { twoPosixStorages, waitForTransferEnd, TEST_CHUNK, type TwoStorages } from './transfers-fixture.js';

const fixtures: TwoStorages[] = [];

async function setup(): Promise<TwoStorages> {
  const fixture = await twoPosixStorages();
  fixtures.push(fixture);
  return fixture;
}

test.after.always(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.dispose()));
});

/** Create a file on both POSIX storages, recorded as split at `split` between them. */
async function splitFile(fixture: TwoStorages, content: Buffer, split: number): Promise<string> {
  const { core, owner, space, first, second } = fixture;
  const file = await core.lfs.create(owner, space.dirId, `split-${split}`, { type: 'REG', content: streamOf(content) });
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: second });
  await waitForTransferEnd(core, owner, transfer.transferId);
  await splitReplicas(core, file.fileId, content.length, split, first, second);
  return file.fileId;
}

test('read of a range split over two storages', async (t) => {
  const fixture = await setup();
  const content = randomBytes(3 * TEST_CHUNK + 11);
  const split = TEST_CHUNK + 7;
  const fileId = await splitFile(fixture, content, split);
  const read = async (offset?: number, length?: number): Promise<Buffer> =>
    readAll((await fixture.core.lfs.read(fixture.owner, fileId, offset === undefined ? undefined : { offset, length })).stream);

  t.true((await read()).equals(content), 'whole file');
  t.true((await read(split - 5, 10)).equals(content.subarray(split - 5, split + 5)), 'range across the split');
  t.true((await read(0, split)).equals(content.subarray(0, split)), 'range on the first storage only');
  t.true((await read(split, 100)).equals(content.subarray(split, split + 100)), 'range on the second storage only');
  t.true((await read(split - 1)).equals(content.subarray(split - 1)), 'open range from before the split');
});

test('read of a range split over three pieces', async (t) => {
  const fixture = await setup();
  const { core, owner, first, second } = fixture;
  const content = randomBytes(40_000);
  const fileId = await splitFile(fixture, content, 10_000);
  // The first storage also records the tail, so the read alternates first, second, first.
  await updateDocument<FileLocationDoc>(core.store, COLLECTIONS.location, locationKey(decodeFileId(fileId).fileUuid, first), (location) => {
    location.blocks = [[0, 10_000], [30_000, 10_000]];
  });
  await updateDocument<FileLocationDoc>(core.store, COLLECTIONS.location, locationKey(decodeFileId(fileId).fileUuid, second), (location) => {
    location.blocks = [[10_000, 20_000]];
  });
  // The tail goes back on the first storage and is scribbled over on the second.
  const rewrite = async (storageId: string, bytes: Buffer): Promise<void> => {
    const location = await core.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(decodeFileId(fileId).fileUuid, storageId));
    const helper = await core.storages.helper(storageId);
    await helper.write(location?.value.storageFileId ?? '', streamOf(bytes), { offset: 30_000, size: bytes.length });
  };
  await rewrite(first, content.subarray(30_000));
  await rewrite(second, Buffer.alloc(10_000, '#'));

  t.true((await readAll((await core.lfs.read(owner, fileId)).stream)).equals(content));
});

test('read of bytes no storage holds is unavailable', async (t) => {
  const fixture = await setup();
  const { core, owner, second } = fixture;
  const content = randomBytes(1000);
  const fileId = await splitFile(fixture, content, 400);
  await updateDocument<FileLocationDoc>(core.store, COLLECTIONS.location, locationKey(decodeFileId(fileId).fileUuid, second), (location) => {
    location.blocks = [[500, 500]];
  });

  const error = await t.throwsAsync(core.lfs.read(owner, fileId, { offset: 300, length: 300 }));
  t.true(OpError.is(error));
  t.is(OpError.is(error) ? error.kind : undefined, 'unavailable');
  t.regex(error?.message ?? '', /byte 400/);
  t.true((await readAll((await core.lfs.read(owner, fileId, { offset: 500 })).stream)).equals(content.subarray(500)));
});

test('read survives concurrent eviction', async (t) => {
  const fixture = await setup();
  const { core, owner, space, first, second } = fixture;
  const content = randomBytes(2 * TEST_CHUNK + 3);
  const file = await core.lfs.create(owner, space.dirId, 'evicted-while-read', { type: 'REG', content: streamOf(content) });
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: second });
  await waitForTransferEnd(core, owner, transfer.transferId);

  // The first storage serves the read, and loses its replica the moment the read opens
  // it, the way an eviction deletes the record and then the data.
  const helper = await core.storages.helper(first);
  const original = helper.read.bind(helper);
  const key = locationKey(decodeFileId(file.fileId).fileUuid, first);
  const location = await core.store.get<FileLocationDoc>(COLLECTIONS.location, key);
  let evictions = 0;
  helper.read = async (path, range) => {
    helper.read = original;
    evictions += 1;
    await core.store.delete(COLLECTIONS.location, key);
    await helper.delete(location?.value.storageFileId ?? path);
    return original(path, range);
  };
  t.teardown(() => {
    helper.read = original;
  });

  const read = await readAll((await core.lfs.read(owner, file.fileId)).stream);
  t.is(evictions, 1);
  t.true(read.equals(content));
});

test('offset write keeps bytes stored elsewhere', async (t) => {
  const fixture = await setup();
  const { core, owner, space, first, second } = fixture;
  const content = randomBytes(3 * TEST_CHUNK);
  const file = await core.lfs.create(owner, space.dirId, 'moved-then-patched', { type: 'REG', content: streamOf(content) });
  const migration = await core.transfers.create(owner, { type: 'migration', fileId: file.fileId, replicatingStorageId: second, evictingStorageId: first });
  await waitForTransferEnd(core, owner, migration.transferId);

  const patch = randomBytes(1000);
  await core.lfs.write(owner, file.fileId, streamOf(patch), { offset: TEST_CHUNK, size: patch.length });

  const expected = Buffer.concat([content.subarray(0, TEST_CHUNK), patch, content.subarray(TEST_CHUNK + patch.length)]);
  t.true((await readAll((await core.lfs.read(owner, file.fileId)).stream)).equals(expected));
  const location = await core.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(decodeFileId(file.fileId).fileUuid, first));
  t.deepEqual(location?.value.blocks, [[TEST_CHUNK, patch.length]]);
});

test('truncate keeps bytes stored elsewhere', async (t) => {
  const fixture = await setup();
  const { core, owner, space, first, second } = fixture;
  const content = randomBytes(3 * TEST_CHUNK);
  const file = await core.lfs.create(owner, space.dirId, 'moved-then-truncated', { type: 'REG', content: streamOf(content) });
  const migration = await core.transfers.create(owner, { type: 'migration', fileId: file.fileId, replicatingStorageId: second, evictingStorageId: first });
  await waitForTransferEnd(core, owner, migration.transferId);
  const readWhole = async (): Promise<Buffer> => readAll((await core.lfs.read(owner, file.fileId)).stream);
  const blocksOn = async (storageId: string): Promise<FileLocationDoc['blocks'] | undefined> =>
    (await core.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(decodeFileId(file.fileId).fileUuid, storageId)))?.value.blocks;

  const shorter = 2 * TEST_CHUNK + 5;
  await core.lfs.truncate(owner, file.fileId, shorter);
  t.true((await readWhole()).equals(content.subarray(0, shorter)), 'shrunk while the data is on the second storage');
  t.deepEqual(await blocksOn(second), [[0, shorter]]);

  await core.lfs.truncate(owner, file.fileId, shorter + 100);
  t.true((await readWhole()).equals(Buffer.concat([content.subarray(0, shorter), Buffer.alloc(100)])), 'grown with zeros');
  t.deepEqual(await blocksOn(first), [[shorter, 100]], 'the first storage records only the zero-filled gap');
});

test('truncate of a file split over two storages', async (t) => {
  const fixture = await setup();
  const { core, owner, first, second } = fixture;
  const content = randomBytes(40_000);
  const fileId = await splitFile(fixture, content, 10_000);

  await core.lfs.truncate(owner, fileId, 30_000);

  t.true((await readAll((await core.lfs.read(owner, fileId)).stream)).equals(content.subarray(0, 30_000)));
  const blocksOn = async (storageId: string): Promise<FileLocationDoc['blocks'] | undefined> =>
    (await core.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(decodeFileId(fileId).fileUuid, storageId)))?.value.blocks;
  t.deepEqual(await blocksOn(first), [[0, 10_000]]);
  t.deepEqual(await blocksOn(second), [[10_000, 20_000]]);
});
