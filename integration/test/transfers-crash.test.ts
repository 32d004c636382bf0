import { randomInt } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { coversAll, type FileDistribution, type Identity } from '@op-worker/core';
import { startSftp, type StorageServer } from '../src/servers/storages.js';
import { cliJson, REST, send, startWorkerProcess, type WorkerProcess } from '../src/servers/worker.js';
import {
  downloadHashed,
  GiB,
  MiB,
  readStoppedWorkerState,
  replicaOn,
  scheduleTransfer,
  sha256OfFile,
  totalLength,
  uploadFile,
  waitForEnd,
  writeSeededFile,
} from './transfers-large-fixture.js';

/**
 * Transfers of GiB files on the real `op-worker` binary, from its POSIX storage to a
 * second POSIX storage or to an SFTP server (OpenSSH). The tests cover a replication
 * that survives `kill -9` of the worker, reads during a migration, and a cancel in the
 * middle of a replication. Each test starts its own worker, and they run one after
 * another because each moves gigabytes through the same disk.
 */

interface Context {
  root: string;
  /** Local copy of the test data; each test uploads a prefix of it. */
  source: string;
  /** sha256 of the whole source and of its first GiB. */
  sha2GiB: string;
  sha1GiB: string;
}

const test = anyTest as TestFn<Context>;

/** A short lease, so that the job of a killed worker resumes a few seconds after its restart. */
const WORKER_ARGS = ['--job-lease-ttl-ms', '3000', '--job-poll-interval-ms', '200'];

/** The store reads of a stopped worker act for a provider administrator, as the CLI does. */
const ADMIN: Identity = { userId: 'transfers-crash-test', isAdmin: true };

/** Upper limit of one test, far above the under-a-minute runs measured on a two-core machine. */
const TEST_TIMEOUT_MS = 20 * 60_000;

test.before(async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-transfers-crash-'));
  const source = path.join(root, 'source.bin');
  const sha2GiB = await writeSeededFile(source, 2 * GiB, 'transfers-crash');
  const sha1GiB = await sha256OfFile(source, { offset: 0, length: GiB });
  t.context = { root, source, sha2GiB, sha1GiB };
});

test.after.always(async (t) => {
  if (t.context.root !== undefined) await rm(t.context.root, { recursive: true, force: true });
});

type TargetType = 'posix' | 'sftp';

/**
 * A running worker whose default space is on two storages: `first`, the embedded POSIX
 * default, and `second` of the given type. `mountPoint` is where each storage keeps its
 * files on this machine, so tests read replicas without the worker.
 */
interface TwoStorageWorker {
  worker: WorkerProcess;
  dataDir: string;
  dirId: string;
  first: { storageId: string; mountPoint: string };
  second: { storageId: string; mountPoint: string };
}

/**
 * Start the worker and, for an SFTP target, sshd. Teardowns stop them and then remove
 * the test's storages, so the disk has one test's gigabytes at a time.
 */
async function startTwoStorageWorker(t: ExecutionContext<Context>, label: string, targetType: TargetType = 'posix'): Promise<TwoStorageWorker> {
  const dataDir = path.join(t.context.root, `${label}-data`);
  // ava runs teardowns last-registered first, so this one runs after the worker has stopped.
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const target = await secondStorage(t, label, targetType);
  const worker = await startWorkerProcess(dataDir, { args: WORKER_ARGS });
  t.teardown(() => worker.stop());

  const second = await cliJson<{ storageId: string }>(dataDir, 'storage', 'add', '--name', 'second', '--type', targetType, '--config', JSON.stringify(target.options));
  const space = await cliJson<{ dirId: string; storageIds: string[] }>(dataDir, 'space', 'support', 'default', '--storage', 'second');
  const firstId = space.storageIds.find((id) => id !== second.storageId);
  if (firstId === undefined) throw new Error(`the default space has no storage besides ${second.storageId}`);

  return {
    worker,
    dataDir,
    dirId: space.dirId,
    first: { storageId: firstId, mountPoint: path.join(dataDir, 'storage') },
    second: { storageId: second.storageId, mountPoint: target.mountPoint },
  };
}

/** Helper options of the second storage and the local folder where its files land. */
async function secondStorage(t: ExecutionContext<Context>, label: string, targetType: TargetType): Promise<{ options: Record<string, unknown>; mountPoint: string }> {
  if (targetType === 'posix') {
    const mountPoint = path.join(t.context.root, `${label}-second`);
    await mkdir(mountPoint);
    t.teardown(() => rm(mountPoint, { recursive: true, force: true }));
    return { options: { mountPoint }, mountPoint };
  }

  const sftp: StorageServer = await startSftp();
  t.teardown(() => sftp.stop());
  const options = await sftp.newStorage(label);
  // The test's sshd serves files of this machine, so the storage root is a local folder too.
  return { options, mountPoint: String(options['rootPath']) };
}

