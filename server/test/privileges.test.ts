import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parsePrivileges, SpaceMembership, systemClock } from '@op-worker/core';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { spacePrivilegeCheck } from '../src/rest/privileges.js';
import { API, createFile, send, startTestWorker, type TestWorker } from './helpers.js';

interface Context {
  base: TestWorker;
  /** The same store behind an app that serves shares, transfers and QoS. */
  worker: TestWorker;
  server: Server;
  fileId: string;
  /** Tokens of members holding the `member` preset with and without the extra privileges under test. */
  tokens: Record<'plain' | 'granted' | 'viewer', string>;
}

const test = anyTest as TestFn<Context>;

/** Privileges beyond the `member` preset that the routes below check. */
const EXTRA = ['space_manage_shares', 'space_schedule_replication', 'space_cancel_replication', 'space_manage_qos'];

test.beforeEach(async (t) => {
  const base = await startTestWorker();
  const { core } = base;
  const app = createApp({
    lfs: core.lfs, users: core.users, tokens: core.tokens, shares: core.shares, logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    dataManagement: { transfers: core.transfers, qos: core.qos },
    spacePrivileges: spacePrivilegeCheck(core.store, systemClock),
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const worker = { ...base, port: (server.address() as AddressInfo).port };

  const membership = new SpaceMembership(core.store, systemClock);
  const grants = { plain: parsePrivileges('member'), granted: parsePrivileges(['member', ...EXTRA]), viewer: parsePrivileges('viewer') };
  const tokens = {} as Context['tokens'];
  for (const [name, privileges] of Object.entries(grants) as [keyof Context['tokens'], string[]][]) {
    const user = await core.users.create({ name });
    await membership.setMember(base.space.spaceId, { userId: user.id }, parsePrivileges(privileges));
    tokens[name] = (await core.tokens.create(user.id, { ttlSeconds: 600 })).token;
  }
  const fileId = await createFile(worker, 'data.bin', 'payload');
  t.context = { base, worker, server, fileId, tokens };
});

test.afterEach.always(async (t) => {
  t.context.server.closeAllConnections();
  await new Promise<void>((resolve) => t.context.server.close(() => resolve()));
  await t.context.base.close();
});

function json(method: string, body: unknown, token: string) {
  return { method, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, token };
}

test('shares need space_manage_shares', async (t) => {
  const { worker, fileId, tokens } = t.context;
  const denied = await send(worker, `${API}/shares`, json('POST', { name: 'public', rootFileId: fileId }, tokens.plain));
  t.is(denied.status, 403);
  t.is(denied.json.error.id, 'forbidden');
  t.regex(denied.json.error.description, /space_manage_shares/);

  const created = await send(worker, `${API}/shares`, json('POST', { name: 'public', rootFileId: fileId }, tokens.granted));
  t.is(created.status, 201);
  const shareId = created.json.shareId as string;

  t.is((await send(worker, `${API}/shares/${shareId}`, { token: tokens.plain })).status, 200);
  t.is((await send(worker, `${API}/shares/${shareId}`, json('PATCH', { name: 'renamed' }, tokens.plain))).status, 403);
  t.is((await send(worker, `${API}/shares/${shareId}`, { method: 'DELETE', token: tokens.plain })).status, 403);
  t.is((await send(worker, `${API}/shares/${shareId}`, json('PATCH', { name: 'renamed' }, tokens.granted))).status, 204);
  t.is((await send(worker, `${API}/shares/${shareId}`, { method: 'DELETE', token: tokens.granted })).status, 204);
});

test('transfers need view, schedule and cancel privileges', async (t) => {
  const { worker, fileId, tokens } = t.context;
  const storageId = (await worker.core.spaces.get(worker.space.spaceId)).storageIds[0];
  const request = { type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: storageId };

  const denied = await send(worker, `${API}/transfers`, json('POST', request, tokens.plain));
  t.is(denied.status, 403);
  t.regex(denied.json.error.description, /space_schedule_replication/);

  const created = await send(worker, `${API}/transfers`, json('POST', request, tokens.granted));
  t.is(created.status, 201);
  const transferId = created.json.transferId as string;

  t.is((await send(worker, `${API}/transfers/${transferId}`, { token: tokens.plain })).status, 200);
  t.is((await send(worker, `${API}/spaces/${worker.space.spaceId}/transfers`, { token: tokens.plain })).status, 200);
  const hidden = await send(worker, `${API}/transfers/${transferId}`, { token: tokens.viewer });
  t.is(hidden.status, 403);
  t.regex(hidden.json.error.description, /space_view_transfers/);
  t.is((await send(worker, `${API}/spaces/${worker.space.spaceId}/transfers`, { token: tokens.viewer })).status, 403);

  const cancelDenied = await send(worker, `${API}/transfers/${transferId}`, { method: 'DELETE', token: tokens.plain });
  t.is(cancelDenied.status, 403);
  t.regex(cancelDenied.json.error.description, /space_cancel_replication/);
  t.not((await send(worker, `${API}/transfers/${transferId}`, { method: 'DELETE', token: tokens.granted })).status, 403);
});

test('QoS needs space_view_qos and space_manage_qos', async (t) => {
  const { worker, fileId, tokens } = t.context;
  const request = { fileId, expression: 'anyStorage' };

  const denied = await send(worker, `${API}/qos_requirements`, json('POST', request, tokens.plain));
  t.is(denied.status, 403);
  t.regex(denied.json.error.description, /space_manage_qos/);

  const added = await send(worker, `${API}/qos_requirements`, json('POST', request, tokens.granted));
  t.is(added.status, 201);
  const requirementId = added.json.qosRequirementId as string;

  t.is((await send(worker, `${API}/qos_requirements/${requirementId}`, { token: tokens.plain })).status, 200);
  t.is((await send(worker, `${API}/data/${fileId}/qos/summary`, { token: tokens.plain })).status, 200);
  const hidden = await send(worker, `${API}/qos_requirements/${requirementId}`, { token: tokens.viewer });
  t.is(hidden.status, 403);
  t.regex(hidden.json.error.description, /space_view_qos/);
  t.is((await send(worker, `${API}/data/${fileId}/qos/summary`, { token: tokens.viewer })).status, 403);

  t.is((await send(worker, `${API}/qos_requirements/${requirementId}`, { method: 'DELETE', token: tokens.plain })).status, 403);
  t.is((await send(worker, `${API}/qos_requirements/${requirementId}`, { method: 'DELETE', token: tokens.granted })).status, 204);
});

test('owner and admin bypass privileges', async (t) => {
  const { worker, fileId } = t.context;
  const created = await send(worker, `${API}/shares`, json('POST', { name: 'by-owner', rootFileId: fileId }, worker.token));
  t.is(created.status, 201);
});

test('share service checks privileges for library callers', async (t) => {
  const { core } = t.context.base;
  const plain = await core.users.resolve('plain');
  const granted = await core.users.resolve('granted');
  const plainWho = { userId: plain.id, isAdmin: false };
  const grantedWho = { userId: granted.id, isAdmin: false };

  const denied = await t.throwsAsync(core.shares.create(plainWho, { name: 'lib', rootFileId: t.context.fileId }));
  t.is((denied as { kind?: string }).kind, 'forbidden');
  t.regex(denied!.message, /space_manage_shares/);

  const share = await core.shares.create(grantedWho, { name: 'lib', rootFileId: t.context.fileId });
  t.is((await core.shares.get(plainWho, share.shareId)).name, 'lib');
  const renameDenied = await t.throwsAsync(core.shares.update(plainWho, share.shareId, { name: 'renamed' }));
  t.is((renameDenied as { kind?: string }).kind, 'forbidden');
  const removeDenied = await t.throwsAsync(core.shares.remove(plainWho, share.shareId));
  t.is((removeDenied as { kind?: string }).kind, 'forbidden');

  await core.shares.remove(grantedWho, share.shareId);
  await t.throwsAsync(core.shares.get(grantedWho, share.shareId), { message: /not found/i });
});
