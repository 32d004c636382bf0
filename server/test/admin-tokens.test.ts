import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../src/app.js';
import anyTest, { type TestFn } from 'ava';
import { MAX_TOKEN_TTL_SECONDS, TokenService, VERIFICATION_CACHE_MS, DEFAULT_TOKEN_TTL_SECONDS } from '@op-worker/core';
import { API, createFile, send, type TestWorker } from './helpers.js';
import { PANEL, startAdminWorker, stopAdminWorker, type AdminContext } from './support/admin-worker.js';

/** Tokens, signing keys and group member removal through the admin API. */

const test = anyTest as TestFn<AdminContext>;
const JSON_TYPE = { 'Content-Type': 'application/json' };

test.beforeEach(async (t) => {
  t.context = await startAdminWorker();
});

test.afterEach.always(async (t) => {
  await stopAdminWorker(t.context);
});

function post(worker: TestWorker, path: string, body?: unknown, token?: string) {
  return send(worker, `${PANEL}${path}`, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: JSON_TYPE, token });
}

function remove(worker: TestWorker, path: string, token?: string) {
  return send(worker, `${PANEL}${path}`, { method: 'DELETE', token });
}

/** Create a user through the admin API and make it a space member with the `member` preset. */
async function spaceMember(admin: TestWorker, name: string): Promise<string> {
  const user = (await post(admin, '/users', { name })).json;
  const added = await post(admin, `/spaces/${admin.space.spaceId}/members`, { userId: user.id });
  if (added.status !== 201) throw new Error(`adding ${name} failed: ${added.status} ${added.text}`);
  return user.id as string;
}

function writeContent(worker: TestWorker, fileId: string, body: string, token: string) {
  return send(worker, `${API}/data/${fileId}/content`, { method: 'PUT', body, token, headers: { 'Content-Type': 'application/octet-stream' } });
}

test('issued token works on REST', async (t) => {
  const { admin } = t.context;
  const fileId = await createFile(admin, 'issued.txt', 'content');
  const userId = await spaceMember(admin, 'ivy');

  const issued = await post(admin, '/users/ivy/tokens', { ttl: 600 });
  t.is(issued.status, 201, issued.text);
  t.regex(issued.json.tokenId, /^[0-9a-f]{32}$/);
  t.is(issued.json.userId, userId);
  t.is(issued.json.expiresAt - issued.json.issuedAt, 600);
  t.deepEqual(issued.json.caveats, []);
  t.is(issued.headers['cache-control'], 'no-store');

  const read = await send(admin, `${API}/data/${fileId}/content`, { token: issued.json.token });
  t.is(read.status, 200);
  t.is(read.text, 'content');

  const byId = await post(admin, `/users/${userId}/tokens`);
  t.is(byId.status, 201, 'an empty body takes the defaults');
  t.is(byId.json.expiresAt - byId.json.issuedAt, DEFAULT_TOKEN_TTL_SECONDS);
  t.is((await post(admin, '/users/nobody/tokens', {})).status, 404);
});

test('caveats are honoured', async (t) => {
  const { admin } = t.context;
  const fileId = await createFile(admin, 'guarded.txt', 'before');
  await spaceMember(admin, 'jane');

  const plain = (await post(admin, '/users/jane/tokens', {})).json.token;
  t.is((await writeContent(admin, fileId, 'by plain token', plain)).status, 204, 'the member may write without caveats');

  for (const caveat of ['data.readonly', { type: 'data.readonly' }]) {
    const issued = await post(admin, '/users/jane/tokens', { caveats: [caveat] });
    t.is(issued.status, 201, issued.text);
    t.deepEqual(issued.json.caveats, [{ type: 'data.readonly' }]);
    const write = await writeContent(admin, fileId, 'by read-only token', issued.json.token);
    t.is(write.status, 403, `${JSON.stringify(caveat)}: ${write.text}`);
    t.is((await send(admin, `${API}/data/${fileId}/content`, { token: issued.json.token })).text, 'by plain token');
  }

  const spaceName = admin.space.name;
  const scoped = await post(admin, '/users/jane/tokens', { caveats: [`data.path=/${spaceName}/elsewhere`] });
  t.is(scoped.status, 201, scoped.text);
  t.deepEqual(scoped.json.caveats, [{ type: 'data.path', whitelist: [`/${admin.space.spaceId}/elsewhere`] }], 'the space name becomes its id');
  t.is((await send(admin, `${API}/data/${fileId}/content`, { token: scoped.json.token })).status, 403);

  const foreign = await post(admin, '/users/jane/tokens', { caveats: [{ type: 'ip', whitelist: ['192.0.2.0/24'] }] });
  const refused = await send(admin, `${API}/data/${fileId}/content`, { token: foreign.json.token });
  t.is(refused.status, 401);
  t.is(refused.json.error.details.authError, 'tokenCaveatUnverified');
});