function storageOf(distribution: FileDistribution, storageId: string): FileDistribution['storages'][number] {
  const entry = distribution.storages.find((storage) => storage.storageId === storageId);
  if (entry === undefined) throw new Error(`storage ${storageId} is missing from the distribution`);
  return entry;
}

/** Path of a replica on a POSIX storage, from the storage file id that the distribution reports. */
function onDisk(mountPoint: string, storageFileId: string | null): string {
  if (storageFileId === null) throw new Error(`the storage at ${mountPoint} has no location for the file`);
  return path.join(mountPoint, storageFileId);
}

/** Poll the blocks a storage records for a file until they reach `bytes`; fails after 5 minutes. */
async function waitForRecordedBytes(worker: WorkerProcess, fileId: string, storageId: string, bytes: number): Promise<number> {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    const recorded = totalLength((await replicaOn(worker, fileId, storageId)).blocks);
    if (recorded >= bytes) return recorded;
    if (Date.now() > deadline) throw new Error(`storage ${storageId} recorded only ${recorded} of ${bytes} bytes within 5 minutes`);
    await sleep(50);
  }
}

const killDuringReplication = test.macro(async (t, targetType: TargetType) => {
  t.timeout(TEST_TIMEOUT_MS);
  const size = 2 * GiB;
  const setup = await startTwoStorageWorker(t, `crash-${targetType}`, targetType);
  let worker = setup.worker;
  // The worker started after the kill replaces the first one; stopping an ended process does nothing.
  t.teardown(() => worker.stop());
  const { dataDir, first, second } = setup;

  const fileId = await uploadFile(worker, setup.dirId, 'two-gib.bin', t.context.source, size);
  const transferId = await scheduleTransfer(worker, { type: 'replication', fileId, replicatingProviderId: second.storageId });
  const observed = await waitForRecordedBytes(worker, fileId, second.storageId, size / 4);
  await worker.kill();

  const atKill = await readStoppedWorkerState(dataDir, ADMIN, transferId, fileId);
  const recordedAtKill = totalLength(storageOf(atKill.distribution, second.storageId).blocks);
  t.is(atKill.transfer.finishTime, 0, 'the transfer had not ended when the worker died');
  t.true(recordedAtKill >= observed, `the store kept the ${observed} bytes seen before the kill (it has ${recordedAtKill})`);
  t.true(recordedAtKill < size, `the kill came before the replica was complete (${recordedAtKill} of ${size} bytes recorded)`);
  t.log(`recorded at kill: ${recordedAtKill} bytes; counted at kill: ${atKill.transfer.bytesReplicated} bytes`);

  const restartedMs = Date.now();
  worker = await startWorkerProcess(dataDir, { args: WORKER_ARGS });
  const ended = await waitForEnd(worker, transferId, 10 * 60_000);
  t.log(`the transfer ended ${Date.now() - restartedMs} ms after the restart began`);

  t.is(ended.transferStatus, 'completed');
  t.is(ended.replicationStatus, 'completed');
  t.is(ended.filesReplicated, 1);
  t.is(ended.filesFailed, 0);
  const copiedAfterRestart = ended.bytesReplicated - atKill.transfer.bytesReplicated;
  t.true(copiedAfterRestart > 0, 'the restarted worker copied the rest');
  t.true(
    copiedAfterRestart <= size - recordedAtKill,
    `after the restart ${copiedAfterRestart} bytes were copied; only the ${size - recordedAtKill} bytes missing at the kill needed copying`,
  );
  t.true(ended.bytesReplicated <= size, `${ended.bytesReplicated} bytes counted in all: no recorded block was copied twice`);

  const target = await replicaOn(worker, fileId, second.storageId);
  const origin = await replicaOn(worker, fileId, first.storageId);
  t.deepEqual(target.blocks, [[0, size]], 'the target records the whole file');
  t.deepEqual(origin.blocks, [[0, size]], 'the source keeps the whole file');

  t.is(await sha256OfFile(onDisk(second.mountPoint, target.storageFileId)), t.context.sha2GiB, 'the target storage file has the original bytes');
  t.is(await sha256OfFile(onDisk(first.mountPoint, origin.storageFileId)), t.context.sha2GiB, 'the source storage file has the original bytes');
  const downloaded = await downloadHashed(worker, fileId);
  t.is(downloaded.status, 200);
  t.is(downloaded.length, size);
  t.is(downloaded.sha256, t.context.sha2GiB, 'a REST download returns the original bytes');
});

test.serial('kill -9 during a 2 GiB replication to POSIX resumes', killDuringReplication, 'posix');
test.serial('kill -9 during a 2 GiB replication to SFTP resumes', killDuringReplication, 'sftp');

