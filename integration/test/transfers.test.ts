import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { coversAll, OpError, transferStatus, type Core, type FileDistribution, type Identity } from '@op-worker/core';
import { readAll, streamOf } from '../src/fixture.js';
import { openTestCore, TEST_CHUNK, twoPosixStorages, waitForTransferEnd, type TwoStorages } from './transfers-fixture.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures: TwoStorages[] = [];

async function setup(options?: { startJobs?: boolean }): Promise<TwoStorages> {
  const fixture = await twoPosixStorages(options);
  fixtures.push(fixture);
  return fixture;
}

test.after.always(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.dispose()));
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function storageOf(distribution: FileDistribution, storageId: string): FileDistribution['storages'][number] {
  const entry = distribution.storages.find((storage) => storage.storageId === storageId);
  if (!entry) throw new Error(`storage ${storageId} missing from the distribution`);
  return entry;
}

async function createFile(core: Core, who: Identity, parentId: string, name: string, content: Buffer): Promise<string> {
  const file = await core.lfs.create(who, parentId, name, { type: 'REG', content: streamOf(content) });
  return file.fileId;
}

test('replicate a directory to another storage', async (t) => {
  const { core, owner, space, first, second, roots } = await setup();
  const dir = await core.lfs.create(owner, space.dirId, 'data', { type: 'DIR' });
  const sub = await core.lfs.create(owner, dir.fileId, 'sub', { type: 'DIR' });
  const contents = new Map<string, Buffer>([
    ['empty', Buffer.alloc(0)],
    ['small', Buffer.from('hello')],
    ['chunked', randomBytes(3 * TEST_CHUNK + 17)],
  ]);
  const ids = new Map<string, string>();
  for (const [name, content] of contents) ids.set(name, await createFile(core, owner, dir.fileId, name, content));
  ids.set('nested', await createFile(core, owner, sub.fileId, 'nested', Buffer.from('deep')));
  contents.set('nested', Buffer.from('deep'));

  const transfer = await core.transfers.create(owner, { type: 'replication', fileId: dir.fileId, replicatingStorageId: second });
  t.is(transfer.replicationStatus, 'scheduled');
  t.is(transfer.evictionStatus, 'skipped');
  const ended = await waitForTransferEnd(core, owner, transfer.transferId);

  t.is(transferStatus(ended), 'completed');
  t.is(ended.filesToProcess, 4);
  t.is(ended.filesProcessed, 4);
  t.is(ended.filesReplicated, 3, 'the empty file has no bytes to copy');
  t.is(ended.filesFailed, 0);
  t.is(ended.bytesReplicated, 5 + 3 * TEST_CHUNK + 17 + 4);
  t.true(ended.startTime >= ended.scheduleTime);
  t.true((ended.minHist[second]?.[0] ?? 0) > 0, 'the minute histogram counts bytes for the target');

  for (const [name, content] of contents) {
    const distribution = await core.lfs.getDistribution(owner, ids.get(name) as string);
    const target = storageOf(distribution, second);
    t.true(coversAll(target.blocks, content.length), `${name} is complete on the second storage`);
    t.true(coversAll(storageOf(distribution, first).blocks, content.length), `${name} stays on the first storage`);
  }
  const onDisk = await readFile(path.join(roots.second, space.spaceId, 'data', 'chunked')).catch(() => undefined);
  if (onDisk) t.is(sha256(onDisk), sha256(contents.get('chunked') as Buffer));
});

test('replication copies only missing blocks', async (t) => {
  const { core, owner, space, first, second } = await setup();
  const content = randomBytes(4 * TEST_CHUNK);
  const fileId = await createFile(core, owner, space.dirId, 'f', content);
  const full = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second });
  t.is((await waitForTransferEnd(core, owner, full.transferId)).bytesReplicated, content.length);

  await core.lfs.write(owner, fileId, streamOf(Buffer.from('XYZ')), { offset: TEST_CHUNK + 5 });
  const distribution = await core.lfs.getDistribution(owner, fileId);
  t.deepEqual(storageOf(distribution, second).blocks, [[0, TEST_CHUNK + 5], [TEST_CHUNK + 8, 3 * TEST_CHUNK - 8]], 'only the written range was invalidated');
  t.true(coversAll(storageOf(distribution, first).blocks, content.length));

  const again = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second });
  const ended = await waitForTransferEnd(core, owner, again.transferId);
  t.is(ended.bytesReplicated, 3, 'only the 3 written bytes were copied');
  t.true(coversAll(storageOf(await core.lfs.getDistribution(owner, fileId), second).blocks, content.length));
});