test('revoked token gets 401', async (t) => {
  const { admin } = t.context;
  await spaceMember(admin, 'kim');
  const issued = (await post(admin, '/users/kim/tokens', {})).json;
  t.is((await send(admin, `${API}/spaces`, { token: issued.token })).status, 200);

  t.is((await remove(admin, `/tokens/${issued.tokenId}`)).status, 204);
  const refused = await send(admin, `${API}/spaces`, { token: issued.token });
  t.is(refused.status, 401);
  t.is(refused.json.error.details.authError, 'tokenRevoked');

  t.is((await remove(admin, `/tokens/${issued.tokenId}`)).status, 204, 'revoking again is not an error');
  const malformed = await remove(admin, '/tokens/not-a-token-id');
  t.is(malformed.status, 400);
  t.is(malformed.json.error.details.key, 'tokenId');
});

test('revocation reaches another worker', async (t) => {
  const { admin, worker } = t.context;
  await spaceMember(admin, 'lee');
  // A second worker: its own token service, and so its own verification cache, on the same store.
  const other = createApp({
    lfs: worker.core.lfs, users: worker.core.users, tokens: new TokenService(worker.core.store, { now: () => Date.now() }),
    logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
  });
  const server = createServer(other.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const otherWorker = { ...worker, port: (server.address() as AddressInfo).port };

  const issued = (await post(admin, '/users/lee/tokens', {})).json;
  t.is((await send(otherWorker, `${API}/spaces`, { token: issued.token })).status, 200);
  t.is((await remove(admin, `/tokens/${issued.tokenId}`)).status, 204);

  await new Promise((resolve) => setTimeout(resolve, VERIFICATION_CACHE_MS));
  const refused = await send(otherWorker, `${API}/spaces`, { token: issued.token });
  t.is(refused.status, 401);
  t.is(refused.json.error.details.authError, 'tokenRevoked');
});

test('token routes: non-admin gets 403', async (t) => {
  const { admin } = t.context;
  const userId = await spaceMember(admin, 'mia');
  const token = (await post(admin, '/users/mia/tokens', {})).json.token;
  const group = (await post(admin, '/groups', { name: 'mia-team' })).json;
  t.is((await post(admin, `/groups/${group.id}/members`, { userId })).status, 200);
  const keysBefore = (await send(admin, `${PANEL}/token-keys`)).json;

  t.is((await post(admin, `/users/${userId}/tokens`, {}, token)).status, 403);
  t.is((await remove(admin, `/tokens/${'a'.repeat(32)}`, token)).status, 403);
  t.is((await send(admin, `${PANEL}/token-keys`, { token })).status, 403);
  t.is((await post(admin, '/token-keys/rotate', undefined, token)).status, 403);
  t.is((await remove(admin, '/token-keys/0', token)).status, 403);
  t.is((await remove(admin, `/groups/${group.id}/members/users/${userId}`, token)).status, 403);
  t.is((await remove(admin, `/groups/${group.id}/members/groups/${group.id}`, token)).status, 403);

  t.deepEqual((await send(admin, `${PANEL}/token-keys`)).json, keysBefore, 'no key was rotated or retired');
  const groups = (await send(admin, `${PANEL}/groups`)).json.groups as Array<{ id: string; userIds: string[] }>;
  t.deepEqual(groups.find((entry) => entry.id === group.id)?.userIds, [userId]);
});

test('bad ttl and caveats are 400', async (t) => {
  const { admin } = t.context;
  await spaceMember(admin, 'ned');

  for (const ttl of [0, -5, MAX_TOKEN_TTL_SECONDS + 1, 1.5, '60']) {
    const response = await post(admin, '/users/ned/tokens', { ttl });
    t.is(response.status, 400, `ttl ${JSON.stringify(ttl)}`);
    t.is(response.json.error.details.key, 'ttl', `ttl ${JSON.stringify(ttl)}`);
  }

  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'ip', whitelist: ['not-a-cidr'] }, /caveat 0 \(ip\) is invalid: "not-a-cidr"/],
    [{ type: 'asn', value: 1 }, /unknown caveat type "asn"/],
    ['asn=1234', /caveat "asn=1234" is not understood/],
    [{ type: 'interface', interface: 'ftp' }, /caveat 0 \(interface\) is invalid/],
    [{ type: 'time' }, /caveat 0 \(time\) is invalid: time needs validUntil/],
    [{ type: 'data.objectid', whitelist: [] }, /caveat 0 \(data.objectid\) is invalid: whitelist/],
    ['data.path=/no-such-space/dir', /caveat 0 \(data.path\) is invalid: no space has the name or id "no-such-space"/],
  ];
  for (const [caveat, message] of cases) {
    const response = await post(admin, '/users/ned/tokens', { caveats: [caveat] });
    t.is(response.status, 400, `${JSON.stringify(caveat)}: ${response.text}`);
    t.is(response.json.error.details.key, 'caveats', JSON.stringify(caveat));
    t.regex(response.json.error.description, message);
  }

  const second = await post(admin, '/users/ned/tokens', { caveats: ['data.readonly', 'ip=10.0.0.0/33'] });
  t.is(second.status, 400);
  t.regex(second.json.error.description, /caveat 1 \(ip\)/, 'the error names the position of the bad caveat');

  const notListed = await post(admin, '/users/ned/tokens', { caveats: [42] });
  t.is(notListed.status, 400);
  t.regex(notListed.json.error.details.key, /^caveats/);
  const unknownField = await post(admin, '/users/ned/tokens', { lifetime: 60 });
  t.is(unknownField.status, 400);
  t.is(unknownField.json.error.details.key, 'lifetime');
});

