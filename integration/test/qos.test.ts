import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { coversAll, OpError, QosExpressionError, transferStatus, type Core, type Identity, type QosStatus, type SpaceInfo } from '@op-worker/core';
import { readAll, streamOf } from '../src/fixture.js';
import { openPosixAndS3, posixAndS3Space as createPosixAndS3Space, type PosixAndS3 } from './posix-s3-fixture.js';
import { waitForTransferEnd } from './transfers-fixture.js';

const owner: Identity = { userId: 'alice', isAdmin: false };
let fixture: PosixAndS3;
let core: Core;

test.before(async () => {
  fixture = await openPosixAndS3('op-qos-');
  core = fixture.core;
});

test.after.always(async () => {
  await fixture?.close();
});

/** Create a space on a new POSIX storage (taking new data) and a new S3 bucket. */
function posixAndS3Space(name: string): Promise<{ space: SpaceInfo; posix: string; s3: string }> {
  return createPosixAndS3Space(fixture, owner, name, { posix: { storageType: 'posix', geo: 'PL' }, s3: { storageType: 's3', geo: 'DE', speed: '50' } });
}

async function waitForStatus(qosRequirementId: string, expected: QosStatus, timeoutMs = 50_000): Promise<QosStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await core.qos.get(owner, qosRequirementId);
    if (status === expected || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function heldOn(fileId: string, storageId: string): Promise<boolean> {
  const distribution = await core.lfs.getDistribution(owner, fileId);
  const storage = distribution.storages.find((entry) => entry.storageId === storageId);
  return coversAll(storage?.blocks ?? [], distribution.size);
}

test('requirement on a directory replicates its files to S3', async (t) => {
  const { space, s3: s3Storage } = await posixAndS3Space('qos-dir');
  const dir = await core.lfs.create(owner, space.dirId, 'dataset', { type: 'DIR' });
  const fileIds: string[] = [];
  for (let index = 0; index < 1000; index++) {
    const file = await core.lfs.create(owner, dir.fileId, `file-${index}`, { type: 'REG', content: streamOf(`content of file ${index}`) });
    fileIds.push(file.fileId);
  }

  const requirement = await core.qos.add(owner, { fileId: dir.fileId, expression: 'storageType=s3' });
  t.true(requirement.possible);
  t.deepEqual(requirement.assignedStorages, [s3Storage]);
  t.is(await waitForStatus(requirement.qosRequirementId, 'fulfilled'), 'fulfilled');
  for (const fileId of fileIds) t.true(await heldOn(fileId, s3Storage), fileId);

  const summary = await core.qos.summary(owner, fileIds[7] as string);
  t.deepEqual(summary, { requirements: { [requirement.qosRequirementId]: 'fulfilled' }, status: 'fulfilled' });

  // A file created later under the directory is replicated too.
  const later = await core.lfs.create(owner, dir.fileId, 'later', { type: 'REG', content: streamOf('written after the requirement') });
  const deadline = Date.now() + 30_000;
  while (!(await heldOn(later.fileId, s3Storage)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(await heldOn(later.fileId, s3Storage), 'the new file reached S3');
  t.is(await waitForStatus(requirement.qosRequirementId, 'fulfilled'), 'fulfilled');

  // A write is reconciled: S3 gets the new bytes again.
  await core.lfs.write(owner, later.fileId, streamOf('WRITTEN'), { offset: 0 });
  const rewritten = Date.now() + 30_000;
  while (!(await heldOn(later.fileId, s3Storage)) && Date.now() < rewritten) await new Promise((resolve) => setTimeout(resolve, 50));
  const helper = await core.storages.helper(s3Storage);
  const onS3 = (await core.lfs.getDistribution(owner, later.fileId)).storages.find((entry) => entry.storageId === s3Storage);
  t.is((await readAll(await helper.read(onS3?.storageFileId as string))).toString(), 'WRITTEN after the requirement');

  const audit = await core.qos.auditLog(owner, requirement.qosRequirementId, 0, 5000);
  t.true(audit.isLast);
  t.true(audit.logEntries.length >= 1001, `audit log has ${audit.logEntries.length} entries`);
  t.true(audit.logEntries.every((entry) => entry.content.status === 'completed'));
});

test('impossible requirement becomes fulfilled after a matching storage', async (t) => {
  const { space } = await posixAndS3Space('qos-impossible');
  const file = await core.lfs.create(owner, space.dirId, 'f', { type: 'REG', content: streamOf('needs tape') });
  const requirement = await core.qos.add(owner, { fileId: file.fileId, expression: 'storageType=tape' });
  t.false(requirement.possible);
  t.is((await core.qos.get(owner, requirement.qosRequirementId)).status, 'impossible');
  t.is((await core.qos.summary(owner, file.fileId)).status, 'impossible');

  const mountPoint = path.join(fixture.workDir, 'tape');
  await mkdir(mountPoint);
  const tape = await core.storages.add({ name: 'tape', type: 'posix', config: { mountPoint }, qosParameters: { storageType: 'tape' } });
  await core.spaces.support({ spaceId: space.spaceId, storageId: tape.storageId });
  t.is(await waitForStatus(requirement.qosRequirementId, 'fulfilled'), 'fulfilled');
  t.true(await heldOn(file.fileId, tape.storageId));
});

test('replicasNum above the matching storages is impossible', async (t) => {
  const { space } = await posixAndS3Space('qos-replicas');
  const file = await core.lfs.create(owner, space.dirId, 'f', { type: 'REG', content: streamOf('two copies') });
  const three = await core.qos.add(owner, { fileId: file.fileId, expression: 'anyStorage', replicasNum: 3 });
  t.is((await core.qos.get(owner, three.qosRequirementId)).status, 'impossible');
  const two = await core.qos.add(owner, { fileId: file.fileId, expression: 'anyStorage', replicasNum: 2 });
  t.is(await waitForStatus(two.qosRequirementId, 'fulfilled'), 'fulfilled');
  t.is(two.assignedStorages.length, 2);
  await t.throwsAsync(core.qos.add(owner, { fileId: file.fileId, expression: 'anyStorage', replicasNum: 0 }));
});

test('QoS replicas are protected from eviction until removed', async (t) => {
  const { space, posix, s3: s3Storage } = await posixAndS3Space('qos-protect');
  const file = await core.lfs.create(owner, space.dirId, 'kept', { type: 'REG', content: streamOf('protected bytes') });
  const requirement = await core.qos.add(owner, { fileId: file.fileId, expression: 'geo=DE' });
  t.is(await waitForStatus(requirement.qosRequirementId, 'fulfilled'), 'fulfilled');

  const keptEviction = await core.transfers.create(owner, { type: 'eviction', fileId: file.fileId, evictingStorageId: s3Storage });
  const ended = await waitForTransferEnd(core, owner, keptEviction.transferId);
  t.is(transferStatus(ended), 'completed');
  t.is(ended.filesEvicted, 0, 'the QoS replica was kept');
  t.true(await heldOn(file.fileId, s3Storage));

  const fromPosix = await core.transfers.create(owner, { type: 'eviction', fileId: file.fileId, evictingStorageId: posix });
  t.is((await waitForTransferEnd(core, owner, fromPosix.transferId)).filesEvicted, 1, 'the unprotected replica goes');
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'protected bytes');

  const back = await core.transfers.create(owner, { type: 'replication', fileId: file.fileId, replicatingStorageId: posix });
  await waitForTransferEnd(core, owner, back.transferId);
  await core.qos.remove(owner, requirement.qosRequirementId);
  await t.throwsAsync(core.qos.get(owner, requirement.qosRequirementId));
  const allowed = await core.transfers.create(owner, { type: 'eviction', fileId: file.fileId, evictingStorageId: s3Storage });
  t.is((await waitForTransferEnd(core, owner, allowed.transferId)).filesEvicted, 1, 'after removal the replica may go');
});

test('evaluate an expression against a space', async (t) => {
  const { space, posix, s3: s3Storage } = await posixAndS3Space('qos-evaluate');
  const ids = async (expression: string): Promise<string[]> => (await core.qos.evaluate(owner, space.spaceId, expression)).map((storage) => storage.id).sort();
  t.deepEqual(await ids('anyStorage'), [posix, s3Storage].sort());
  t.deepEqual(await ids('speed > 10'), [s3Storage]);
  t.deepEqual(await ids('anyStorage \\ geo=DE'), [posix]);
  t.deepEqual(await ids(`storageId=${posix}`), [posix]);
  const matching = await core.qos.evaluate(owner, space.spaceId, 'storageType=s3');
  t.deepEqual(matching, [{ id: s3Storage, name: 'qos-evaluate-s3', providerId: 'local-provider' }]);
  const error = await t.throwsAsync(core.qos.evaluate(owner, space.spaceId, 'storageType='));
  t.true(QosExpressionError.isQos(error));
  const stranger: Identity = { userId: 'mallory', isAdmin: false };
  const denied = await t.throwsAsync(core.qos.evaluate(stranger, space.spaceId, 'anyStorage'));
  t.true(OpError.is(denied));
});
