import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import anyTest, { type TestFn } from 'ava';
import Koa from 'koa';
import pino from 'pino';
import { TokenService, type Identity, type TokenCaveat } from '@op-worker/core';
import { createApp } from '../src/app.js';
import { AuthFailureLog, authMiddleware } from '../src/middleware/auth.js';
import { errorMiddleware } from '../src/middleware/errors.js';
import { requestIdMiddleware } from '../src/middleware/request-id.js';
import type { AppState } from '../src/state.js';
import { API, send, startTestWorker, type TestWorker } from './helpers.js';

/** Token caveats, revocation and brute-force handling seen from HTTP clients. */

interface Context {
  worker: TestWorker;
  memberId: string;
  ids: Record<string, string>;
}

const test = anyTest as TestFn<Context>;
const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const CO = { ...V, 'Content-Type': 'application/cdmi-object' };
const CONTENT = 'original';

test.before(async (t) => {
  const worker = await startTestWorker();
  const { users, spaces, lfs } = worker.core;
  const member = await users.create({ name: 'token-member' });
  await spaces.addMember(worker.space.spaceId, member.id);

  // The member owns every file, so only the token's caveats can deny access.
  const who: Identity = { userId: member.id, isAdmin: false };
  const root = worker.space.dirId;
  const ids: Record<string, string> = {};
  ids['proj'] = (await lfs.create(who, root, 'proj', { type: 'DIR' })).fileId;
  ids['a'] = (await lfs.create(who, ids['proj'], 'a', { type: 'DIR' })).fileId;
  ids['b'] = (await lfs.create(who, ids['proj'], 'b', { type: 'DIR' })).fileId;
  ids['a/file'] = (await lfs.createAtPath(who, ids['a'], 'file', { type: 'REG', content: undefined })).fileId;
  await lfs.write(who, ids['a/file'], bodyOf(CONTENT), {});
  ids['b/file'] = (await lfs.createAtPath(who, ids['b'], 'file', { type: 'REG' })).fileId;
  ids['other'] = (await lfs.create(who, root, 'other', { type: 'REG' })).fileId;
  ids['ro'] = (await lfs.create(who, root, 'ro', { type: 'REG' })).fileId;
  await lfs.write(who, ids['ro'], bodyOf(CONTENT), {});
  t.context = { worker, memberId: member.id, ids };
});

test.after.always(async (t) => {
  await t.context.worker.close();
});

function bodyOf(text: string): import('node:stream').Readable {
  return (async function* () {
    yield Buffer.from(text);
  })() as never;
}

async function tokenWith(t: { context: Context }, caveats: TokenCaveat[]): Promise<string> {
  return (await t.context.worker.core.tokens.create(t.context.memberId, { ttlSeconds: 600, caveats })).token;
}

function names(children: Array<{ name: string }>): string[] {
  return children.map((child) => child.name).sort();
}

test('path token lists ancestors only', async (t) => {
  const { worker, ids } = t.context;
  const token = await tokenWith(t, [{ type: 'data.path', whitelist: [`/${worker.space.spaceId}/proj/a`] }]);

  const root = await send(worker, `${API}/data/${worker.space.dirId}/children`, { token });
  t.is(root.status, 200);
  t.deepEqual(names(root.json.children), ['proj']);
  const proj = await send(worker, `${API}/data/${ids['proj']}/children`, { token });
  t.deepEqual(names(proj.json.children), ['a']);
  const cdmiRoot = await send(worker, '/cdmi/default/', { token, headers: V });
  t.is(cdmiRoot.status, 200, cdmiRoot.text);
  t.deepEqual(cdmiRoot.json.children, ['proj/']);

  t.is((await send(worker, `${API}/data/${ids['a/file']}/content`, { token })).text, CONTENT);
  t.is((await send(worker, '/cdmi/default/proj/a/file', { token })).text, CONTENT);
});