test('signing keys rotate, list and retire', async (t) => {
  const { admin } = t.context;
  await spaceMember(admin, 'olga');
  const before = await send(admin, `${PANEL}/token-keys`);
  t.is(before.status, 200);
  t.is(before.json.keys.length, 1);
  const [first] = before.json.keys;
  t.deepEqual(Object.keys(first).sort(), ['created', 'current', 'keyId'], 'ids and states only, never key material');
  t.true(first.current);
  const oldToken = (await post(admin, '/users/olga/tokens', {})).json.token;

  const rotated = await post(admin, '/token-keys/rotate');
  t.is(rotated.status, 201, rotated.text);
  t.deepEqual(Object.keys(rotated.json).sort(), ['created', 'current', 'keyId']);
  t.true(rotated.json.current);
  const listed = (await send(admin, `${PANEL}/token-keys`)).json.keys as Array<{ keyId: string; current: boolean }>;
  t.deepEqual(listed.map((key) => [key.keyId, key.current]).sort(), [[first.keyId, false], [rotated.json.keyId, true]].sort());
  t.is((await send(admin, `${API}/spaces`, { token: oldToken })).status, 200, 'tokens of the older key stay valid');

  // The admin token of the test worker was signed with the first key, so take a new one before retiring it.
  const adminToken = (await post(admin, `/users/${admin.admin.id}/tokens`, {})).json.token;
  const current = await remove(admin, `/token-keys/${rotated.json.keyId}`, adminToken);
  t.is(current.status, 400);
  t.regex(current.json.error.description, /rotate the keys before retiring it/);

  t.is((await remove(admin, `/token-keys/${first.keyId}`, adminToken)).status, 204);
  const refused = await send(admin, `${API}/spaces`, { token: oldToken });
  t.is(refused.status, 401);
  t.regex(refused.json.error.description, /retired or unknown/);
  t.is((await send(admin, `${PANEL}/token-keys`, { token: adminToken })).json.keys.length, 1);
  t.is((await remove(admin, `/token-keys/${first.keyId}`, adminToken)).status, 404);
});