test('eviction keeps the last replica', async (t) => {
  const { core, owner, space, first, second } = await setup();
  const fileId = await createFile(core, owner, space.dirId, 'only', Buffer.from('single copy'));

  const eviction = await core.transfers.create(owner, { type: 'eviction', fileId, evictingStorageId: first });
  const ended = await waitForTransferEnd(core, owner, eviction.transferId);
  t.is(transferStatus(ended), 'completed');
  t.is(ended.replicationStatus, 'skipped');
  t.is(ended.filesProcessed, 1);
  t.is(ended.filesEvicted, 0, 'the only replica was kept');
  t.true(coversAll(storageOf(await core.lfs.getDistribution(owner, fileId), first).blocks, 11));

  const replication = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second });
  await waitForTransferEnd(core, owner, replication.transferId);
  const secondEviction = await core.transfers.create(owner, { type: 'eviction', fileId, evictingStorageId: first });
  t.is((await waitForTransferEnd(core, owner, secondEviction.transferId)).filesEvicted, 1);
  const distribution = await core.lfs.getDistribution(owner, fileId);
  t.deepEqual(storageOf(distribution, first).blocks, []);
  t.is((await readAll((await core.lfs.read(owner, fileId)).stream)).toString(), 'single copy', 'the read is served by the other storage');
});

test('migration moves the data', async (t) => {
  const { core, owner, space, first, second } = await setup();
  const content = randomBytes(2 * TEST_CHUNK + 1);
  const fileId = await createFile(core, owner, space.dirId, 'm', content);
  const migration = await core.transfers.create(owner, { type: 'migration', fileId, replicatingStorageId: second, evictingStorageId: first });
  const ended = await waitForTransferEnd(core, owner, migration.transferId);

  t.is(transferStatus(ended), 'completed');
  t.is(ended.replicationStatus, 'completed');
  t.is(ended.evictionStatus, 'completed');
  t.is(ended.filesReplicated, 1);
  t.is(ended.filesEvicted, 1);
  const distribution = await core.lfs.getDistribution(owner, fileId);
  t.deepEqual(storageOf(distribution, first).blocks, []);
  t.true(coversAll(storageOf(distribution, second).blocks, content.length));
  t.is(sha256(await readAll((await core.lfs.read(owner, fileId)).stream)), sha256(content));
});

test('cancel leaves only whole blocks recorded', async (t) => {
  const { core, owner, space, second } = await setup();
  const content = randomBytes(64 * TEST_CHUNK);
  const fileId = await createFile(core, owner, space.dirId, 'big', content);
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second });
  const deadline = Date.now() + 30_000;
  while ((await core.transfers.get(owner, transfer.transferId)).bytesReplicated === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await core.transfers.cancel(owner, transfer.transferId);
  const ended = await waitForTransferEnd(core, owner, transfer.transferId);

  t.is(transferStatus(ended), 'cancelled');
  const blocks = storageOf(await core.lfs.getDistribution(owner, fileId), second).blocks;
  t.false(coversAll(blocks, content.length), 'the replica is not recorded as complete');
  const helper = await core.storages.helper(second);
  const storagePath = storageOf(await core.lfs.getDistribution(owner, fileId), second).storageFileId;
  for (const [offset, length] of blocks) {
    const copied = await readAll(await helper.read(storagePath as string, { offset, length }));
    t.true(copied.equals(content.subarray(offset, offset + length)), `recorded block at ${offset} holds the source bytes`);
  }
  const error = await t.throwsAsync(core.transfers.cancel(owner, transfer.transferId));
  t.is(OpError.is(error) ? error.details['errorId'] : undefined, 'transferAlreadyEnded');
});

