import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import { decodeFileId, encodeFileId, SpaceMembership, systemClock, type Identity } from '@op-worker/core';
import { API, send, startTestWorker, type TestWorker } from './helpers.js';

/**
 * Access to files named by id needs traverse access to every directory above them, as a
 * path lookup does. A file reached through a share needs it only below the share root.
 * A recursive delete checks every entry and keeps those the caller may not delete.
 */

interface Context {
  worker: TestWorker;
  memberToken: string;
  memberId: string;
  admin: Identity;
}

const test = anyTest as TestFn<Context>;
const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const TRAVERSE = 0x20;
const READ_ALL = 0x1 | 0x8 | 0x80 | 0x20000;

test.beforeEach(async (t) => {
  const worker = await startTestWorker();
  const member = await worker.core.users.create({ name: 'traverse-member' });
  await new SpaceMembership(worker.core.store, systemClock).setMember(worker.space.spaceId, { userId: member.id });
  const memberToken = (await worker.core.tokens.create(member.id, { ttlSeconds: 600 })).token;
  t.context = { worker, memberToken, memberId: member.id, admin: { userId: worker.admin.id, isAdmin: true } };
});

test.afterEach.always(async (t) => {
  await t.context.worker.close();
});

/** Create `<name>/` with `mode` in `parentId` as the space owner, and return its id. */
async function mkdir(t: { context: Context }, parentId: string, name: string, mode: number): Promise<string> {
  return (await t.context.worker.core.lfs.create(t.context.admin, parentId, name, { type: 'DIR', mode })).fileId;
}

/** Create a regular file with content as the space owner, and return its id. */
async function mkfile(t: { context: Context }, parentId: string, name: string, content: string, mode = 0o666): Promise<string> {
  const { lfs } = t.context.worker.core;
  const file = await lfs.create(t.context.admin, parentId, name, { type: 'REG', mode });
  const response = await send(t.context.worker, `${API}/data/${file.fileId}/content`, { method: 'PUT', body: content });
  if (response.status !== 204) throw new Error(`writing ${name} failed: ${response.status} ${response.text}`);
  return file.fileId;
}

function scoped(fileId: string, shareId: string): string {
  return encodeFileId({ ...decodeFileId(fileId), shareId });
}

test('read by id needs traverse on ancestors', async (t) => {
  const { worker, memberToken } = t.context;
  const locked = await mkdir(t, worker.space.dirId, 'locked', 0o770 & ~0o010);
  const inner = await mkdir(t, locked, 'inner', 0o777);
  const fileId = await mkfile(t, inner, 'open.txt', 'open bytes');

  const byId = await send(worker, `${API}/data/${fileId}/content`, { token: memberToken });
  t.is(byId.status, 403, byId.text);
  t.is(byId.json.error.details.errno, 'eacces');
  t.regex(byId.json.error.description, /traverse "locked"/);

  const byPath = await send(worker, `${API}/data/${worker.space.dirId}/path/locked/inner/open.txt`, { token: memberToken });
  t.is(byPath.status, 403, byPath.text);

  const cdmiById = await send(worker, `/cdmi/cdmi_objectid/${fileId}`, { token: memberToken, headers: V });
  t.is(cdmiById.status, 403, cdmiById.text);

  const attributes = await send(worker, `${API}/data/${fileId}`, { token: memberToken });
  t.is(attributes.status, 403, attributes.text);
});

test('traverse bit restores access by id', async (t) => {
  const { worker, memberToken } = t.context;
  const dir = await mkdir(t, worker.space.dirId, 'searchable', 0o771);
  const fileId = await mkfile(t, dir, 'f.txt', 'reachable');

  const response = await send(worker, `${API}/data/${fileId}/content`, { token: memberToken });
  t.is(response.status, 200, response.text);
  t.is(response.text, 'reachable');
});

test('space owner bypasses ancestor traverse', async (t) => {
  const { worker } = t.context;
  const dir = await mkdir(t, worker.space.dirId, 'closed', 0o700);
  const fileId = await mkfile(t, dir, 'f.txt', 'owner bytes');

  const response = await send(worker, `${API}/data/${fileId}/content`);
  t.is(response.status, 200, response.text);
});

test('ancestor ACL denying traverse blocks id access', async (t) => {
  const { worker, memberToken, memberId, admin } = t.context;
  const dir = await mkdir(t, worker.space.dirId, 'acl-dir', 0o777);
  const fileId = await mkfile(t, dir, 'f.txt', 'acl bytes');
  await worker.core.lfs.setXattrs(admin, dir, {
    cdmi_acl: [
      { acetype: 1, identifier: memberId, aceflags: 0, acemask: TRAVERSE },
      { acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: READ_ALL | TRAVERSE },
    ],
  });

  const denied = await send(worker, `${API}/data/${fileId}/content`, { token: memberToken });
  t.is(denied.status, 403, denied.text);
  t.regex(denied.json.error.description, /its ACL/);

  const owner = await send(worker, `${API}/data/${fileId}/content`);
  t.is(owner.status, 200, owner.text);
});

