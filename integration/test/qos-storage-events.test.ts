import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { coversAll, QOS_COLLECTIONS, type Core, type Identity, type QosRequirementDoc, type QosStatus } from '@op-worker/core';
import { streamOf } from '../src/fixture.js';
import { openTestCore } from './transfers-fixture.js';

const owner: Identity = { userId: 'alice', isAdmin: false };
let core: Core;
let workDir: string;

test.before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'op-qos-events-'));
  // The job runner stays stopped until the test starts it, so no periodic poll can
  // re-evaluate requirements: only a `storage.changed` event can.
  core = await openTestCore(workDir);
});

test.after.always(async () => {
  await core?.close();
  await rm(workDir, { recursive: true, force: true });
});

async function posixStorage(name: string, qosParameters: Record<string, string>): Promise<string> {
  const mountPoint = path.join(workDir, name);
  await mkdir(mountPoint);
  return (await core.storages.add({ name, type: 'posix', config: { mountPoint }, qosParameters })).storageId;
}

/** Read the stored requirement directly, because `qos.get` would itself retry the assignment. */
async function stored(qosRequirementId: string): Promise<QosRequirementDoc> {
  const document = await core.store.get<QosRequirementDoc>(QOS_COLLECTIONS.requirement, qosRequirementId);
  if (!document) throw new Error(`QoS requirement ${qosRequirementId} not found in the store`);
  return document.value;
}

async function waitForStatus(qosRequirementId: string, expected: QosStatus, timeoutMs = 30_000): Promise<QosStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await core.qos.get(owner, qosRequirementId);
    if (status === expected || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('impossible requirement assigned on support', async (t) => {
  const hot = await posixStorage('hot', { tier: 'hot' });
  const created = await core.spaces.create({ name: 'events', ownerUserId: owner.userId });
  const space = await core.spaces.support({ spaceId: created.spaceId, storageId: hot });
  const file = await core.lfs.create(owner, space.dirId, 'data.bin', { type: 'REG', content: streamOf('bytes that must reach the archive') });

  const requirement = await core.qos.add(owner, { fileId: file.fileId, expression: 'tier=archive' });
  t.false(requirement.possible);

  // A matching storage that does not support the space yet changes nothing.
  const archive = await posixStorage('archive', { tier: 'archive' });
  t.false((await stored(requirement.qosRequirementId)).possible);

  await core.spaces.support({ spaceId: created.spaceId, storageId: archive });
  const assigned = await stored(requirement.qosRequirementId);
  t.true(assigned.possible);
  t.deepEqual(assigned.assignedStorages, [archive]);

  core.jobs.start();
  t.is(await waitForStatus(requirement.qosRequirementId, 'fulfilled'), 'fulfilled');
  const distribution = await core.lfs.getDistribution(owner, file.fileId);
  const onArchive = distribution.storages.find((entry) => entry.storageId === archive);
  t.true(coversAll(onArchive?.blocks ?? [], distribution.size));
});
