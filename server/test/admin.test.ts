import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { send, startTestWorker, type TestWorker } from './helpers.js';

interface Context {
  worker: TestWorker;
  admin: TestWorker;
  server: Server;
}

const test = anyTest as TestFn<Context>;
const PANEL = '/api/v3/onepanel';

test.beforeEach(async (t) => {
  const worker = await startTestWorker();
  const { core } = worker;
  const app = createApp({
    lfs: core.lfs, users: core.users, tokens: core.tokens, logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer },
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.context = { worker, server, admin: { ...worker, port: (server.address() as AddressInfo).port } };
});

test.afterEach.always(async (t) => {
  t.context.server.closeAllConnections();
  await new Promise<void>((resolve) => t.context.server.close(() => resolve()));
  await t.context.worker.close();
});

test('storages add, show redacted, remove', async (t) => {
  const { admin, worker } = t.context;
  const mountPoint = path.join(worker.root, 'second');
  await mkdir(mountPoint);
  const added = await send(admin, `${PANEL}/provider/storages`, { method: 'POST', body: JSON.stringify({ second: { type: 'posix', mountPoint } }) });
  t.is(added.status, 200, added.text);
  const id = added.json.second.id as string;

  const list = await send(admin, `${PANEL}/provider/storages`);
  t.true(list.json.ids.includes(id));
  const details = await send(admin, `${PANEL}/provider/storages/${id}`);
  t.is(details.json.name, 'second');
  t.is(details.json.type, 'posix');
  t.is(details.json.mountPoint, mountPoint);

  const bad = await send(admin, `${PANEL}/provider/storages`, { method: 'POST', body: JSON.stringify({ x: { type: 'nope' } }) });
  t.is(bad.status, 400);

  t.is((await send(admin, `${PANEL}/provider/storages/${id}`, { method: 'DELETE' })).status, 204);
  t.is((await send(admin, `${PANEL}/provider/storages/${id}`)).status, 404);
});

test('storage in use cannot be removed', async (t) => {
  const { admin, worker } = t.context;
  const response = await send(admin, `${PANEL}/provider/storages/${worker.space.storageIds[0]}`, { method: 'DELETE' });
  t.is(response.status, 409);
});

test('space support and import info', async (t) => {
  const { admin, worker } = t.context;
  const user = await worker.core.users.create({ name: 'owner', isAdmin: false });
  const space = await worker.core.spaces.create({ name: 'fresh', ownerUserId: user.id });
  const storageId = worker.space.storageIds[0]!;

  const supported = await send(admin, `${PANEL}/provider/spaces`, { method: 'POST', body: JSON.stringify({ token: space.spaceId, size: 1000, storageId }) });
  t.is(supported.status, 201, supported.text);
  t.is(supported.json.id, space.spaceId);
  t.true((await send(admin, `${PANEL}/provider/spaces`)).json.ids.includes(space.spaceId));
  t.is((await send(admin, `${PANEL}/provider/spaces/${space.spaceId}`)).json.storageId, storageId);
  const info = await send(admin, `${PANEL}/provider/spaces/${space.spaceId}/storage-import/auto/info`);
  t.is(info.status, 200);
  t.is(info.json.totalScans, 0);
});

test('non-admin is forbidden', async (t) => {
  const { admin, worker } = t.context;
  const user = await worker.core.users.create({ name: 'plain', isAdmin: false });
  const token = (await worker.core.tokens.create(user.id)).token;
  const response = await send(admin, `${PANEL}/provider/storages`, { token });
  t.is(response.status, 403);
  t.is((await send(admin, `${PANEL}/provider/storages`, { token: null })).status, 401);
});

test('import force-stop aborts scan', async (t) => {
  const { admin, worker } = t.context;
  const mountPoint = path.join(worker.root, 'many');
  await mkdir(mountPoint);
  const total = 1000;
  for (let index = 0; index < total; index++) await writeFile(path.join(mountPoint, `f${index}`), 'x');
  const storage = await worker.core.storages.add({ name: 'many', type: 'posix', config: { mountPoint }, importedStorage: true });
  const space = await worker.core.spaces.create({ name: 'many', ownerUserId: worker.admin.id });
  await worker.core.spaces.support({ spaceId: space.spaceId, storageId: storage.storageId });

  const idle = await send(admin, `${PANEL}/provider/spaces/${space.spaceId}/storage-import/auto/force-stop`, { method: 'POST' });
  t.is(idle.status, 204, 'stopping without a running scan is accepted');

  const scan = worker.core.importer.scan(space.spaceId);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    if ((await worker.core.importer.stats(space.spaceId))?.status === 'running') break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const response = await send(admin, `${PANEL}/provider/spaces/${space.spaceId}/storage-import/auto/force-stop`, { method: 'POST' });
  t.is(response.status, 204);
  const stats = await scan;
  t.is(stats.status, 'aborted');
  t.true(stats.createdFiles < total, `created ${stats.createdFiles} of ${total}`);

  const info = await send(admin, `${PANEL}/provider/spaces/${space.spaceId}/storage-import/auto/info`);
  t.is(info.json.status, 'aborted');
  const again = await worker.core.importer.scan(space.spaceId);
  t.is(again.status, 'completed', 'a later scan finishes the import');
  t.is(again.createdFiles, total - stats.createdFiles);
});