test('guest needs no traverse above share root', async (t) => {
  const { worker } = t.context;
  const closed = await mkdir(t, worker.space.dirId, 'closed', 0o700);
  const shared = await mkdir(t, closed, 'shared', 0o755);
  const fileId = await mkfile(t, shared, 'data.txt', 'public bytes', 0o644);
  const share = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name: 'pub', rootFileId: shared }) });
  t.is(share.status, 201, share.text);
  const shareId = share.json.shareId as string;

  const file = await send(worker, `${API}/data/${scoped(fileId, shareId)}/content`, { token: null });
  t.is(file.status, 200, file.text);
  t.is(file.text, 'public bytes');

  const root = await send(worker, `${API}/data/${scoped(shared, shareId)}/children`, { token: null });
  t.is(root.status, 200, root.text);
});

test('guest needs traverse below share root', async (t) => {
  const { worker } = t.context;
  const shared = await mkdir(t, worker.space.dirId, 'shared', 0o755);
  const inner = await mkdir(t, shared, 'inner', 0o750);
  const fileId = await mkfile(t, inner, 'data.txt', 'hidden bytes', 0o644);
  const share = await send(worker, `${API}/shares`, { method: 'POST', body: JSON.stringify({ name: 'pub', rootFileId: shared }) });
  const shareId = share.json.shareId as string;

  const response = await send(worker, `${API}/data/${scoped(fileId, shareId)}/content`, { token: null });
  t.is(response.status, 403, response.text);
  t.regex(response.json.error.description, /share visitors may not traverse "inner"/);
});

test('recursive delete keeps denied subtree', async (t) => {
  const { worker, memberToken } = t.context;
  const { lfs } = worker.core;
  const top = await mkdir(t, worker.space.dirId, 'top', 0o777);
  const mine = await mkfile(t, top, 'mine.txt', 'deletable');
  const open = await mkdir(t, top, 'open', 0o777);
  await mkfile(t, open, 'a.txt', 'deletable');
  const locked = await mkdir(t, top, 'locked', 0o775 & ~0o020);
  const kept = await mkfile(t, locked, 'kept.txt', 'stays');
  const zlast = await mkfile(t, top, 'z-last.txt', 'deletable');

  const response = await send(worker, `${API}/data/${top}`, { method: 'DELETE', token: memberToken });
  t.is(response.status, 403, response.text);
  t.is(response.json.error.details.errno, 'eacces');
  t.true(response.json.error.description.includes(`"/${worker.space.name}/top/locked/kept.txt"`), response.json.error.description);

  const admin = t.context.admin;
  const names = (await lfs.listChildren(admin, top, {})).children.map((child) => child.name);
  t.deepEqual(names, ['locked']);
  t.is((await lfs.getAttributes(admin, kept)).name, 'kept.txt');
  t.is((await lfs.getAttributes(admin, locked)).name, 'locked');
  for (const gone of [mine, open, zlast]) {
    await t.throwsAsync(lfs.getAttributes(admin, gone), { message: /not found/i });
  }
});

test('recursive delete honours ACL delete mask', async (t) => {
  const { worker, memberToken, admin } = t.context;
  const top = await mkdir(t, worker.space.dirId, 'acl-top', 0o777);
  const protectedId = await mkfile(t, top, 'protected.txt', 'stays');
  await mkfile(t, top, 'other.txt', 'deletable');
  await worker.core.lfs.setXattrs(admin, protectedId, {
    cdmi_acl: [
      { acetype: 1, identifier: 'EVERYONE@', aceflags: 0, acemask: 0x10000 },
      { acetype: 0, identifier: 'EVERYONE@', aceflags: 0, acemask: READ_ALL | 0x2 },
    ],
  });

  const response = await send(worker, `/cdmi/default/acl-top/`, { method: 'DELETE', token: memberToken, headers: V });
  t.is(response.status, 403, response.text);

  const names = (await worker.core.lfs.listChildren(admin, top, {})).children.map((child) => child.name);
  t.deepEqual(names, ['protected.txt']);
});

test('recursive delete allowed everywhere', async (t) => {
  const { worker, memberToken, admin } = t.context;
  const top = await mkdir(t, worker.space.dirId, 'all-mine', 0o777);
  const sub = await mkdir(t, top, 'sub', 0o777);
  await mkfile(t, sub, 'a.txt', 'x');

  const response = await send(worker, `${API}/data/${top}`, { method: 'DELETE', token: memberToken });
  t.is(response.status, 204, response.text);
  const names = (await worker.core.lfs.listChildren(admin, worker.space.dirId, {})).children.map((child) => child.name);
  t.false(names.includes('all-mine'));
});

test('top entry denial deletes nothing', async (t) => {
  const { worker, memberToken, admin } = t.context;
  const parent = await mkdir(t, worker.space.dirId, 'ro-parent', 0o755);
  const top = await mkdir(t, parent, 'victim', 0o777);
  await mkfile(t, top, 'a.txt', 'x');

  const response = await send(worker, `${API}/data/${top}`, { method: 'DELETE', token: memberToken });
  t.is(response.status, 403, response.text);
  const names = (await worker.core.lfs.listChildren(admin, top, {})).children.map((child) => child.name);
  t.deepEqual(names, ['a.txt']);
});
