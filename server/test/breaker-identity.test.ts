import 'reflect-metadata';
import { COLLECTIONS, decodeFileId, GroupService, systemClock } from '@op-worker/core';
import anyTest, { type TestFn } from 'ava';
import { API, createFile, send, type TestWorker } from './helpers.js';
import { PANEL, startAdminWorker, stopAdminWorker, type AdminContext } from './support/admin-worker.js';

/**
 * Regression tests: space members named by name in admin API paths, ACE masks wider
 * than 32 bits, ACLs set through the REST xattrs route, and CDMI writes by users who
 * may write content or the ACL but not metadata.
 */

const test = anyTest as TestFn<AdminContext>;
const CDMI_OBJECT = { 'X-CDMI-Specification-Version': '1.1.1', 'Content-Type': 'application/cdmi-object' };

test.beforeEach(async (t) => {
  t.context = await startAdminWorker();
});

test.afterEach.always(async (t) => {
  await stopAdminWorker(t.context);
});

function json(method: string, body: unknown): { method: string; body: string; headers: Record<string, string> } {
  return { method, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
}

/** Create a user, add it to the default space with `privileges`, and return its id and a token. */
async function member(admin: TestWorker, name: string, privileges: string): Promise<{ id: string; token: string }> {
  const user = await admin.core.users.create({ name });
  const added = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members`, json('POST', { userId: name, privileges }));
  if (added.status !== 201) throw new Error(`adding ${name} failed: ${added.status} ${added.text}`);
  return { id: user.id, token: (await admin.core.tokens.create(user.id, { ttlSeconds: 600 })).token };
}

test('remove member by name', async (t) => {
  const { admin } = t.context;
  const bob = await member(admin, 'bob', 'viewer');
  const members = `${PANEL}/spaces/${admin.space.spaceId}/members`;

  const removed = await send(admin, `${members}/users/bob`, { method: 'DELETE' });
  t.is(removed.status, 204, removed.text);

  const listing = await send(admin, members);
  t.false(bob.id in listing.json.users, 'bob is no longer a member');
  t.is((await send(admin, `${API}/data/${admin.space.dirId}/children`, { token: bob.token })).status, 403);
});

test('set privileges by member name', async (t) => {
  const { admin } = t.context;
  const carol = await member(admin, 'carol', 'viewer');

  const set = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members/users/carol`, json('PUT', { privileges: 'member' }));
  t.is(set.status, 204, set.text);

  const listing = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members`);
  t.true((listing.json.users[carol.id].privileges as string[]).includes('space_write_data'));
});

test('unknown member name is 404', async (t) => {
  const { admin } = t.context;
  const response = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members/users/ghost`, { method: 'DELETE' });
  t.is(response.status, 404, response.text);
  t.regex(response.json.error.description, /ghost/);
});

test('ACE mask over 32 bits is 400', async (t) => {
  const { worker } = t.context;
  await createFile(worker, 'wide.txt', 'data');
  const acl = [
    { acetype: 'DENY', identifier: 'EVERYONE@', aceflags: '0x0', acemask: '0xFFFFFFFFFFFFFFFFFFFF' },
    { acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'ALL_PERMS' },
  ];

  const response = await send(worker, `/cdmi/${worker.space.name}/wide.txt?metadata:cdmi_acl`, {
    method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ metadata: { cdmi_acl: acl } }),
  });

  t.is(response.status, 400, response.text);
  t.is(response.json.error.details.key, 'cdmi_acl');
  t.regex(response.json.error.description, /32 bits/);
});

test('REST xattrs ACL is validated and enforced', async (t) => {
  const { admin } = t.context;
  const dave = await member(admin, 'dave', 'member');
  const fileId = await createFile(admin, 'guarded.txt', 'secret');
  const xattrs = `${API}/data/${fileId}/metadata/xattrs`;

  const malformed = await send(admin, xattrs, json('PUT', { cdmi_acl: 'garbage' }));
  t.is(malformed.status, 400, malformed.text);
  t.is(malformed.json.error.details.key, 'cdmi_acl');

  const acl = [
    { acetype: 'DENY', identifier: dave.id, aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT' },
    { acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'ALL_PERMS' },
  ];
  const set = await send(admin, xattrs, json('PUT', { cdmi_acl: acl }));
  t.is(set.status, 204, set.text);

  const attributes = await send(admin, `${API}/data/${fileId}?attributes=acl,activePermissionsType`);
  t.is(attributes.json.activePermissionsType, 'acl');
  t.is(attributes.json.acl[0].aceType, 'DENY');
  t.is((await send(admin, `${API}/data/${fileId}/content`, { token: dave.token })).status, 403);
});

const CDMI_VERSION = { 'X-CDMI-Specification-Version': '1.1.1' };

/** Set a file's ACL over CDMI as the space owner. */
async function setAcl(worker: TestWorker, cdmiPath: string, acl: unknown[], token?: string): Promise<Awaited<ReturnType<typeof send>>> {
  return send(worker, `${cdmiPath}?metadata:cdmi_acl`, {
    method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ metadata: { cdmi_acl: acl } }), ...(token === undefined ? {} : { token }),
  });
}