test('rerun, listing and callback', async (t) => {
  const { core, owner, space, second } = await setup();
  const calls: string[] = [];
  const receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      calls.push(body);
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const callback = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/done`;
  t.teardown(() => receiver.close());

  const fileId = await createFile(core, owner, space.dirId, 'r', Buffer.from('rerun me'));
  const first = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second, callback });
  await waitForTransferEnd(core, owner, first.transferId);
  // The callback is sent just after the finish time is recorded.
  for (const deadline = Date.now() + 10_000; calls.length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(calls.map((body) => JSON.parse(body) as unknown), [{ transferId: first.transferId }]);

  const rerun = await core.transfers.rerun(owner, first.transferId);
  t.not(rerun.transferId, first.transferId);
  const old = await core.transfers.get(owner, first.transferId);
  t.is(old.rerunId, rerun.transferId);
  t.is((await core.transfers.effective(old)).transferId, rerun.transferId);
  await waitForTransferEnd(core, owner, rerun.transferId);

  const ended = await core.transfers.list(owner, space.spaceId, 'ended', 1);
  t.deepEqual(ended.transfers.length, 1);
  t.not(ended.nextPageToken, null);
  const rest = await core.transfers.list(owner, space.spaceId, 'ended', 10, ended.nextPageToken as string);
  t.deepEqual([...ended.transfers, ...rest.transfers].sort(), [first.transferId, rerun.transferId].sort());
  t.is(rest.nextPageToken, null);
  t.deepEqual((await core.transfers.list(owner, space.spaceId, 'waiting', 10)).transfers, []);
  t.deepEqual((await core.transfers.list(owner, space.spaceId, 'ongoing', 10)).transfers, []);

  const waiting = await setup({ startJobs: false });
  const queuedFile = await createFile(waiting.core, waiting.owner, waiting.space.dirId, 'q', Buffer.from('queued'));
  const queued = await waiting.core.transfers.create(waiting.owner, { type: 'replication', fileId: queuedFile, replicatingStorageId: waiting.second });
  t.deepEqual((await waiting.core.transfers.list(waiting.owner, waiting.space.spaceId, 'waiting', 10)).transfers, [queued.transferId]);
  const notEnded = await t.throwsAsync(waiting.core.transfers.rerun(waiting.owner, queued.transferId));
  t.is(OpError.is(notEnded) ? notEnded.details['errorId'] : undefined, 'transferNotEnded');
});

test('transfer to a storage outside the space is rejected', async (t) => {
  const { core, owner, space } = await setup();
  const fileId = await createFile(core, owner, space.dirId, 'x', Buffer.from('x'));
  const error = await t.throwsAsync(core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: 'nope' }));
  t.is(OpError.is(error) ? error.details['errorId'] : undefined, 'spaceNotSupportedBy');
  const stranger: Identity = { userId: 'mallory', isAdmin: false };
  const denied = await t.throwsAsync(core.transfers.create(stranger, { type: 'replication', fileId, replicatingStorageId: 'nope' }));
  t.true(OpError.is(denied));
});

test('replication resumes after SIGKILL of its worker', async (t) => {
  const fixture = await setup({ startJobs: false });
  const { core, owner, space, second, dir } = fixture;
  const content = randomBytes(160 * TEST_CHUNK);
  const fileId = await createFile(core, owner, space.dirId, 'large', content);
  const transfer = await core.transfers.create(owner, { type: 'replication', fileId, replicatingStorageId: second });

  const child = spawn(process.execPath, [path.join(here, 'transfers-worker.js'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 30_000;
  let atKill = 0;
  while (atKill < 8 * TEST_CHUNK) {
    if (Date.now() > deadline) throw new Error('the child worker copied nothing');
    await new Promise((resolve) => setTimeout(resolve, 5));
    atKill = (await core.transfers.get(owner, transfer.transferId)).bytesReplicated;
  }
  child.kill('SIGKILL');
  await exited;
  const recordedAtKill = storageOf(await core.lfs.getDistribution(owner, fileId), second).blocks;
  t.false(coversAll(recordedAtKill, content.length), 'the kill came before the end');

  core.jobs.start();
  const ended = await waitForTransferEnd(core, owner, transfer.transferId);
  t.is(transferStatus(ended), 'completed');
  t.true(ended.bytesReplicated <= content.length + TEST_CHUNK, `copied ${ended.bytesReplicated} bytes in all, not from zero again`);
  // A loaded machine may also let a lease lapse while this process runs the job, which adds attempts.
  t.true(((await core.jobs.get(ended.jobId))?.attempts ?? 0) >= 2, 'the job ran in the child and again here');
  const helper = await core.storages.helper(second);
  const storagePath = storageOf(await core.lfs.getDistribution(owner, fileId), second).storageFileId as string;
  t.is(sha256(await readAll(await helper.read(storagePath))), sha256(content));
});

test('a restarted core sees the same transfer', async (t) => {
  const fixture = await setup({ startJobs: false });
  const fileId = await createFile(fixture.core, fixture.owner, fixture.space.dirId, 'p', Buffer.from('persisted'));
  const transfer = await fixture.core.transfers.create(fixture.owner, { type: 'replication', fileId, replicatingStorageId: fixture.second });
  const other = await openTestCore(fixture.dir);
  t.teardown(() => other.close());
  other.jobs.start();
  const ended = await waitForTransferEnd(other, fixture.owner, transfer.transferId);
  t.is(transferStatus(ended), 'completed');
});

test('reads during a migration return correct bytes', async (t) => {
  const { core, owner, space, first, second } = await setup();
  const content = randomBytes(96 * TEST_CHUNK);
  const expected = sha256(content);
  const fileId = await createFile(core, owner, space.dirId, 'moving', content);
  const migration = await core.transfers.create(owner, { type: 'migration', fileId, replicatingStorageId: second, evictingStorageId: first });

  let reads = 0;
  let ended = false;
  while (!ended) {
    const { stream } = await core.lfs.read(owner, fileId);
    t.is(sha256(await readAll(stream)), expected, `read ${reads} returned the file's bytes`);
    reads += 1;
    ended = (await core.transfers.get(owner, migration.transferId)).finishTime !== 0;
  }
  const status = await core.transfers.get(owner, migration.transferId);
  t.is(transferStatus(status), 'completed');
  t.true(reads > 1, `${reads} reads ran while the migration went on`);
  const distribution = await core.lfs.getDistribution(owner, fileId);
  t.deepEqual(storageOf(distribution, first).blocks, []);
  t.is(sha256(await readAll((await core.lfs.read(owner, fileId)).stream)), expected, 'a read after the migration comes from the new storage');
});
