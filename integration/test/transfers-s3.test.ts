import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { coversAll, transferStatus, type Core, type FileDistribution, type Identity, type SpaceInfo } from '@op-worker/core';
import { readAll, streamOf } from '../src/fixture.js';
import { openPosixAndS3, posixAndS3Space as createPosixAndS3Space, type PosixAndS3 } from './posix-s3-fixture.js';
import { splitReplicas } from './split-reads-fixture.js';
import { TEST_CHUNK, waitForTransferEnd } from './transfers-fixture.js';

const owner: Identity = { userId: 'alice', isAdmin: false };
let fixture: PosixAndS3;
let core: Core;

test.before(async () => {
  fixture = await openPosixAndS3('op-transfers-s3-');
  core = fixture.core;
});

test.after.always(async () => {
  await fixture?.close();
});

/** Create a space on a new POSIX storage (taking new data) and a new S3 bucket. */
function posixAndS3Space(name: string): Promise<{ space: SpaceInfo; posix: string; s3: string }> {
  return createPosixAndS3Space(fixture, owner, name);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function storageOf(distribution: FileDistribution, storageId: string): FileDistribution['storages'][number] {
  const entry = distribution.storages.find((storage) => storage.storageId === storageId);
  if (!entry) throw new Error(`storage ${storageId} missing from the distribution`);
  return entry;
}

/** Read the bytes of an S3 replica from the bucket directly. */
async function bucketContent(fileId: string, storageId: string): Promise<Buffer> {
  const target = storageOf(await core.lfs.getDistribution(owner, fileId), storageId);
  const helper = await core.storages.helper(storageId);
  return readAll(await helper.read(target.storageFileId as string));
}

test('replication to S3 streams the whole file', async (t) => {
  const { space, s3: bucket } = await posixAndS3Space('whole');
  const content = randomBytes(8 * TEST_CHUNK + 5);
  const file = await core.lfs.create(owner, space.dirId, 'whole.bin', { type: 'REG', content: streamOf(content) });

  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: bucket });
  const ended = await waitForTransferEnd(core, owner, transfer.transferId);

  t.is(transferStatus(ended), 'completed');
  t.is(ended.bytesReplicated, content.length);
  t.is(ended.filesReplicated, 1);
  t.is(ended.mthHist[bucket]?.reduce((sum, bytes) => sum + bytes, 0), content.length, 'the histogram counts every byte once');
  t.deepEqual(storageOf(await core.lfs.getDistribution(owner, file.fileId), bucket).blocks, [[0, content.length]]);
  t.is(sha256(await bucketContent(file.fileId, bucket)), sha256(content));

  const throughput = await core.transfers.throughput(owner, transfer.transferId);
  t.is(throughput.series.bytes.hour.reduce((sum, window) => sum + window.value, 0), content.length);
  t.is(throughput.series.files.hour.reduce((sum, window) => sum + window.value, 0), 1);
});

test('replication to S3 fills a gap with one offset write', async (t) => {
  const { space, s3: bucket } = await posixAndS3Space('gap');
  const content = randomBytes(4 * TEST_CHUNK);
  const file = await core.lfs.create(owner, space.dirId, 'gap.bin', { type: 'REG', content: streamOf(content) });
  const first = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: bucket });
  await waitForTransferEnd(core, owner, first.transferId);

  const patch = randomBytes(3 * TEST_CHUNK);
  await core.lfs.write(owner, file.fileId, streamOf(patch), { offset: 100 });
  patch.copy(content, 100);
  t.deepEqual(storageOf(await core.lfs.getDistribution(owner, file.fileId), bucket).blocks, [[0, 100], [100 + patch.length, content.length - 100 - patch.length]]);

  const again = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: bucket });
  const ended = await waitForTransferEnd(core, owner, again.transferId);
  t.is(transferStatus(ended), 'completed');
  t.is(ended.bytesReplicated, patch.length, 'only the invalidated range was copied');
  t.true(coversAll(storageOf(await core.lfs.getDistribution(owner, file.fileId), bucket).blocks, content.length));
  t.is(sha256(await bucketContent(file.fileId, bucket)), sha256(content));
});

test('cancel of a streamed replication records nothing', async (t) => {
  const { space, posix, s3: bucket } = await posixAndS3Space('cancel');
  const content = randomBytes(128 * TEST_CHUNK);
  const file = await core.lfs.create(owner, space.dirId, 'cancel.bin', { type: 'REG', content: streamOf(content) });
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: bucket });
  const deadline = Date.now() + 30_000;
  while ((await core.transfers.get(owner, transfer.transferId)).bytesReplicated === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await core.transfers.cancel(owner, transfer.transferId);
  const ended = await waitForTransferEnd(core, owner, transfer.transferId);

  t.is(transferStatus(ended), 'cancelled');
  const distribution = await core.lfs.getDistribution(owner, file.fileId);
  const target = distribution.storages.find((storage) => storage.storageId === bucket);
  t.deepEqual(target?.blocks ?? [], [], 'no byte of the interrupted upload is recorded');
  t.true(coversAll(storageOf(distribution, posix).blocks, content.length));
  t.is(sha256(await readAll((await core.lfs.read(owner, file.fileId)).stream)), sha256(content));
});

test('read split between POSIX and S3', async (t) => {
  const { space, posix, s3: bucket } = await posixAndS3Space('split');
  const content = randomBytes(2 * TEST_CHUNK + 3);
  const file = await core.lfs.create(owner, space.dirId, 'split.bin', { type: 'REG', content: streamOf(content) });
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: bucket });
  await waitForTransferEnd(core, owner, transfer.transferId);
  const split = TEST_CHUNK + 1;
  await splitReplicas(core, file.fileId, content.length, split, posix, bucket);

  t.true((await readAll((await core.lfs.read(owner, file.fileId)).stream)).equals(content));
  const across = await readAll((await core.lfs.read(owner, file.fileId, { offset: split - 10, length: 20 })).stream);
  t.true(across.equals(content.subarray(split - 10, split + 10)));
});
