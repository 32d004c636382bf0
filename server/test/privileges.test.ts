import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parsePrivileges, SpaceMembership, systemClock, type TokenCaveat } from '@op-worker/core';
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

/** Issue a token for the `granted` member (member preset plus `EXTRA`), limited by `caveats`. */
async function grantedToken(base: TestWorker, caveats: TokenCaveat[]): Promise<string> {
  const granted = await base.core.users.resolve('granted');
  return (await base.core.tokens.create(granted.id, { ttlSeconds: 600, caveats })).token;
}

test('read-only token uses no managing privilege', async (t) => {
  const { worker, base, fileId, tokens } = t.context;
  const readOnly = await grantedToken(base, [{ type: 'data.readonly' }]);
  const storageId = (await worker.core.spaces.get(worker.space.spaceId)).storageIds[0];
  const share = (await send(worker, `${API}/shares`, json('POST', { name: 'public', rootFileId: fileId }, tokens.granted))).json.shareId as string;
  const requirement = (await send(worker, `${API}/qos_requirements`, json('POST', { fileId, expression: 'anyStorage' }, tokens.granted))).json
    .qosRequirementId as string;

  const attempts: Array<[string, string, ReturnType<typeof json> | { method: string; token: string }]> = [
    ['create share', `${API}/shares`, json('POST', { name: 'ro', rootFileId: fileId }, readOnly)],
    ['rename share', `${API}/shares/${share}`, json('PATCH', { name: 'renamed' }, readOnly)],
    ['remove share', `${API}/shares/${share}`, { method: 'DELETE', token: readOnly }],
    ['add QoS', `${API}/qos_requirements`, json('POST', { fileId, expression: 'anyStorage' }, readOnly)],
    ['remove QoS', `${API}/qos_requirements/${requirement}`, { method: 'DELETE', token: readOnly }],
    ['replicate', `${API}/transfers`, json('POST', { type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: storageId }, readOnly)],
    ['evict', `${API}/transfers`, json('POST', { type: 'eviction', dataSourceType: 'file', fileId, evictingProviderId: storageId }, readOnly)],
  ];
  for (const [label, path, options] of attempts) {
    const response = await send(worker, path, options);
    t.is(response.status, 403, `${label}: ${response.text}`);
    t.regex(response.json?.error?.description ?? '', /data\.readonly/, label);
  }

  t.is((await send(worker, `${API}/shares/${share}`, { token: readOnly })).json.name, 'public', 'the share is unchanged');
  t.is((await send(worker, `${API}/qos_requirements/${requirement}`, { token: readOnly })).status, 200, 'viewing still works');
});

test('read-only library caller is refused', async (t) => {
  const { base, fileId } = t.context;
  const granted = await base.core.users.resolve('granted');
  const who = { userId: granted.id, isAdmin: false, caveats: [{ type: 'data.readonly' as const }] };

  const share = await t.throwsAsync(base.core.shares.create(who, { name: 'lib', rootFileId: fileId }));
  t.is((share as { kind?: string }).kind, 'forbidden');
  t.regex(share!.message, /data\.readonly/);
  const qos = await t.throwsAsync(base.core.qos.add(who, { fileId, expression: 'anyStorage' }));
  t.is((qos as { kind?: string }).kind, 'forbidden');
});

test('path token manages only covered files', async (t) => {
  const { worker, base } = t.context;
  const admin = { userId: base.admin.id, isAdmin: true };
  const dir = await base.core.lfs.create(admin, base.space.dirId, 'proj', { type: 'DIR' });
  const inside = await base.core.lfs.create(admin, dir.fileId, 'inside.bin', { type: 'REG' });
  const token = await grantedToken(base, [{ type: 'data.path', whitelist: [`/${base.space.spaceId}/proj`] }]);
  const storageId = (await worker.core.spaces.get(worker.space.spaceId)).storageIds[0];

  for (const [label, fileId, status] of [['space root', base.space.dirId, 403], ['covered dir', dir.fileId, 201], ['covered file', inside.fileId, 201]] as const) {
    const share = await send(worker, `${API}/shares`, json('POST', { name: label, rootFileId: fileId }, token));
    t.is(share.status, status, `share ${label}: ${share.text}`);
    const qos = await send(worker, `${API}/qos_requirements`, json('POST', { fileId, expression: 'anyStorage' }, token));
    t.is(qos.status, status, `QoS ${label}: ${qos.text}`);
    const transfer = await send(worker, `${API}/transfers`, json('POST', { type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: storageId }, token));
    t.is(transfer.status, status, `transfer ${label}: ${transfer.text}`);
  }

  const rootShare = await send(worker, `${API}/shares`, json('POST', { name: 'root', rootFileId: base.space.dirId }, t.context.tokens.granted));
  t.is((await send(worker, `${API}/shares/${rootShare.json.shareId}`, { method: 'DELETE', token })).status, 403, 'a share of the root stays');
});

/** Read the change stream of the test space from the start until it is idle for 300 ms. */
async function changeEvents(worker: TestWorker, token: string): Promise<{ status: number; paths: string[]; text: string }> {
  const response = await send(worker, `${API}/changes/metadata/${worker.space.spaceId}?last_seq=0&timeout=300`, json('POST', {}, token));
  const paths = response.status === 200
    ? response.text.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { filePath: string }).filePath)
    : [];
  return { status: response.status, paths, text: response.text };
}

test('change stream needs its privilege', async (t) => {
  const { worker, tokens } = t.context;
  const denied = await changeEvents(worker, tokens.viewer);
  t.is(denied.status, 403, denied.text);
  t.regex(denied.text, /space_view_changes_stream/);
  t.is((await changeEvents(worker, tokens.plain)).status, 200);
});

test('change stream keeps to data caveats', async (t) => {
  const { worker, base } = t.context;
  const admin = { userId: base.admin.id, isAdmin: true };
  const dir = await base.core.lfs.create(admin, base.space.dirId, 'proj', { type: 'DIR' });
  await base.core.lfs.create(admin, dir.fileId, 'inside.bin', { type: 'REG' });
  for (let index = 0; index < 3; index += 1) await base.core.lfs.create(admin, base.space.dirId, `outside-${index}.bin`, { type: 'REG' });
  const byPath = await grantedToken(base, [{ type: 'data.path', whitelist: [`/${base.space.spaceId}/proj`] }]);
  const byId = await grantedToken(base, [{ type: 'data.objectid', whitelist: [dir.fileId] }]);

  const all = await changeEvents(worker, t.context.tokens.granted);
  t.true(all.paths.includes(`/${base.space.name}/outside-0.bin`), 'an unrestricted token sees every file');

  for (const [label, token] of [['data.path', byPath], ['data.objectid', byId]] as const) {
    const events = await changeEvents(worker, token);
    t.is(events.status, 200, `${label}: ${events.text}`);
    t.true(events.paths.includes(`/${base.space.name}/proj/inside.bin`), `${label} sees the covered file`);
    t.deepEqual(events.paths.filter((path) => !path.startsWith(`/${base.space.name}/proj`)), [], `${label} sees nothing else`);
  }
});