test('group member removal takes space access', async (t) => {
  const { admin } = t.context;
  const spaceId = admin.space.spaceId;
  const fileId = await createFile(admin, 'group.txt', 'for the team');
  const paul = (await post(admin, '/users', { name: 'paul' })).json;
  const outer = (await post(admin, '/groups', { name: 'outer' })).json;
  const inner = (await post(admin, '/groups', { name: 'inner' })).json;
  t.is((await post(admin, '/groups/outer/members', { groupId: inner.id })).status, 200);
  t.is((await post(admin, '/groups/inner/members', { userId: paul.id })).status, 200);
  t.is((await post(admin, `/spaces/${spaceId}/members`, { groupId: outer.id, privileges: 'viewer' })).status, 201);
  const token = (await post(admin, '/users/paul/tokens', {})).json.token;
  const read = () => send(admin, `${API}/data/${fileId}/content`, { token });
  t.is((await read()).status, 200);

  t.is((await remove(admin, '/groups/outer/members/groups/inner')).status, 204);
  const cut = await read();
  t.is(cut.status, 403, 'paul reached the space only through inner inside outer');
  t.is(cut.json.error.id, 'forbidden');
  t.deepEqual((await send(admin, `${PANEL}/groups`)).json.groups.find((group: { id: string }) => group.id === outer.id).childGroupIds, []);

  t.is((await post(admin, '/groups/outer/members', { groupId: 'inner' })).status, 200);
  t.is((await read()).status, 200);
  const throughNesting = await remove(admin, `/groups/outer/members/users/${paul.id}`);
  t.is(throughNesting.status, 404, 'paul is a member of outer only through inner');
  t.regex(throughNesting.json.error.description, /direct member of group "outer"/);

  t.is((await remove(admin, '/groups/inner/members/users/paul')).status, 204);
  t.is((await read()).status, 403);
  t.is((await remove(admin, '/groups/inner/members/users/paul')).status, 404);
  t.is((await remove(admin, '/groups/no-such-group/members/users/paul')).status, 404);
  t.is((await remove(admin, '/groups/inner/members/groups/no-such-group')).status, 404);
});

test('openapi document lists the routes', async (t) => {
  const document = (await send(t.context.admin, `${API}/openapi.json`, { token: null })).json;
  const routes: Array<[string, string]> = [
    ['post', '/users/{id}/tokens'],
    ['delete', '/tokens/{tokenId}'],
    ['get', '/token-keys'],
    ['post', '/token-keys/rotate'],
    ['delete', '/token-keys/{keyId}'],
    ['delete', '/groups/{gid}/members/users/{memberId}'],
    ['delete', '/groups/{gid}/members/groups/{memberId}'],
  ];
  for (const [method, path] of routes) {
    const operation = document.paths[`/api/v3/onepanel/provider${path}`]?.[method];
    t.truthy(operation, `${method} ${path} is in the document`);
    t.false(String(operation?.summary).startsWith(method.toUpperCase()), `${method} ${path} has a written summary`);
  }
  const issue = document.paths['/api/v3/onepanel/provider/users/{id}/tokens'].post;
  t.deepEqual(Object.keys(issue.requestBody.content['application/json'].schema.properties).sort(), ['caveats', 'ttl']);
});