test('CDMI write needs no metadata access', async (t) => {
  const { admin } = t.context;
  const erin = await member(admin, 'erin', 'member');
  const adminWho = { userId: admin.admin.id, isAdmin: true };
  const dir = await admin.core.lfs.create(adminWho, admin.space.dirId, 'dir', { type: 'DIR' });
  await admin.core.lfs.create(adminWho, dir.fileId, 'f.txt', { type: 'REG' });
  const file = `/cdmi/${admin.space.name}/dir/f.txt`;
  const set = await setAcl(admin, file, [{ acetype: 'ALLOW', identifier: erin.id, aceflags: 'NO_FLAGS', acemask: 'READ_ATTRIBUTES, WRITE_OBJECT' }]);
  t.is(set.status, 204, set.text);

  const value = await send(admin, file, { method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ value: 'by value' }), token: erin.token });
  t.is(value.status, 204, value.text);
  t.is((await send(admin, file, { headers: { Accept: 'application/octet-stream' } })).text, 'by value');

  const raw = await send(admin, file, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'raw', token: erin.token });
  t.is(raw.status, 204, raw.text);
  t.is((await send(admin, file, { headers: { Accept: 'application/octet-stream' } })).text, 'raw');

  const withMimetype = await send(admin, file, {
    method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ value: 'changed', mimetype: 'text/html' }), token: erin.token,
  });
  t.is(withMimetype.status, 403, withMimetype.text);
  t.is((await send(admin, file, { headers: { Accept: 'application/octet-stream' } })).text, 'raw', 'a denied write changes nothing');
  const partial = await send(admin, file, {
    method: 'PUT', headers: { ...CDMI_OBJECT, 'X-CDMI-Partial': 'true' }, body: JSON.stringify({ value: 'part' }), token: erin.token,
  });
  t.is(partial.status, 403, partial.text);
  t.is((await send(admin, file, { headers: { Accept: 'application/octet-stream' } })).text, 'raw', 'a denied partial write changes nothing');
});

test('owner with WRITE_ACL replaces the ACL', async (t) => {
  const { admin } = t.context;
  const frank = await member(admin, 'frank', 'member');
  const file = `/cdmi/${admin.space.name}/franks.txt`;
  const created = await send(admin, file, { method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ value: 'v1' }), token: frank.token });
  t.is(created.status, 201, created.text);

  const readOnly = [{ acetype: 'ALLOW', identifier: 'OWNER@', aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT, READ_ATTRIBUTES, WRITE_ACL' }];
  t.is((await setAcl(admin, file, readOnly, frank.token)).status, 204);
  const denied = await send(admin, file, { method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ value: 'v2' }), token: frank.token });
  t.is(denied.status, 403, denied.text);

  const readWrite = [{ acetype: 'ALLOW', identifier: 'OWNER@', aceflags: 'NO_FLAGS', acemask: 'RW_ALL' }];
  const replaced = await setAcl(admin, file, readWrite, frank.token);
  t.is(replaced.status, 204, replaced.text);
  const written = await send(admin, file, { method: 'PUT', headers: CDMI_OBJECT, body: JSON.stringify({ value: 'v3' }), token: frank.token });
  t.is(written.status, 204, written.text);
  t.is((await send(admin, file, { headers: CDMI_VERSION, token: frank.token })).json.value, 'v3');
});

