import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { systemClock } from '@op-worker/core';
import { createApp } from '../src/app.js';
import { DEFAULT_CONFIG } from '../src/config.js';
import { spacePrivilegeCheck } from '../src/rest/privileges.js';
import { API, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

/** A test worker whose app serves transfers and QoS, on a space supported by two POSIX storages. */
interface Context {
  worker: TestWorker;
  second: string;
  first: string;
}

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  const base = await startTestWorker();
  const { core } = base;
  const mountPoint = path.join(base.root, 'second');
  await mkdir(mountPoint);
  const second = await core.storages.add({ name: 'second', type: 'posix', config: { mountPoint }, qosParameters: { tier: 'cold', speed: '5' } });
  const space = await core.spaces.support({ spaceId: base.space.spaceId, storageId: second.storageId });
  const app = createApp({
    lfs: core.lfs,
    users: core.users,
    tokens: core.tokens,
    logger: pino({ level: 'silent' }),
    provider: { providerId: DEFAULT_CONFIG.providerId, name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    dataManagement: { transfers: core.transfers, qos: core.qos },
    spacePrivileges: spacePrivilegeCheck(core.store, systemClock),
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  core.jobs.start();
  const worker: TestWorker = {
    ...base,
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await base.close();
    },
  };
  t.context = { worker, first: space.storageIds[0] as string, second: second.storageId };
});

test.afterEach.always(async (t) => {
  await t.context.worker.close();
});

async function createFile(worker: TestWorker, parentId: string, name: string, content: string): Promise<string> {
  const response = await send(worker, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (response.status !== 201) throw new Error(`creating ${name} failed: ${response.status} ${response.text}`);
  return response.json.fileId as string;
}

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

async function waitForEnd(worker: TestWorker, transferId: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await send(worker, `${API}/transfers/${transferId}`);
    if (response.json.finishTime !== 0 || Date.now() > deadline) return response.json;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('schedule, watch and list a replication', async (t) => {
  const { worker, second } = t.context;
  const fileId = await createFile(worker, worker.space.dirId, 'data.bin', 'replicate these bytes');

  const created = await send(worker, `${API}/transfers`, json({ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: second }));
  t.is(created.status, 201);
  t.regex(created.headers.location ?? '', new RegExp(`/transfers/${created.json.transferId}$`));

  const status = await waitForEnd(worker, created.json.transferId);
  t.is(status.transferStatus, 'completed');
  t.is(status.replicationStatus, 'completed');
  t.is(status.evictionStatus, 'skipped');
  t.is(status.bytesReplicated, 21);
  t.is(status.filesReplicated, 1);
  t.is(status.replicatingProviderId, second);
  t.is(status.evictingProviderId, null);
  t.is(status.effectiveJobTransferId, created.json.transferId);
  t.is(status.filePath, '/default/data.bin');

  const ended = await send(worker, `${API}/spaces/${worker.space.spaceId}/transfers?state=ended`);
  t.is(ended.status, 200);
  t.deepEqual(ended.json, { transfers: [created.json.transferId], nextPageToken: null });

  const distribution = await send(worker, `${API}/data/${fileId}/distribution`);
  const perStorage = distribution.json.distributionPerProvider[DEFAULT_CONFIG.providerId].distributionPerStorage;
  t.deepEqual(perStorage[second], { blocks: [[0, 21]], physicalSize: 21 });

  const cancel = await send(worker, `${API}/transfers/${created.json.transferId}`, { method: 'DELETE' });
  t.is(cancel.status, 400);
  t.is(cancel.json.error.id, 'transferAlreadyEnded');

  const rerun = await send(worker, `${API}/transfers/${created.json.transferId}/rerun`, { method: 'POST' });
  t.is(rerun.status, 201);
  await waitForEnd(worker, rerun.json.transferId);
  const old = await send(worker, `${API}/transfers/${created.json.transferId}`);
  t.is(old.json.rerunId, rerun.json.transferId);
  t.is(old.json.effectiveJobTransferId, rerun.json.transferId);
});

test('throughput charts of a replication', async (t) => {
  const { worker, second } = t.context;
  const fileId = await createFile(worker, worker.space.dirId, 'charted.bin', 'bytes to chart');
  const created = await send(worker, `${API}/transfers`, json({ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: second }));
  await waitForEnd(worker, created.json.transferId);
  const charts = `${API}/transfers/${created.json.transferId}/throughput_charts`;
  const query = (body: unknown) => send(worker, charts, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  const layout = await send(worker, charts);
  t.is(layout.status, 200);
  t.deepEqual(layout.json, { layout: { bytes: ['day', 'hour', 'minute', 'month'], files: ['day', 'hour', 'minute', 'month'] } });

  const slice = await query({ mode: 'slice', layout: { bytes: ['minute', 'month'], files: ['hour'] }, extendedInfo: true });
  t.is(slice.status, 200);
  const minute = slice.json.slice.bytes.minute;
  t.is(minute.length, 1);
  t.is(minute[0].value, 14);
  t.is(minute[0].timestamp % 60, 0);
  t.true(minute[0].firstMeasurementTimestamp >= minute[0].timestamp);
  t.is(slice.json.slice.bytes.month[0].value, 14);
  t.is(slice.json.slice.files.hour[0].value, 1);
  t.deepEqual(Object.keys(slice.json.slice), ['bytes', 'files']);

  const plain = await query({ mode: 'slice', layout: { bytes: ['minute'] } });
  t.deepEqual(Object.keys(plain.json.slice.bytes.minute[0]).sort(), ['timestamp', 'value']);
  const before = await query({ mode: 'slice', layout: { bytes: ['minute'] }, startTimestamp: minute[0].timestamp - 1 });
  t.deepEqual(before.json.slice.bytes.minute, [], 'no window starts before the transfer');
  const limited = await query({ mode: 'slice', layout: { bytes: ['minute'] }, windowLimit: 0 });
  t.deepEqual(limited.json.slice.bytes.minute, []);

  t.is((await query({ mode: 'slice', layout: { speed: ['minute'] } })).status, 400);
  t.is((await query({ mode: 'slice', layout: { bytes: ['week'] } })).status, 400);
  t.is((await query({ mode: 'slice' })).status, 400);
  t.is((await send(worker, `${API}/transfers/nope/throughput_charts`)).status, 404);
});

test('transfer requests are validated', async (t) => {
  const { worker, first } = t.context;
  const fileId = await createFile(worker, worker.space.dirId, 'x', 'x');
  const cases: Array<[unknown, number, string]> = [
    [{ type: 'replication', dataSourceType: 'file', fileId }, 400, 'missingRequiredValue'],
    [{ type: 'teleport', dataSourceType: 'file', fileId, replicatingProviderId: first }, 400, 'badValue'],
    [{ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: 'unknown-storage' }, 400, 'spaceNotSupportedBy'],
    [{ type: 'migration', dataSourceType: 'file', fileId, replicatingProviderId: first, evictingProviderId: first }, 400, 'badValue'],
    [{ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: first, evictingProviderId: first }, 400, 'badValue'],
    [{ type: 'eviction', dataSourceType: 'file', fileId, replicatingProviderId: first, evictingProviderId: first }, 400, 'badValue'],
    [{ type: 'replication', dataSourceType: 'view', spaceId: worker.space.spaceId, viewName: 'v', replicatingProviderId: first }, 501, 'notImplemented'],
    [{ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: first, callback: 'file:///etc/passwd' }, 400, 'badValue'],
    [{ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: first, callback: `http://127.0.0.1/${'a'.repeat(5000)}` }, 400, 'badValue'],
  ];
  for (const [body, status, id] of cases) {
    const response = await send(worker, `${API}/transfers`, json(body));
    t.is(response.status, status, JSON.stringify(body));
    t.is(response.json.error.id, id, JSON.stringify(body));
  }
  const replicationWithEvicting = await send(worker, `${API}/transfers`, json({ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: first, evictingProviderId: first }));
  t.is(replicationWithEvicting.json.error.details.key, 'evictingProviderId');
  t.is((await send(worker, `${API}/transfers/nope`)).status, 404);
  t.is((await send(worker, `${API}/spaces/${worker.space.spaceId}/transfers?state=later`)).status, 400);
});

test('eviction through REST keeps the last replica', async (t) => {
  const { worker, first } = t.context;
  const fileId = await createFile(worker, worker.space.dirId, 'only', 'one copy');
  const created = await send(worker, `${API}/transfers`, json({ type: 'eviction', dataSourceType: 'file', fileId, evictingProviderId: first }));
  t.is(created.status, 201);
  const status = await waitForEnd(worker, created.json.transferId);
  t.is(status.transferStatus, 'completed');
  t.is(status.replicationStatus, 'skipped');
  t.is(status.filesEvicted, 0);
  t.is(status.replicatingProviderId, null);
});

test('QoS requirement through REST', async (t) => {
  const { worker, second } = t.context;
  const dir = await send(worker, `${API}/data/${worker.space.dirId}/children?name=dir&type=DIR`, { method: 'POST' });
  t.is(dir.status, 201);
  const fileId = await createFile(worker, dir.json.fileId, 'f', 'qos bytes');

  const evaluated = await send(worker, `${API}/spaces/${worker.space.spaceId}/evaluate_qos_expression`, json({ expression: 'tier=cold' }));
  t.is(evaluated.status, 200);
  t.deepEqual(evaluated.json, { matchingStorages: [{ id: second, name: 'second', providerId: DEFAULT_CONFIG.providerId }] });
  const invalid = await send(worker, `${API}/spaces/${worker.space.spaceId}/evaluate_qos_expression`, json({ expression: 'tier=' }));
  t.is(invalid.status, 400);
  t.is(invalid.json.error.id, 'invalidQosExpression');

  const added = await send(worker, `${API}/qos_requirements`, json({ fileId: dir.json.fileId, expression: 'speed < 10' }));
  t.is(added.status, 201);
  const qid = added.json.qosRequirementId;
  let requirement = await send(worker, `${API}/qos_requirements/${qid}`);
  for (const deadline = Date.now() + 30_000; requirement.json.status !== 'fulfilled' && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    requirement = await send(worker, `${API}/qos_requirements/${qid}`);
  }
  t.deepEqual(requirement.json, { qosRequirementId: qid, fileId: dir.json.fileId, expression: 'speed<10', replicasNum: 1, status: 'fulfilled' });

  const summary = await send(worker, `${API}/data/${fileId}/qos/summary`);
  t.deepEqual(summary.json, { requirements: { [qid]: 'fulfilled' }, status: 'fulfilled' });

  const audit = await send(worker, `${API}/qos_requirements/${qid}/audit_log`);
  t.is(audit.status, 200);
  t.is(audit.json.isLast, true);
  t.is(audit.json.logEntries.length, 1);
  t.is(audit.json.logEntries[0].content.fileId, fileId);
  t.is(audit.json.logEntries[0].content.status, 'completed');
  const future = await send(worker, `${API}/qos_requirements/${qid}/audit_log?timestamp=${Math.floor(Date.now() / 1000) + 3600}`);
  t.deepEqual(future.json, { isLast: true, logEntries: [] });

  const impossible = await send(worker, `${API}/qos_requirements`, json({ fileId, expression: 'anyStorage', replicasNum: 3 }));
  t.is(impossible.status, 201);
  t.is((await send(worker, `${API}/qos_requirements/${impossible.json.qosRequirementId}`)).json.status, 'impossible');
  t.is((await send(worker, `${API}/data/${fileId}/qos/summary`)).json.status, 'impossible');

  const bad = await send(worker, `${API}/qos_requirements`, json({ fileId, expression: 'a=b)' }));
  t.is(bad.status, 400);
  t.is(bad.json.error.id, 'invalidQosExpression');
  const zero = await send(worker, `${API}/qos_requirements`, json({ fileId, expression: 'anyStorage', replicasNum: 0 }));
  t.is(zero.status, 400);

  t.is((await send(worker, `${API}/qos_requirements/${qid}`, { method: 'DELETE' })).status, 204);
  t.is((await send(worker, `${API}/qos_requirements/${qid}`)).status, 404);
});

test('QoS attributes follow the requirements', async (t) => {
  const { worker } = t.context;
  const dir = await send(worker, `${API}/data/${worker.space.dirId}/children?name=qdir&type=DIR`, { method: 'POST' });
  const fileId = await createFile(worker, dir.json.fileId, 'f', 'qos bytes');
  const qosOf = async (id: string): Promise<unknown> =>
    (await send(worker, `${API}/data/${id}?attributes=aggregateQosStatus,effQosInheritancePath`)).json;

  t.deepEqual(await qosOf(fileId), { aggregateQosStatus: 'fulfilled', effQosInheritancePath: 'none' });

  const impossible = await send(worker, `${API}/qos_requirements`, json({ fileId: dir.json.fileId, expression: 'anyStorage', replicasNum: 3 }));
  t.is(impossible.status, 201);
  t.is((await send(worker, `${API}/data/${fileId}/qos/summary`)).json.status, 'impossible');
  t.deepEqual(await qosOf(fileId), { aggregateQosStatus: 'impossible', effQosInheritancePath: 'ancestor' });
  t.deepEqual(await qosOf(dir.json.fileId), { aggregateQosStatus: 'impossible', effQosInheritancePath: 'direct' });

  const listed = await send(worker, `${API}/data/${dir.json.fileId}/children?attributes=name,aggregateQosStatus`);
  t.deepEqual(listed.json.children, [{ name: 'f', aggregateQosStatus: 'impossible' }]);

  await send(worker, `${API}/qos_requirements`, json({ fileId, expression: 'anyStorage' }));
  t.is((await qosOf(fileId) as { effQosInheritancePath: string }).effQosInheritancePath, 'direct_and_ancestor');

  await send(worker, `${API}/qos_requirements/${impossible.json.qosRequirementId}`, { method: 'DELETE' });
  t.deepEqual(await qosOf(dir.json.fileId), { aggregateQosStatus: 'fulfilled', effQosInheritancePath: 'none' });
});
