import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { send, startTestWorker, type TestWorker } from './helpers.js';

interface Context {
  worker: TestWorker;
  admin: TestWorker;
  server: Server;
}

const test = anyTest as TestFn<Context>;
const PANEL = '/api/v3/onepanel';
const MOTO_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/servers/moto.sh');

test.beforeEach(async (t) => {
  const worker = await startTestWorker();
  const { core } = worker;
  const app = createApp({
    lfs: core.lfs, users: core.users, tokens: core.tokens, logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer },
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.context = { worker, server, admin: { ...worker, port: (server.address() as AddressInfo).port } };
});

test.afterEach.always(async (t) => {
  t.context.server.closeAllConnections();
  await new Promise<void>((resolve) => t.context.server.close(() => resolve()));
  await t.context.worker.close();
});

function patch(t: { context: Context }, id: string, body: unknown) {
  return send(t.context.admin, `${PANEL}/provider/storages/${id}`, { method: 'PATCH', body: JSON.stringify(body) });
}

async function addPosix(t: { context: Context }, name: string): Promise<{ id: string; mountPoint: string }> {
  const mountPoint = path.join(t.context.worker.root, name);
  await mkdir(mountPoint);
  const added = await send(t.context.admin, `${PANEL}/provider/storages`, { method: 'POST', body: JSON.stringify({ [name]: { type: 'posix', mountPoint } }) });
  if (added.status !== 200) throw new Error(`adding ${name} failed: ${added.text}`);
  return { id: added.json[name].id as string, mountPoint };
}

test('storage patch renames and reconfigures', async (t) => {
  const { admin } = t.context;
  const { id } = await addPosix(t, 'first');

  const response = await patch(t, id, { first: { type: 'posix', name: 'renamed', timeout: 5000, qosParameters: { tier: 'hot' } } });
  t.is(response.status, 200, response.text);
  t.is(response.json.name, 'renamed');
  t.is(response.json.timeout, 5000);

  const shown = await send(admin, `${PANEL}/provider/storages/${id}`);
  t.is(shown.json.name, 'renamed');
  t.is(shown.json.timeout, 5000);
  t.deepEqual(shown.json.qosParameters, { tier: 'hot', storageId: id });
});

test('storage patch verifies again', async (t) => {
  const { admin, worker } = t.context;
  const { id, mountPoint } = await addPosix(t, 'kept');

  const missing = path.join(worker.root, 'does-not-exist');
  const response = await patch(t, id, { kept: { mountPoint: missing } });
  t.is(response.status, 400, response.text);
  t.is((await send(admin, `${PANEL}/provider/storages/${id}`)).json.mountPoint, mountPoint, 'a failed change leaves the storage as it was');

  const moved = path.join(worker.root, 'moved');
  await mkdir(moved);
  const accepted = await patch(t, id, { kept: { mountPoint: moved } });
  t.is(accepted.status, 200, accepted.text);
  t.is((await send(admin, `${PANEL}/provider/storages/${id}`)).json.mountPoint, moved);
});

test('storage patch rejects bad requests', async (t) => {
  const { id } = await addPosix(t, 'strict');
  const cases: Array<[string, unknown, string]> = [
    ['wrong name key', { other: { timeout: 5 } }, 'name'],
    ['type change', { strict: { type: 's3' } }, 'type'],
    ['path type change', { strict: { storagePathType: 'flat' } }, 'storagePathType'],
    ['import change', { strict: { importedStorage: true } }, 'importedStorage'],
    ['unknown option', { strict: { colour: 'red' } }, 'colour'],
    ['bad option value', { strict: { timeout: 'soon' } }, 'timeout'],
  ];
  for (const [label, body, key] of cases) {
    const response = await patch(t, id, body);
    t.is(response.status, 400, `${label}: ${response.text}`);
    t.is(response.json.error.details.key, key, label);
  }
  t.is((await patch(t, 'f'.repeat(32), { strict: {} })).status, 404);
});

/** Start moto on a free port through the project's script; the caller stops it by PID. */
async function startMoto(): Promise<{ endpoint: string; child: ChildProcess; stateDir: string }> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  const stateDir = await mkdtemp(path.join(tmpdir(), 'op-admin-moto-'));
  const child = spawn('bash', [MOTO_SCRIPT, 'run', String(port), stateDir], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`moto exited with code ${child.exitCode}`);
    if (await fetch(endpoint).then(() => true, () => false)) return { endpoint, child, stateDir };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error('moto did not start within 60 s');
}

test('s3 secrets read back redacted', async (t) => {
  const moto = await startMoto();
  t.teardown(async () => {
    moto.child.kill('SIGKILL');
    await rm(moto.stateDir, { recursive: true, force: true });
  });
  // moto checks no signatures, so a plain request creates the bucket.
  t.is((await fetch(`${moto.endpoint}/op-admin-secrets`, { method: 'PUT' })).status, 200);

  const { admin } = t.context;
  const options = { type: 's3', hostname: moto.endpoint, bucketName: 'op-admin-secrets', accessKey: 'admin-access-key', secretKey: 'admin-secret-key' };
  const added = await send(admin, `${PANEL}/provider/storages`, { method: 'POST', body: JSON.stringify({ objects: options }) });
  t.is(added.status, 200, added.text);
  const id = added.json.objects.id as string;

  const shown = await send(admin, `${PANEL}/provider/storages/${id}`);
  t.is(shown.json.accessKey, '*****');
  t.is(shown.json.secretKey, '*****');
  t.is(shown.json.bucketName, 'op-admin-secrets');
  t.false(shown.text.includes('admin-secret-key'));

  const changed = await patch(t, id, { objects: { secretKey: 'rotated-secret-key' } });
  t.is(changed.status, 200, changed.text);
  t.is(changed.json.secretKey, '*****');
  t.false(changed.text.includes('rotated-secret-key'));
  const record = await t.context.worker.core.storages.get(id);
  t.is(record.config['secretKey'], 'rotated-secret-key', 'the new secret is stored');
});