test('ACL names resolve to ids', async (t) => {
  const { admin } = t.context;
  const dave = await member(admin, 'dave', 'member');
  await createFile(admin, 'named.txt', 'secret');
  const file = `/cdmi/${admin.space.name}/named.txt`;

  const set = await setAcl(admin, file, [
    { acetype: 'DENY', identifier: 'dave', aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT' },
    { acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'ALL_PERMS' },
  ]);
  t.is(set.status, 204, set.text);
  const metadata = await send(admin, `${file}?metadata:cdmi_acl`, { headers: CDMI_VERSION });
  t.is(metadata.json.metadata.cdmi_acl[0].identifier, `dave#${dave.id}`);
  t.is((await send(admin, file, { headers: { Accept: 'application/octet-stream' }, token: dave.token })).status, 403);
});

test('ACL with unknown principal or type is 400', async (t) => {
  const { admin } = t.context;
  await createFile(admin, 'strict.txt', 'data');
  const file = `/cdmi/${admin.space.name}/strict.txt`;

  const unknown = await setAcl(admin, file, [{ acetype: 'ALLOW', identifier: 'nobody', aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT' }]);
  t.is(unknown.status, 400, unknown.text);
  t.regex(unknown.json.error.description, /"nobody"/);
  const unknownGroup = await setAcl(admin, file, [{ acetype: 'ALLOW', identifier: 'nogroup', aceflags: 'IDENTIFIER_GROUP', acemask: 'READ_OBJECT' }]);
  t.is(unknownGroup.status, 400, unknownGroup.text);
  const badType = await setAcl(admin, file, [{ acetype: '0x7', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT' }]);
  t.is(badType.status, 400, badType.text);
  t.regex(badType.json.error.description, /acetype 0x7/);
  const metadata = await send(admin, `${file}?metadata`, { headers: CDMI_VERSION });
  t.is(metadata.json.metadata.cdmi_acl, undefined, 'no ACL was stored');
});

test('ACL group name resolves', async (t) => {
  const { admin } = t.context;
  const hana = await member(admin, 'hana', 'member');
  const groups = new GroupService(admin.core.store, systemClock);
  const group = await groups.create('readers');
  await groups.addUser(group.id, hana.id);
  await createFile(admin, 'grouped.txt', 'data');

  const set = await setAcl(admin, `/cdmi/${admin.space.name}/grouped.txt`, [
    { acetype: 'DENY', identifier: 'readers', aceflags: 'IDENTIFIER_GROUP', acemask: 'READ_OBJECT' },
    { acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'ALL_PERMS' },
  ]);
  t.is(set.status, 204, set.text);
  t.is((await send(admin, `/cdmi/${admin.space.name}/grouped.txt`, { headers: { Accept: 'application/octet-stream' }, token: hana.token })).status, 403);
});

test('damaged stored ACL denies', async (t) => {
  const { admin } = t.context;
  const ivan = await member(admin, 'ivan', 'member');
  const fileId = await createFile(admin, 'damaged.txt', 'data');
  const content = `${API}/data/${fileId}/content`;
  t.is((await send(admin, content, { token: ivan.token })).status, 200, 'the mode bits let members read');

  const uuid = decodeFileId(fileId).fileUuid;
  await admin.core.store.put(COLLECTIONS.xattrs, uuid, { cdmi_acl: [{ identifier: 'EVERYONE@', acemask: 'not a number', acetype: 0 }] });
  t.is((await send(admin, content, { token: ivan.token })).status, 403);
  t.is((await send(admin, content)).status, 200, 'the space owner still reads it');
});

test('listing needs traverse on the directory', async (t) => {
  const { admin } = t.context;
  const jack = await member(admin, 'jack', 'member');
  const adminWho = { userId: admin.admin.id, isAdmin: true };
  const cdir = await admin.core.lfs.create(adminWho, admin.space.dirId, 'cdir', { type: 'DIR' });
  await admin.core.lfs.create(adminWho, cdir.fileId, 'f.txt', { type: 'REG' });
  await admin.core.lfs.create(adminWho, admin.space.dirId, 'open.txt', { type: 'REG' });
  const acl = [{ acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: 'NO_FLAGS', acemask: 'LIST_CONTAINER, READ_ATTRIBUTES, READ_METADATA' }];
  const set = await send(admin, `${API}/data/${cdir.fileId}/metadata/xattrs`, json('PUT', { cdmi_acl: acl }));
  t.is(set.status, 204, set.text);

  const children = await send(admin, `${API}/data/${cdir.fileId}/children`, { token: jack.token });
  t.is(children.status, 403, children.text);
  t.regex(children.json.error.description, /traverse/);

  const files = await send(admin, `${API}/data/${admin.space.dirId}/files`, { token: jack.token });
  t.is(files.status, 200, files.text);
  t.deepEqual(files.json.files.map((file: { path: string }) => file.path), ['open.txt']);
  t.deepEqual(files.json.inaccessiblePaths, ['cdir']);
});

test('adding a member twice is 409', async (t) => {
  const { admin } = t.context;
  const kate = await member(admin, 'kate', 'viewer');
  const again = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members`, json('POST', { userId: 'kate', privileges: 'all' }));
  t.is(again.status, 409, again.text);
  t.is(again.json.error.id, 'alreadyExists');

  const listing = await send(admin, `${PANEL}/spaces/${admin.space.spaceId}/members`);
  t.deepEqual(listing.json.users[kate.id].privileges, ['space_read_data', 'space_view'], 'the privileges are unchanged');
});

test('copy drops ACL entries of deleted users', async (t) => {
  const { admin } = t.context;
  const erin = await member(admin, 'erin', 'member');
  await createFile(admin, 'erin-acl.txt', 'kept');
  const source = `/cdmi/${admin.space.name}/erin-acl.txt`;
  const set = await setAcl(admin, source, [
    { acetype: 'ALLOW', identifier: 'erin', aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT' },
    { acetype: 'ALLOW', identifier: 'OWNER@', aceflags: 'NO_FLAGS', acemask: 'ALL_PERMS' },
  ]);
  t.is(set.status, 204, set.text);
  const deleted = await send(admin, `${PANEL}/users/${erin.id}`, { method: 'DELETE' });
  t.is(deleted.status, 204, deleted.text);

  const copy = await send(admin, `/cdmi/${admin.space.name}/erin-acl-copy.txt`, {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ copy: `/${admin.space.name}/erin-acl.txt` }),
  });
  t.is(copy.status, 201, copy.text);

  const metadata = await send(admin, `/cdmi/${admin.space.name}/erin-acl-copy.txt?metadata:cdmi_acl`, { headers: CDMI_VERSION });
  const identifiers = (metadata.json.metadata.cdmi_acl as Array<{ identifier: string }>).map((entry) => entry.identifier);
  t.deepEqual(identifiers, ['OWNER@']);
});