test('path token cannot read a sibling', async (t) => {
  const { worker, ids } = t.context;
  const token = await tokenWith(t, [{ type: 'data.path', whitelist: [`/${worker.space.spaceId}/proj/a`] }]);
  t.is((await send(worker, `${API}/data/${ids['b/file']}/content`, { token })).status, 403);
  t.is((await send(worker, '/cdmi/default/proj/b/file', { token })).status, 403);
  t.is((await send(worker, `${API}/data/${ids['b']}/children`, { token })).status, 403);
  t.is((await send(worker, `${API}/data/${ids['other']}/content`, { token })).status, 403);
  const tar = await send(worker, `${API}/data/${ids['proj']}/content`, { token });
  t.true(tar.text.includes('a/file'), 'a TAR of an ancestor holds the allowed file');
  t.false(tar.text.includes('b/file'), 'a TAR of an ancestor leaves the sibling out');
  t.is((await send(worker, `${API}/data/${ids['proj']}/children?name=new`, { token, method: 'POST', body: 'x' })).status, 403);
});

test('read-only token cannot write by any route', async (t) => {
  const { worker, ids } = t.context;
  const token = await tokenWith(t, [{ type: 'data.readonly' }]);
  const id = ids['ro']!;
  const json = { 'Content-Type': 'application/json' };
  const attempts: Array<[string, string, { method: string; headers?: Record<string, string>; body?: string }]> = [
    ['REST write', `${API}/data/${id}/content`, { method: 'PUT', body: 'x' }],
    ['REST partial write', `${API}/data/${id}/content?offset=2`, { method: 'PUT', body: 'x' }],
    ['REST xattrs', `${API}/data/${id}/metadata/xattrs`, { method: 'PUT', headers: json, body: '{"k":"v"}' }],
    ['REST json metadata', `${API}/data/${id}/metadata/json`, { method: 'PUT', headers: json, body: '{"k":"v"}' }],
    ['REST rdf metadata', `${API}/data/${id}/metadata/rdf`, { method: 'PUT', headers: { 'Content-Type': 'application/rdf+xml' }, body: '<rdf/>' }],
    ['REST mode', `${API}/data/${id}`, { method: 'PUT', headers: json, body: '{"mode":"0777"}' }],
    ['REST create', `${API}/data/${worker.space.dirId}/children?name=new-file`, { method: 'POST', body: 'x' }],
    ['REST delete', `${API}/data/${id}`, { method: 'DELETE' }],
    ['REST delete by path', `${API}/data/${worker.space.dirId}/path/ro`, { method: 'DELETE' }],
    ['REST create at path', `${API}/data/${worker.space.dirId}/path/ro-new.txt`, { method: 'PUT', body: 'x' }],
    ['REST hard link', `${API}/data/${worker.space.dirId}/children?name=ro-link&type=LNK&target_file_id=${id}`, { method: 'POST' }],
    ['REST xattr removal', `${API}/data/${id}/metadata/xattrs`, { method: 'DELETE', headers: json, body: '{"keys":["k"]}' }],
    ['REST json removal', `${API}/data/${id}/metadata/json`, { method: 'DELETE' }],
    ['REST rdf removal', `${API}/data/${id}/metadata/rdf`, { method: 'DELETE' }],
    ['CDMI value', '/cdmi/default/ro', { method: 'PUT', headers: CO, body: '{"value":"x"}' }],
    ['CDMI raw write', '/cdmi/default/ro', { method: 'PUT', body: 'x' }],
    ['CDMI range write', '/cdmi/default/ro', { method: 'PUT', headers: { 'Content-Range': 'bytes 0-0/8' }, body: 'x' }],
    ['CDMI metadata', '/cdmi/default/ro?metadata:k', { method: 'PUT', headers: CO, body: '{"metadata":{"k":"v"}}' }],
    ['CDMI move', '/cdmi/default/moved', { method: 'PUT', headers: CO, body: '{"move":"/default/ro"}' }],
    ['CDMI mkdir', '/cdmi/default/newdir/', { method: 'PUT' }],
    ['CDMI copy', '/cdmi/default/ro-copy', { method: 'PUT', headers: CO, body: '{"copy":"/default/ro"}' }],
    ['CDMI delete', '/cdmi/default/ro', { method: 'DELETE' }],
  ];
  for (const [label, path, options] of attempts) {
    const response = await send(worker, path, { ...options, token });
    t.is(response.status, 403, `${label}: ${response.status} ${response.text.slice(0, 160)}`);
  }
  t.is((await send(worker, `${API}/data/${id}/content`, { token })).text, CONTENT);
  t.is((await send(worker, '/cdmi/default/moved', { headers: V })).status, 404);
});

