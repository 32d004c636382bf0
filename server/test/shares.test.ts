import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import { decodeFileId, encodeFileId } from '@op-worker/core';
import { API, createFile, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

interface Context {
  worker: TestWorker;
  /** Id of the shared directory `pub` in the space, and of `pub/sub/data.txt`. */
  dirId: string;
  fileId: string;
  outsideId: string;
}

const test = anyTest as TestFn<Context>;

test.beforeEach(async (t) => {
  const worker = await startTestWorker();
  const root = worker.space.dirId;
  const dir = await send(worker, `${API}/data/${root}/children?name=pub&type=DIR&mode=${0o755}`, { method: 'POST' });
  const file = await send(worker, `${API}/data/${root}/path/pub/sub/data.txt?create_parents=true&mode=${0o644}`, { method: 'PUT', body: 'shared bytes' });
  const outsideId = await createFile(worker, 'private.txt', 'secret');
  t.context = { worker, dirId: dir.json.fileId, fileId: file.json.fileId, outsideId };
});

test.afterEach.always(async (t) => {
  await t.context.worker.close();
});

async function createShare(t: { context: Context }, rootFileId: string, name = 'public data'): Promise<string> {
  const response = await send(t.context.worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name, rootFileId, description: '# Data' }) });
  if (response.status !== 201) throw new Error(`share creation failed: ${response.status} ${response.text}`);
  return response.json.shareId as string;
}

/** Build the share-scoped id of a file, as a guest reaches it. */
function scoped(fileId: string, shareId: string): string {
  return encodeFileId({ ...decodeFileId(fileId), shareId });
}

test('share create and get', async (t) => {
  const { worker, dirId } = t.context;
  const created = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name: 'results', rootFileId: dirId }) });
  t.is(created.status, 201, created.text);
  const shareId = created.json.shareId as string;
  t.regex(shareId, /^[0-9a-f]{32}$/);
  t.true((created.headers.location ?? '').endsWith(`${API}/shares/${shareId}`));

  const share = await send(worker, `${API}/shares/${shareId}`);
  t.is(share.status, 200);
  t.is(share.json.name, 'results');
  t.is(share.json.description, '');
  t.is(share.json.spaceId, worker.space.spaceId);
  t.is(share.json.rootFileType, 'DIR');
  t.is(share.json.rootFileId, scoped(dirId, shareId));
  t.is(share.json.handleId, null);
  t.true(share.json.publicUrl.endsWith(`/data/${share.json.rootFileId}/content`));

  const attributes = await send(worker, `${API}/data/${dirId}?attributes=directShareIds`);
  t.deepEqual(attributes.json.directShareIds, [shareId]);
});

test('share deprecated fileId field', async (t) => {
  const { worker, fileId } = t.context;
  const created = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name: 'one file', fileId }) });
  t.is(created.status, 201, created.text);
  t.is((await send(worker, `${API}/shares/${created.json.shareId}`)).json.rootFileType, 'REG');
});

test('share create rejects bad input', async (t) => {
  const { worker, dirId } = t.context;
  const cases: Array<[string, unknown, number]> = [
    ['no name', { rootFileId: dirId }, 400],
    ['no root', { name: 'x' }, 400],
    ['unknown field', { name: 'x', rootFileId: dirId, colour: 'red' }, 400],
    ['malformed id', { name: 'x', rootFileId: 'ZZ' }, 400],
  ];
  for (const [label, body, status] of cases) {
    const response = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify(body) });
    t.is(response.status, status, label);
  }
  const shareId = await createShare(t, dirId);
  const nested = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name: 'x', rootFileId: scoped(dirId, shareId) }) });
  t.is(nested.status, 400);
  t.is(nested.json.error.details.key, 'rootFileId');
});

test('guest reads shared attributes', async (t) => {
  const { worker, dirId } = t.context;
  const shareId = await createShare(t, dirId);
  const rootId = scoped(dirId, shareId);

  const response = await send(worker, `${API}/data/${rootId}`, { token: null });
  t.is(response.status, 200, response.text);
  t.is(response.json.fileId, rootId);
  t.is(response.json.name, 'pub');
  t.is(response.json.parentFileId, null);
  t.is(response.json.posixPermissions, '005');
  t.is(response.json.ownerUserId, undefined);
  t.is(response.json.path, undefined);

  const hidden = await send(worker, `${API}/data/${rootId}?attributes=ownerUserId`, { token: null });
  t.is(hidden.status, 400);
  t.is(hidden.json.error.details.key, 'attributes');
});

test('guest lists and downloads below share', async (t) => {
  const { worker, dirId, fileId } = t.context;
  const shareId = await createShare(t, dirId);
  const rootId = scoped(dirId, shareId);

  const children = await send(worker, `${API}/data/${rootId}/children`, { token: null });
  t.is(children.status, 200, children.text);
  t.is(children.json.children.length, 1);
  const sub = children.json.children[0];
  t.is(sub.name, 'sub');
  t.is(sub.parentFileId, rootId);
  t.is(decodeFileId(sub.fileId).shareId, shareId);

  const files = await send(worker, `${API}/data/${rootId}/files`, { token: null });
  t.is(files.status, 200, files.text);
  t.deepEqual(files.json.files.map((file: { fileId: string }) => file.fileId), [scoped(fileId, shareId)]);
  t.is(files.json.files[0].posixPermissions, '004');

  const content = await send(worker, `${API}/data/${scoped(fileId, shareId)}/content`, { token: null });
  t.is(content.status, 200);
  t.is(content.text, 'shared bytes');

  const byPath = await send(worker, `${API}/data/${rootId}/path/sub/data.txt`, { token: null, headers: { Range: 'bytes=0-5' } });
  t.is(byPath.status, 206);
  t.is(byPath.text, 'shared');

  const tar = await send(worker, `${API}/data/${rootId}/content`, { token: null });
  t.is(tar.status, 200);
  t.is(tar.headers['content-type'], 'application/x-tar');
  t.true(tar.body.includes(Buffer.from('pub/sub/data.txt')));
  t.true(tar.body.includes(Buffer.from('shared bytes')));
});