test.serial('reads during a 1 GiB migration return the original bytes', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const size = GiB;
  const setup = await startTwoStorageWorker(t, 'migration');
  const { worker, first, second } = setup;

  const fileId = await uploadFile(worker, setup.dirId, 'one-gib.bin', t.context.source, size);
  const originPath = onDisk(first.mountPoint, (await replicaOn(worker, fileId, first.storageId)).storageFileId);
  const transferId = await scheduleTransfer(worker, {
    type: 'migration',
    fileId,
    replicatingProviderId: second.storageId,
    evictingProviderId: first.storageId,
  });

  // Two readers run until the worker reports the end of the migration: one reads the
  // whole file, the other random ranges from 1 byte to 32 MiB, so that many short reads
  // meet the moment the source replica is removed. A read counts as concurrent when it
  // began before the end was seen.
  let migrating = true;
  const migration = waitForEnd(worker, transferId, 10 * 60_000).finally(() => {
    migrating = false;
  });
  const counts = { whole: 0, ranges: 0, concurrent: 0 };

  const readWhole = async (): Promise<void> => {
    do {
      const began = migrating;
      const whole = await downloadHashed(worker, fileId);
      t.is(whole.status, 200, `whole read ${counts.whole}`);
      t.is(whole.sha256, t.context.sha1GiB, `whole read ${counts.whole} returned the original bytes`);
      counts.whole += 1;
      if (began) counts.concurrent += 1;
    } while (migrating);
  };

  const readRanges = async (): Promise<void> => {
    do {
      const began = migrating;
      const offset = randomInt(0, size);
      const length = Math.min(size - offset, 2 ** randomInt(0, 26));
      const expected = await sha256OfFile(t.context.source, { offset, length });
      const part = await downloadHashed(worker, fileId, { offset, length });
      t.is(part.status, 206, `range ${offset}+${length}`);
      t.is(part.sha256, expected, `range ${offset}+${length} returned the original bytes`);
      counts.ranges += 1;
      if (began) counts.concurrent += 1;
    } while (migrating);
  };

  const [ended] = await Promise.all([migration, readWhole(), readRanges()]);
  t.log(`${counts.whole} whole reads and ${counts.ranges} range reads, ${counts.concurrent} of them began during the migration`);
  t.true(counts.concurrent > 1, 'reads ran while the migration went on');

  t.is(ended.transferStatus, 'completed');
  t.is(ended.replicationStatus, 'completed');
  t.is(ended.evictionStatus, 'completed');
  t.is(ended.filesEvicted, 1);

  t.deepEqual((await replicaOn(worker, fileId, first.storageId)).blocks, [], 'the source records no replica');
  await t.throwsAsync(access(originPath), { code: 'ENOENT' }, 'the source storage file is gone');
  const target = await replicaOn(worker, fileId, second.storageId);
  t.deepEqual(target.blocks, [[0, size]], 'the target records the whole file');
  t.is(await sha256OfFile(onDisk(second.mountPoint, target.storageFileId)), t.context.sha1GiB, 'the target storage file has the original bytes');
});

test.serial('cancel mid-replication records only copied blocks', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const size = GiB;
  const setup = await startTwoStorageWorker(t, 'cancel');
  const { worker, second } = setup;

  const fileId = await uploadFile(worker, setup.dirId, 'cancelled.bin', t.context.source, size);
  const transferId = await scheduleTransfer(worker, { type: 'replication', fileId, replicatingProviderId: second.storageId });
  await waitForRecordedBytes(worker, fileId, second.storageId, 1);
  const cancelled = await send(worker, `${REST}/transfers/${transferId}`, { method: 'DELETE' });
  t.is(cancelled.status, 204, `cancel: ${cancelled.body.toString()}`);

  const ended = await waitForEnd(worker, transferId, 60_000);
  t.is(ended.transferStatus, 'cancelled');
  t.is(ended.replicationStatus, 'cancelled');

  const target = await replicaOn(worker, fileId, second.storageId);
  const recorded = totalLength(target.blocks);
  t.false(coversAll(target.blocks, size), `the target is not recorded as complete (${recorded} of ${size} bytes)`);
  t.true(recorded > 0, 'the target records the blocks copied before the cancel');
  const targetPath = onDisk(second.mountPoint, target.storageFileId);
  for (const [offset, length] of target.blocks) {
    t.is(
      await sha256OfFile(targetPath, { offset, length }),
      await sha256OfFile(t.context.source, { offset, length }),
      `recorded block ${offset}+${length} on the target storage has the original bytes`,
    );
  }
  const downloaded = await downloadHashed(worker, fileId);
  t.is(downloaded.sha256, t.context.sha1GiB, 'a read after the cancel returns the original bytes');

  const rerun = await send(worker, `${REST}/transfers/${transferId}/rerun`, { method: 'POST' });
  t.is(rerun.status, 201);
  const completed = await waitForEnd(worker, rerun.json().transferId as string, 5 * 60_000);
  t.is(completed.transferStatus, 'completed');
  t.is(completed.bytesReplicated, size - recorded, 'the rerun copied only the blocks the cancelled run had not recorded');
  t.is(await sha256OfFile(targetPath), t.context.sha1GiB, 'the target storage file has the original bytes after the rerun');
});
