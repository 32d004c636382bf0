import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { cliJson, REST, runCli, send, startWorkerProcess } from '../src/servers/worker.js';

test('transfer watch follows a replication on the worker binary', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'op-transfer-cli-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const worker = await startWorkerProcess(dataDir);
  t.teardown(() => worker.stop());

  const mountPoint = path.join(dataDir, 'second-storage');
  await mkdir(mountPoint);
  const storage = await cliJson<{ storageId: string; qosParameters: Record<string, string> }>(
    dataDir, 'storage', 'add', '--name', 'second', '--config', JSON.stringify({ mountPoint }), '--qos-parameters', '{"storageType":"posix","speed":"5"}',
  );
  t.like(storage.qosParameters, { storageType: 'posix', speed: '5' });
  const space = await cliJson<{ spaceId: string; dirId: string; storageIds: string[] }>(dataDir, 'space', 'support', 'default', '--storage', 'second');
  t.true(space.storageIds.includes(storage.storageId));

  const content = randomBytes(24 * 1024 * 1024);
  const created = await send(worker, `${REST}/data/${space.dirId}/children?name=big.bin`, {
    method: 'POST',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  t.is(created.status, 201);
  const fileId = created.json().fileId as string;
  const scheduled = await send(worker, `${REST}/transfers`, {
    method: 'POST',
    body: Buffer.from(JSON.stringify({ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: storage.storageId })),
    headers: { 'Content-Type': 'application/json' },
  });
  t.is(scheduled.status, 201);
  const transferId = scheduled.json().transferId as string;

  const watched = await runCli(dataDir, 'transfer', 'watch', transferId);
  t.is(watched.code, 0, watched.stderr);
  const record = JSON.parse(watched.stdout) as Record<string, unknown>;
  t.is(record['transferId'], transferId);
  t.is(record['transferStatus'], 'completed', 'the REST shape of the transfer');
  t.is(record['replicationStatus'], 'completed');
  t.is(record['bytesReplicated'], content.length);
  t.false('jobId' in record, 'no internal fields');
  t.false('bucketKey' in record, 'no internal fields');
  t.regex(watched.stderr, /completed .*100%/, 'the progress bar ends at 100%');

  const distribution = (await send(worker, `${REST}/data/${fileId}/distribution`)).json();
  const perStorage = Object.values(distribution.distributionPerProvider)[0] as { distributionPerStorage: Record<string, { blocks: number[][] }> };
  t.deepEqual(perStorage.distributionPerStorage[storage.storageId]?.blocks, [[0, content.length]]);

  const shown = await cliJson<{ transferId: string; transferStatus: string }>(dataDir, 'transfer', 'show', transferId);
  t.is(shown.transferId, transferId);
  t.is(shown.transferStatus, 'completed');
});