test('revoked token is refused on another worker within a second', async (t) => {
  const { worker, memberId } = t.context;
  // A second worker: its own token service and app on the same metadata store.
  const otherTokens = new TokenService(worker.core.store, { now: () => Date.now() });
  const other = createApp({
    lfs: worker.core.lfs,
    users: worker.core.users,
    tokens: otherTokens,
    logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
  });
  const server = createServer(other.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const otherWorker = { ...worker, port: (server.address() as AddressInfo).port };

  const issued = await worker.core.tokens.create(memberId, { ttlSeconds: 600 });
  const path = `${API}/spaces`;
  t.is((await send(otherWorker, path, { token: issued.token })).status, 200);
  await worker.core.tokens.revoke(issued.tokenId);
  t.is((await send(worker, path, { token: issued.token })).status, 401);

  await new Promise((resolve) => setTimeout(resolve, 1000));
  const refused = await send(otherWorker, path, { token: issued.token });
  t.is(refused.status, 401);
  t.is(refused.json.error.details.authError, 'tokenRevoked');
});

test('thousand bad tokens are logged once', async (t) => {
  const { worker } = t.context;
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } }));
  const failureLog = new AuthFailureLog(60_000);
  const app = new Koa<AppState>();
  app.use(requestIdMiddleware(logger));
  app.use(errorMiddleware());
  app.use(authMiddleware({ tokens: worker.core.tokens, users: worker.core.users, failureLog }));
  app.use((ctx) => {
    ctx.body = { ok: true };
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const target = { ...worker, port: (server.address() as AddressInfo).port };

  const valid = await worker.core.tokens.create(t.context.memberId, { ttlSeconds: 600 });
  const forged = `${valid.token.slice(0, -6)}AAAAAA`;
  const statuses = new Map<number, number>();
  for (let batch = 0; batch < 50; batch++) {
    const responses = await Promise.all(Array.from({ length: 20 }, (_, index) => send(target, '/', { token: index % 2 === 0 ? forged : `opw1.junk${batch}.x` })));
    for (const response of responses) statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  }
  t.deepEqual([...statuses], [[401, 1000]]);
  t.is(lines.length, 0, 'nothing is logged before the window ends');

  failureLog.flush();
  t.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!);
  t.is(entry.count, 1000);
  t.is(entry.ip, '127.0.0.1');
  t.deepEqual(entry.reasons, { badToken: 1000 });
  t.false(lines[0]!.includes(forged.slice(0, 40)), 'the log holds no token');
});

test('unknown interface path uses rest', async (t) => {
  const { worker } = t.context;
  const token = await tokenWith(t, [{ type: 'interface', interface: 'rest' }]);
  t.is((await send(worker, `${API}/spaces`, { token })).status, 200);
  const cdmi = await send(worker, '/cdmi/default/', { token, headers: V });
  t.is(cdmi.status, 401);
  t.regex(cdmi.json.error.description, /rest interface/);
});

test('two different token headers are 400', async (t) => {
  const { worker } = t.context;
  const mine = await tokenWith(t, []);
  const other = (await worker.core.tokens.create(worker.admin.id, { ttlSeconds: 600 })).token;

  const conflict = await send(worker, `${API}/spaces`, { token: mine, headers: { Authorization: `Bearer ${other}` } });
  t.is(conflict.status, 400, conflict.text);
  t.regex(conflict.json.error.description, /X-Auth-Token and Authorization/);

  const same = await send(worker, `${API}/spaces`, { token: mine, headers: { Authorization: `Bearer ${mine}` } });
  t.is(same.status, 200, same.text);
});