test('guest cannot change shared files', async (t) => {
  const { worker, dirId, fileId } = t.context;
  const shareId = await createShare(t, dirId);
  const rootId = scoped(dirId, shareId);
  const sharedFile = scoped(fileId, shareId);

  const attempts: Array<[string, string, string, string | undefined]> = [
    ['write', 'PUT', `${API}/data/${sharedFile}/content`, 'overwritten'],
    ['create', 'POST', `${API}/data/${rootId}/children?name=new.txt`, 'x'],
    ['create at path', 'PUT', `${API}/data/${rootId}/path/new.txt`, 'x'],
    ['delete', 'DELETE', `${API}/data/${sharedFile}`, undefined],
    ['chmod', 'PUT', `${API}/data/${sharedFile}`, JSON.stringify({ mode: '0777' })],
    ['xattrs', 'PUT', `${API}/data/${sharedFile}/metadata/xattrs`, JSON.stringify({ k: 'v' })],
  ];
  for (const [label, method, path, body] of attempts) {
    for (const token of [null, undefined]) {
      const response = await send(worker, path, { method, body, token });
      t.is(response.status, 403, `${label} ${token === null ? 'as guest' : 'with a token'}`);
      t.is(response.json.error.details.errno, 'eacces', label);
    }
  }
  t.is((await send(worker, `${API}/data/${fileId}/content`)).text, 'shared bytes');
});

test('guest reaches nothing outside share', async (t) => {
  const { worker, dirId, outsideId } = t.context;
  const shareId = await createShare(t, dirId);

  const forged = await send(worker, `${API}/data/${scoped(outsideId, shareId)}/content`, { token: null });
  t.is(forged.status, 404);
  const plain = await send(worker, `${API}/data/${outsideId}/content`, { token: null });
  t.is(plain.status, 401);
  const spaces = await send(worker, `${API}/spaces`, { token: null });
  t.is(spaces.status, 401);
  const shareInfo = await send(worker, `${API}/shares/${shareId}`, { token: null });
  t.is(shareInfo.status, 401);
  const unknownShare = await send(worker, `${API}/data/${scoped(dirId, 'f'.repeat(32))}`, { token: null });
  t.is(unknownShare.status, 404);
});

test('share update and delete', async (t) => {
  const { worker, dirId } = t.context;
  const shareId = await createShare(t, dirId);

  const renamed = await send(worker, `${API}/shares/${shareId}`, { method: 'PATCH', body: JSON.stringify({ name: 'renamed', description: 'new text' }) });
  t.is(renamed.status, 204);
  const shown = await send(worker, `${API}/shares/${shareId}`);
  t.is(shown.json.name, 'renamed');
  t.is(shown.json.description, 'new text');
  t.is((await send(worker, `${API}/shares/${shareId}`, { method: 'PATCH', body: '{}' })).status, 400);

  t.is((await send(worker, `${API}/shares/${shareId}`, { method: 'DELETE' })).status, 204);
  t.is((await send(worker, `${API}/shares/${shareId}`)).status, 404);
  t.is((await send(worker, `${API}/data/${scoped(dirId, shareId)}`, { token: null })).status, 404);
  t.deepEqual((await send(worker, `${API}/data/${dirId}?attributes=directShareIds`)).json.directShareIds, []);
  t.is((await send(worker, `${API}/data/${dirId}/content`)).status, 200, 'data stays after unsharing');
});

test('non-member cannot manage shares', async (t) => {
  const { worker, dirId } = t.context;
  const shareId = await createShare(t, dirId);
  const user = await worker.core.users.create({ name: 'outsider', isAdmin: false });
  const token = (await worker.core.tokens.create(user.id)).token;

  t.is((await send(worker, `${API}/shares`, { method: 'POST', token, body: JSON.stringify({ name: 'x', rootFileId: dirId }) })).status, 403);
  t.is((await send(worker, `${API}/shares/${shareId}`, { token })).status, 403);
  t.is((await send(worker, `${API}/shares/${shareId}`, { method: 'DELETE', token })).status, 403);
  const viaShare = await send(worker, `${API}/data/${scoped(dirId, shareId)}/children`, { token });
  t.is(viaShare.status, 200, 'a share is readable by any caller');
});

test('guest sees no storage internals', async (t) => {
  const { worker, fileId, dirId } = t.context;
  const shareId = await createShare(t, dirId);
  const sharedFile = scoped(fileId, shareId);

  const distribution = await send(worker, `${API}/data/${sharedFile}/distribution`, { token: null });
  t.is(distribution.status, 403, distribution.text);
  t.false(distribution.text.includes(worker.dataDir), 'no storage path');
  const storageId = (await worker.core.spaces.get(worker.space.spaceId)).storageIds[0]!;
  t.false(distribution.text.includes(storageId), 'no storage id');

  const links = await send(worker, `${API}/data/${sharedFile}/hardlinks`, { token: null });
  t.is(links.status, 200, links.text);
  t.deepEqual(links.json, [sharedFile], 'only the share-scoped id of the file reached');
  t.is((await send(worker, `${API}/data/${fileId}/distribution`)).status, 200, 'members still see the distribution');
});
