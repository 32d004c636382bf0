import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import { API, createFile, send, type TestWorker } from './helpers.js';
import { PANEL, startAdminWorker, stopAdminWorker, type AdminContext } from './support/admin-worker.js';

const test = anyTest as TestFn<AdminContext>;

test.beforeEach(async (t) => {
  t.context = await startAdminWorker();
});

test.afterEach.always(async (t) => {
  await stopAdminWorker(t.context);
});

function post(worker: TestWorker, path: string, body: unknown, token?: string) {
  return send(worker, `${PANEL}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, token });
}

async function tokenOf(worker: TestWorker, userId: string): Promise<string> {
  return (await worker.core.tokens.create(userId, { ttlSeconds: 600 })).token;
}

test('identity routes: non-admin gets 403', async (t) => {
  const { admin } = t.context;
  const user = await admin.core.users.create({ name: 'plain' });
  const token = await tokenOf(admin, user.id);
  const spaceId = admin.space.spaceId;

  t.is((await send(admin, `${PANEL}/users`, { token })).status, 403);
  t.is((await post(admin, '/users', { name: 'sneaky' }, token)).status, 403);
  t.is((await post(admin, '/groups', { name: 'g' }, token)).status, 403);
  t.is((await send(admin, `${PANEL}/spaces/${spaceId}/members`, { token })).status, 403);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { userId: user.id, privileges: 'all' }, token)).status, 403);
  t.is(await admin.core.users.findByName('sneaky'), undefined);
});

test('identity routes: invalid body is 400', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;

  const missing = await post(admin, '/users', {});
  t.is(missing.status, 400);
  t.is(missing.json.error.details.key, 'name');

  const badName = await post(admin, '/users', { name: '-bad name' });
  t.is(badName.status, 400);
  t.is(badName.json.error.details.key, 'name');

  const unknown = await post(admin, '/groups', { name: 'g', colour: 'red' });
  t.is(unknown.status, 400);
  t.is(unknown.json.error.details.key, 'colour');

  const user = await admin.core.users.create({ name: 'carol' });
  const badPrivilege = await post(admin, `/spaces/${spaceId}/members`, { userId: user.id, privileges: ['space_fly'] });
  t.is(badPrivilege.status, 400);
  t.is(badPrivilege.json.error.details.key, 'privileges');
  t.regex(badPrivilege.json.error.description, /space_fly/);

  const both = await post(admin, `/spaces/${spaceId}/members`, { privileges: 'viewer' });
  t.is(both.status, 400);
  t.is(both.json.error.details.key, 'userId');

  const setWithout = await send(admin, `${PANEL}/spaces/${spaceId}/members/users/${user.id}`, { method: 'PUT', body: '{}', headers: { 'Content-Type': 'application/json' } });
  t.is(setWithout.status, 400);
  t.is(setWithout.json.error.details.key, 'privileges');
});

test('space members: nested group privileges', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const dave = (await post(admin, '/users', { name: 'dave' })).json;
  const team = await post(admin, '/groups', { name: 'team' });
  t.is(team.status, 201);
  const students = (await post(admin, '/groups', { name: 'students' })).json;
  t.is((await post(admin, `/groups/team/members`, { groupId: students.id })).status, 200);
  t.is((await post(admin, `/groups/${students.id}/members`, { userId: 'dave' })).status, 200);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { groupId: 'team', privileges: ['space_view', 'space_view_qos'] })).status, 201);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { userId: dave.id, privileges: 'viewer' })).status, 201);

  const listing = (await send(admin, `${PANEL}/spaces/${spaceId}/members`)).json;
  t.deepEqual(listing.users[dave.id].privileges, ['space_read_data', 'space_view']);
  t.deepEqual(listing.users[dave.id].effectivePrivileges, ['space_read_data', 'space_view', 'space_view_qos']);
  t.deepEqual(listing.groups[team.json.id].privileges, ['space_view', 'space_view_qos']);
  t.true(listing.users[admin.admin.id].effectivePrivileges.includes('space_manage_shares'));
  t.true((await send(admin, `${PANEL}/groups`)).json.groups.some((group: { name: string }) => group.name === 'students'));
  t.true((await send(admin, `${PANEL}/users`)).json.users.some((user: { name: string }) => user.name === 'dave'));

  t.is((await send(admin, `${PANEL}/spaces/${spaceId}/members/groups/${team.json.id}`, { method: 'DELETE' })).status, 204);
  const after = (await send(admin, `${PANEL}/spaces/${spaceId}/members`)).json;
  t.is(after.groups[team.json.id], undefined);
  t.deepEqual(after.users[dave.id].effectivePrivileges, ['space_read_data', 'space_view']);
});

test('space members: viewer reads, write denied', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const fileId = await createFile(admin, 'report.txt', 'numbers');

  const created = await post(admin, '/users', { name: 'erin' });
  t.is(created.status, 201);
  const added = await post(admin, `/spaces/${spaceId}/members`, { userId: 'erin', privileges: 'viewer' });
  t.is(added.status, 201);
  t.deepEqual(added.json.privileges, ['space_read_data', 'space_view']);
  const token = await tokenOf(admin, created.json.id);

  const read = await send(admin, `${API}/data/${fileId}/content`, { token });
  t.is(read.status, 200);
  t.is(read.text, 'numbers');

  const write = await send(admin, `${API}/data/${fileId}/content`, { method: 'PUT', body: 'changed', token, headers: { 'Content-Type': 'application/octet-stream' } });
  t.is(write.status, 403);
  t.is(write.json.error.details.errno, 'eacces');
  t.regex(write.json.error.description, /space_write_data/);

  const granted = await send(admin, `${PANEL}/spaces/${spaceId}/members/users/${created.json.id}`, {
    method: 'PUT', body: JSON.stringify({ privileges: 'member' }), headers: { 'Content-Type': 'application/json' },
  });
  t.is(granted.status, 204);
  const members = (await send(admin, `${PANEL}/spaces/${spaceId}/members`)).json;
  t.true(members.users[created.json.id].privileges.includes('space_write_data'));

  t.is((await send(admin, `${PANEL}/spaces/${spaceId}/members/users/${created.json.id}`, { method: 'DELETE' })).status, 204);
  const outside = await send(admin, `${API}/data/${fileId}/content`, { token });
  t.is(outside.status, 403);
  t.is(outside.json.error.id, 'forbidden');
});

test('space members: owner kept, unknown 404', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const owner = await send(admin, `${PANEL}/spaces/${spaceId}/members/users/${admin.admin.id}`, { method: 'DELETE' });
  t.is(owner.status, 409, owner.text);
  t.regex(owner.json.error.description, /owns space/);
  const unknown = await send(admin, `${PANEL}/spaces/${spaceId}/members/users/${'0'.repeat(32)}`, {
    method: 'PUT', body: JSON.stringify({ privileges: 'viewer' }), headers: { 'Content-Type': 'application/json' },
  });
  t.is(unknown.status, 404);
});

test('user delete revokes tokens and memberships', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const fileId = await createFile(admin, 'notes.txt', 'text');
  const frank = (await post(admin, '/users', { name: 'frank' })).json;
  const group = (await post(admin, '/groups', { name: 'frank-team' })).json;
  t.is((await post(admin, `/groups/${group.id}/members`, { userId: frank.id })).status, 200);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { userId: frank.id })).status, 201);
  const token = await tokenOf(admin, frank.id);
  t.is((await send(admin, `${API}/data/${fileId}/content`, { token })).status, 200);

  const deleted = await send(admin, `${PANEL}/users/frank`, { method: 'DELETE' });
  t.is(deleted.status, 204, deleted.text);

  const refused = await send(admin, `${API}/data/${fileId}/content`, { token });
  t.is(refused.status, 401);
  t.is(refused.json.error.details.authError, 'tokenRevoked');
  await t.throwsAsync(admin.core.tokens.verify(token), { message: /revoked/ });
  t.false((await send(admin, `${PANEL}/users`)).json.users.some((user: { name: string }) => user.name === 'frank'));
  const members = (await send(admin, `${PANEL}/spaces/${spaceId}/members`)).json;
  t.is(members.users[frank.id], undefined);
  const groups = (await send(admin, `${PANEL}/groups`)).json.groups as Array<{ id: string; userIds: string[] }>;
  t.deepEqual(groups.find((entry) => entry.id === group.id)?.userIds, []);

  t.is((await send(admin, `${PANEL}/users/frank`, { method: 'DELETE' })).status, 404);
  t.is((await post(admin, '/users', { name: 'frank' })).status, 201, 'the name is free again');
});

test('user delete refuses space owner', async (t) => {
  const { admin } = t.context;
  const response = await send(admin, `${PANEL}/users/${admin.admin.id}`, { method: 'DELETE' });
  t.is(response.status, 409, response.text);
  t.regex(response.json.error.description, /owns space/);
  t.is((await send(admin, `${PANEL}/users`)).status, 200, 'the owner and its token still work');
});

test('group delete unlinks nesting and spaces', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const fileId = await createFile(admin, 'team.txt', 'shared');
  const gina = (await post(admin, '/users', { name: 'gina' })).json;
  const outer = (await post(admin, '/groups', { name: 'outer' })).json;
  const middle = (await post(admin, '/groups', { name: 'middle' })).json;
  const inner = (await post(admin, '/groups', { name: 'inner' })).json;
  t.is((await post(admin, '/groups/outer/members', { groupId: middle.id })).status, 200);
  t.is((await post(admin, '/groups/middle/members', { groupId: inner.id })).status, 200);
  t.is((await post(admin, '/groups/inner/members', { userId: gina.id })).status, 200);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { groupId: outer.id })).status, 201);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { groupId: middle.id, privileges: 'viewer' })).status, 201);
  const token = await tokenOf(admin, gina.id);
  t.is((await send(admin, `${API}/data/${fileId}/content`, { token })).status, 200);

  t.is((await send(admin, `${PANEL}/groups/middle`, { method: 'DELETE' })).status, 204);

  const outside = await send(admin, `${API}/data/${fileId}/content`, { token });
  t.is(outside.status, 403, 'gina reached the space only through middle');
  t.is(outside.json.error.id, 'forbidden');
  const groups = (await send(admin, `${PANEL}/groups`)).json.groups as Array<{ id: string; name: string; childGroupIds: string[] }>;
  t.deepEqual(groups.map((group) => group.name).sort(), ['inner', 'outer']);
  t.deepEqual(groups.find((group) => group.id === outer.id)?.childGroupIds, []);
  const members = (await send(admin, `${PANEL}/spaces/${spaceId}/members`)).json;
  t.is(members.groups[middle.id], undefined);
  t.true(members.groups[outer.id].privileges.length > 0);

  // The subgroup lost its parent: nesting it under outer again is not a cycle.
  t.is((await post(admin, '/groups/outer/members', { groupId: inner.id })).status, 200);
  t.is((await send(admin, `${API}/data/${fileId}/content`, { token })).status, 200);
  t.is((await send(admin, `${PANEL}/groups/middle`, { method: 'DELETE' })).status, 404);
});
