import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import type { SpaceInfo } from '@op-worker/core';
import { API, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

interface Context {
  worker: TestWorker;
  /** A space supported only by an imported POSIX storage. */
  space: SpaceInfo;
  storageId: string;
}

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  const worker = await startTestWorker();
  const mountPoint = path.join(worker.root, 'imported');
  await mkdir(path.join(mountPoint, 'a', 'b'), { recursive: true });
  await writeFile(path.join(mountPoint, 'a', 'b', 'run.txt'), 'hello import');
  await writeFile(path.join(mountPoint, 'top.txt'), 'top');

  const storage = await worker.core.storages.add({ name: 'imported', type: 'posix', config: { mountPoint }, importedStorage: true });
  const space = await worker.core.spaces.create({ name: 'legacy', ownerUserId: worker.admin.id });
  await worker.core.spaces.support({ spaceId: space.spaceId, storageId: storage.storageId });
  t.context = { worker, space: await worker.core.spaces.get(space.spaceId), storageId: storage.storageId };
});

test.afterEach.always(async (t) => {
  await t.context.worker.close();
});

function register(t: { context: Context }, fields: Record<string, unknown>) {
  const body = { spaceId: t.context.space.spaceId, storageId: t.context.storageId, ...fields };
  return send(t.context.worker, `${API}/data/register`, { method: 'POST', body: JSON.stringify(body) });
}

test('register detects attributes', async (t) => {
  const { worker } = t.context;
  const response = await register(t, { storageFileId: '/a/b/run.txt', destinationPath: '/a/b/run.txt' });
  t.is(response.status, 201, response.text);
  t.true((response.headers.location ?? '').endsWith(`/data/${response.json.fileId}`));

  const attributes = await send(worker, `${API}/data/${response.json.fileId}`);
  t.is(attributes.json.size, 12);
  t.is(attributes.json.path, '/legacy/a/b/run.txt');
  t.is((await send(worker, `${API}/data/${response.json.fileId}/content`)).text, 'hello import');

  const lookup = await send(worker, `${API}/lookup-file-id/legacy/a/b`, { method: 'POST' });
  t.is(lookup.status, 200, 'parent directories are created');
  const top = await send(worker, `${API}/lookup-file-id/legacy/top.txt`, { method: 'POST' });
  t.is(top.status, 404, 'only the named file is registered');
});

test('register sets and merges metadata', async (t) => {
  const { worker } = t.context;
  const rdf = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>';
  const first = await register(t, {
    storageFileId: '/top.txt',
    destinationPath: '/top.txt',
    mode: '640',
    mtime: 1_600_000_000,
    uid: '1001',
    gid: 1002,
    xattrs: { colour: 'red' },
    json: { run: 5 },
    rdf: Buffer.from(rdf).toString('base64'),
  });
  t.is(first.status, 201, first.text);
  const fileId = first.json.fileId as string;

  const attributes = await send(worker, `${API}/data/${fileId}`);
  t.is(attributes.json.posixPermissions, '640');
  t.is(attributes.json.mtime, 1_600_000_000);
  t.is(attributes.json.displayUid, 1001);
  t.is(attributes.json.displayGid, 1002);
  t.deepEqual((await send(worker, `${API}/data/${fileId}/metadata/json`)).json, { run: 5 });
  t.is((await send(worker, `${API}/data/${fileId}/metadata/rdf`)).text, rdf);

  const again = await register(t, { storageFileId: '/top.txt', destinationPath: '/top.txt', mode: '600', xattrs: { country: 'FR' } });
  t.is(again.status, 201, again.text);
  t.is(again.json.fileId, fileId, 'registering again updates the same file');
  t.is((await send(worker, `${API}/data/${fileId}`)).json.posixPermissions, '600');
  t.deepEqual((await send(worker, `${API}/data/${fileId}/metadata/xattrs`)).json, { colour: 'red', country: 'FR' });
});

test('register without detection needs size', async (t) => {
  const missingSize = await register(t, { storageFileId: '/later.bin', destinationPath: '/later.bin', autoDetectAttributes: false });
  t.is(missingSize.status, 400);
  t.is(missingSize.json.error.details.key, 'size');

  const withSize = await register(t, { storageFileId: '/later.bin', destinationPath: '/later.bin', autoDetectAttributes: false, size: 5 });
  t.is(withSize.status, 201, 'a file not yet on the storage may be registered without detection');
  t.is((await send(t.context.worker, `${API}/data/${withSize.json.fileId}`)).json.size, 5);
});

test('register rejects bad requests', async (t) => {
  const { worker } = t.context;
  const cases: Array<[string, Record<string, unknown>, number, string | undefined]> = [
    ['missing on storage', { storageFileId: '/nope.txt', destinationPath: '/nope.txt' }, 404, undefined],
    ['directory', { storageFileId: '/a', destinationPath: '/a' }, 400, 'storageFileId'],
    ['paths differ', { storageFileId: '/top.txt', destinationPath: '/elsewhere.txt' }, 400, 'storageFileId'],
    ['space root', { storageFileId: '/', destinationPath: '/' }, 400, 'destinationPath'],
    ['bad mode', { storageFileId: '/top.txt', destinationPath: '/top.txt', mode: '999' }, 400, 'mode'],
    ['unknown field', { storageFileId: '/top.txt', destinationPath: '/top.txt', colour: 'red' }, 400, 'colour'],
    ['not imported', { storageFileId: '/top.txt', destinationPath: '/top.txt', storageId: worker.space.storageIds[0] }, 400, 'storageId'],
    ['unknown space', { storageFileId: '/top.txt', destinationPath: '/top.txt', spaceId: 'f'.repeat(32) }, 404, undefined],
  ];
  for (const [label, fields, status, key] of cases) {
    const response = await register(t, fields);
    t.is(response.status, status, `${label}: ${response.text}`);
    if (key !== undefined) t.is(response.json.error.details.key, key, label);
  }
});

test('register needs space membership', async (t) => {
  const { worker } = t.context;
  const user = await worker.core.users.create({ name: 'stranger', isAdmin: false });
  const token = (await worker.core.tokens.create(user.id)).token;
  const body = JSON.stringify({ spaceId: t.context.space.spaceId, storageId: t.context.storageId, storageFileId: '/top.txt', destinationPath: '/top.txt' });
  const response = await send(worker, `${API}/data/register`, { method: 'POST', token, body });
  t.is(response.status, 403);
});
