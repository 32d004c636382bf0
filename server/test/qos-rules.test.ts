import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { DEFAULT_CONFIG } from '../src/config.js';
import { API, send, startTestWorker, type TestWorker } from './helpers.js';

const ADMIN = '/api/v3/onepanel';
const test = anyTest as TestFn<TestWorker>;

test.beforeEach(async (t) => {
  const base = await startTestWorker();
  const { core } = base;
  const app = createApp({
    lfs: core.lfs,
    users: core.users,
    tokens: core.tokens,
    logger: pino({ level: 'silent' }),
    provider: { providerId: DEFAULT_CONFIG.providerId, name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer, rules: core.rules },
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  core.jobs.start();
  t.context = {
    ...base,
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await base.close();
    },
  };
});

test.afterEach.always(async (t) => {
  await t.context.close();
});

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

async function upload(worker: TestWorker, name: string, content: string): Promise<string> {
  const response = await send(worker, `${API}/data/${worker.space.dirId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (response.status !== 201) throw new Error(`upload of ${name} failed: ${response.status}`);
  return response.json.fileId as string;
}

test('admin rules: add, dry run, apply, remove', async (t) => {
  const worker = t.context;
  const spaceId = worker.space.spaceId;
  const logs = await upload(worker, 'app.log', 'log line');
  await upload(worker, 'keep.txt', 'text');

  const added = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json({
    name: 'tag logs',
    match: { namePattern: '*.log' },
    action: { type: 'setMetadata', xattrs: { retention: '30d' } },
  }));
  t.is(added.status, 201);
  const ruleId = added.json.ruleId as string;
  t.is(added.json.trigger, 'manual');

  const listed = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`);
  t.deepEqual(listed.json.rules.map((rule: { ruleId: string }) => rule.ruleId), [ruleId]);

  const dryRun = await send(worker, `${ADMIN}/provider/rules/${ruleId}/dry_run`, { method: 'POST' });
  t.is(dryRun.status, 200);
  t.deepEqual(dryRun.json, { files: [{ fileId: logs, path: 'app.log', size: 8 }] });
  t.deepEqual(await worker.core.lfs.getXattrs({ userId: worker.admin.id, isAdmin: true }, logs), {}, 'a dry run changes nothing');

  const applied = await send(worker, `${ADMIN}/provider/rules/${ruleId}/apply`, { method: 'POST' });
  t.is(applied.status, 202);
  const deadline = Date.now() + 20_000;
  while ((await worker.core.jobs.get(applied.json.jobId))?.state !== 'completed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  const job = await send(worker, `${ADMIN}/provider/rules/jobs/${applied.json.jobId}`);
  t.is(job.status, 200);
  t.like(job.json, { jobId: applied.json.jobId, ruleId, state: 'completed', lastPath: 'keep.txt' });
  t.is((await send(worker, `${ADMIN}/provider/rules/jobs/nope`)).status, 404);
  const xattrs = await send(worker, `${API}/data/${logs}/metadata/xattrs`);
  t.is(xattrs.json.retention, '30d');

  t.is((await send(worker, `${ADMIN}/provider/rules/${ruleId}`)).json.name, 'tag logs');
  t.is((await send(worker, `${ADMIN}/provider/rules/${ruleId}`, { method: 'DELETE' })).status, 204);
  t.is((await send(worker, `${ADMIN}/provider/rules/${ruleId}`)).status, 404);
});

test('admin rules: invalid bodies', async (t) => {
  const worker = t.context;
  const spaceId = worker.space.spaceId;
  const cases: unknown[] = [
    { name: 'x', match: {}, action: { type: 'explode' } },
    { name: 'x', match: { minSize: -1 }, action: { type: 'delete' } },
    { name: 'x', match: {}, action: { type: 'evict' } },
    { name: 'x', match: { colour: 'red' }, action: { type: 'delete' } },
    { match: {}, action: { type: 'delete' } },
    { name: 'x', match: { pathGlob: '*{a,b}'.repeat(200) }, action: { type: 'delete' } },
  ];
  for (const body of cases) {
    const response = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json(body));
    t.is(response.status, 400, JSON.stringify(body));
  }
  const badExpression = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json({ name: 'x', match: {}, action: { type: 'replicate', expression: 'a=' } }));
  t.is(badExpression.status, 400);
  t.is(badExpression.json.error.id, 'invalidQosExpression');
  const user = await worker.core.users.create({ name: 'plain', isAdmin: false });
  const token = (await worker.core.tokens.create(user.id)).token;
  t.is((await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, { token })).status, 403);
});

test('admin rules: rejections name the reason', async (t) => {
  const worker = t.context;
  const spaceId = worker.space.spaceId;
  const storageId = worker.space.storageIds[0] as string;
  const cases: Array<[unknown, string, RegExp]> = [
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'explode' } }, 'badValue', /unknown action type "explode"/],
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'setMetadata', xattrs: {} } }, 'badValue', /setMetadata action needs at least one extended attribute in "xattrs"/],
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'setMetadata' } }, 'missingRequiredValue', /invalid setMetadata action: missing body field "xattrs"/],
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'evict', storageId: 'no-such-storage' } }, 'spaceNotSupportedBy', /"no-such-storage"/],
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'migrate', fromStorageId: storageId, toStorageId: 'elsewhere' } }, 'spaceNotSupportedBy', /"elsewhere"/],
    [{ name: 'x', match: { pathGlob: '*' }, action: { type: 'migrate', fromStorageId: storageId, toStorageId: storageId } }, 'badValue', /two different storages/],
    [{ name: 'x', match: {}, action: { type: 'delete' } }, 'badValue', /matchAll/],
    [{ name: 'x', match: { matchAll: true, minSize: 1 }, action: { type: 'delete' } }, 'badValue', /takes no other condition/],
    [{ name: 'x', match: { pathGlob: '/logs/*.log' }, action: { type: 'delete' } }, 'badValue', /Write "logs\/\*\.log"/],
    [{ name: 'x', match: { minSize: 10, maxSize: 5 }, action: { type: 'delete' } }, 'badValue', /larger than match.maxSize/],
    [{ name: 'x'.repeat(257), match: { pathGlob: '*' }, action: { type: 'delete' } }, 'badValue', /name/],
  ];
  for (const [body, id, message] of cases) {
    const response = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json(body));
    t.is(response.status, 400, JSON.stringify(body).slice(0, 200));
    t.is(response.json.error.id, id, JSON.stringify(body).slice(0, 200));
    t.regex(response.json.error.description, message);
  }

  const deleteAll = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json({ name: 'wipe', match: { matchAll: true }, action: { type: 'delete' } }));
  t.is(deleteAll.status, 201);
  const longName = await send(worker, `${ADMIN}/provider/spaces/${spaceId}/rules`, json({ name: 'x'.repeat(256), match: {}, action: { type: 'evict', storageId } }));
  t.is(longName.status, 201);
});
