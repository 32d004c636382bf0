import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { SpaceInfo } from '@op-worker/core';
import { generatedStream, MiB, modelDigest, streamDigest, type ContentModel } from '../src/servers/content.js';
import { freePort } from '../src/servers/script-server.js';
import { startAzure, startS3, startSftp, type StorageOptions, type StorageServer } from '../src/servers/storages.js';
import { cliJson, encodePath, REST, runCli, send, startWorkerProcess, type HttpResponse, type WorkerProcess } from '../src/servers/worker.js';

/**
 * Storage faults seen through the real `op-worker` binary: a storage server killed in
 * the middle of large uploads, and storages added (with the CLI and the admin API)
 * with wrong credentials or at an address where nothing listens. The tests run one at a time because they stop servers.
 */

type RemoteType = 's3' | 'sftp' | 'azure';

const UPLOAD_SIZE = 200 * MiB;
/** Bytes both uploads must have produced before the storage server is killed. */
const KILL_AFTER = 32 * MiB;

/**
 * How each server is stopped. Azurite writes its blob index to disk only every few
 * seconds, so a SIGKILL loses blobs written just before it; SIGTERM makes it save first.
 */
const STOP_SIGNAL: Record<RemoteType, NodeJS.Signals> = { s3: 'SIGKILL', sftp: 'SIGKILL', azure: 'SIGTERM' };

interface Remote {
  server: StorageServer;
  options: StorageOptions;
  space: SpaceInfo;
}

const remotes = new Map<RemoteType, Remote>();
let worker: WorkerProcess;
let root: string;
let dataDir: string;

test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'op-it-faults-'));
  dataDir = path.join(root, 'data');
  const started = await Promise.all([startS3(), startSftp(), startAzure()]);
  worker = await startWorkerProcess(dataDir);

  for (const server of started) {
    const options = await server.newStorage(`faults-${server.type}`);
    await cliJson(dataDir, 'storage', 'add', '--name', server.type, '--type', server.type, '--config', JSON.stringify(options));
    await cliJson(dataDir, 'space', 'create', `${server.type}-space`, '--owner', 'admin');
    const space = await cliJson<SpaceInfo>(dataDir, 'space', 'support', `${server.type}-space`, '--storage', server.type);
    remotes.set(server.type, { server, options, space });
  }
});

test.after.always(async () => {
  await worker?.stop();
  await Promise.all([...remotes.values()].map((remote) => remote.server.stop()));
  await rm(root, { recursive: true, force: true });
});

function remoteOf(type: RemoteType): Remote {
  const remote = remotes.get(type);
  if (remote === undefined) throw new Error(`no storage was set up for ${type}`);
  return remote;
}

function putStream(url: string, model: ContentModel, onProgress?: (produced: number) => void): Promise<HttpResponse> {
  return send(worker, url, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: generatedStream(model.seed, model.size, onProgress),
    contentLength: model.size,
  });
}

/** An upload that ended without a response: the connection was reset while the body was still being sent. */
interface ConnectionReset {
  reset: string;
}

/** Send an upload that may fail, returning a connection reset as a value instead of throwing it. */
async function failingUpload(url: string, model: ContentModel, onProgress: (produced: number) => void): Promise<HttpResponse | ConnectionReset> {
  try {
    return await putStream(url, model, onProgress);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'ECONNRESET') return { reset: code };
    throw error;
  }
}

async function contentDigest(fileId: string): Promise<{ sha256: string; bytes: number }> {
  const response = await fetch(`${worker.url}${REST}/data/${fileId}/content`, { headers: { 'X-Auth-Token': worker.token } });
  if (response.status !== 200 || response.body === null) throw new Error(`download of ${fileId} failed with HTTP ${response.status}`);
  return streamDigest(response.body);
}

/**
 * Check that a failed upload reported the storage as unavailable. A connection reset
 * also shows the client that the upload failed, so it passes, and is logged.
 * NOTE: the reset happens when the storage writer destroys the request stream while the
 * client still sends, which closes the socket before the 503 reaches the client.
 */
function assertUnavailable(t: ExecutionContext, response: HttpResponse | ConnectionReset, label: string): void {
  if ('reset' in response) {
    t.log(`${label}: connection reset (${response.reset}) before a response arrived`);
    t.pass();
    return;
  }
  t.is(response.status, 503, `${label}: ${response.body.toString()}`);
  const error = response.json().error as { id: string; description: string };
  t.is(error.id, 'serviceUnavailable', label);
  t.regex(error.description, /unavailable|unreachable|connection/i, label);
  t.log(`${label}: HTTP ${response.status} ${error.description}`);
}

for (const type of ['s3', 'sftp', 'azure'] as const) {
  test.serial(`${type} server killed during 200 MiB uploads`, async (t) => {
    const { server, options, space } = remoteOf(type);
    const existing: ContentModel = { seed: 41, size: MiB, patches: [] };
    const created = await putStream(`${REST}/data/${space.dirId}/path/${encodePath('faults/existing.bin')}?create_parents=true`, existing);
    t.is(created.status, 201, created.body.toString());
    const existingId = created.json().fileId as string;

    // A new file and a whole overwrite of an existing one are both in flight when the server dies.
    const produced = { fresh: 0, overwrite: 0 };
    let killed: Promise<void> | undefined;
    const killOnceBothStarted = (): void => {
      if (killed === undefined && produced.fresh >= KILL_AFTER && produced.overwrite >= KILL_AFTER) killed = server.server.kill(STOP_SIGNAL[type]);
    };
    const fresh = failingUpload(`${REST}/data/${space.dirId}/path/${encodePath('faults/new.bin')}`, { seed: 42, size: UPLOAD_SIZE, patches: [] }, (bytes) => {
      produced.fresh = bytes;
      killOnceBothStarted();
    });
    const overwrite = failingUpload(`${REST}/data/${existingId}/content`, { seed: 43, size: UPLOAD_SIZE, patches: [] }, (bytes) => {
      produced.overwrite = bytes;
      killOnceBothStarted();
    });
    // A failed assertion must not leave the server down for the tests that follow.
    let relaunched = false;
    t.teardown(async () => {
      if (relaunched || killed === undefined) return;
      await killed;
      await server.server.launch();
      await server.recreate(options);
    });
    const [freshResponse, overwriteResponse] = await Promise.all([fresh, overwrite]);
    await killed;
    t.truthy(killed, 'the server was killed before both uploads ended');

    assertUnavailable(t, freshResponse, 'new file');
    assertUnavailable(t, overwriteResponse, 'overwrite');
    const lookup = await send(worker, `${REST}/lookup-file-id/${encodePath(`${space.name}/faults/new.bin`)}`, { method: 'POST' });
    t.is(lookup.status, 404, 'the failed new file has no name');
    t.is((await send(worker, `${REST}/data/${existingId}?attributes=size`)).json().size, MiB, 'the overwritten file keeps its size');

    await server.server.launch();
    await server.recreate(options);
    relaunched = true;

    const after: ContentModel = { seed: 44, size: 16 * MiB, patches: [] };
    const next = await putStream(`${REST}/data/${space.dirId}/path/${encodePath('faults/after.bin')}`, after);
    t.is(next.status, 201, `upload after the server returned: ${next.body.toString()}`);
    t.deepEqual(await contentDigest(next.json().fileId as string), { sha256: modelDigest(after), bytes: after.size });

    // moto keeps objects in memory only, so after its restart the old content is gone.
    if (type !== 's3') t.deepEqual(await contentDigest(existingId), { sha256: modelDigest(existing), bytes: MiB });
    if (type === 'sftp') {
      const names = await readdir(sftpFaultsDir());
      t.false(names.includes('new.bin'), 'no partial new.bin on the SFTP server');
    }
  });
}

/** Return the canonical storage folder of the SFTP space's `faults` directory on this machine's disk. */
function sftpFaultsDir(): string {
  const { options, space } = remoteOf('sftp');
  return path.join(String(options['rootPath']), space.spaceId, 'faults');
}

// A dropped whole write leaves its `.opw-tmp-<uuid>` file behind until the helper's next write removes it.
test.serial('sftp leaves no temporary file after a dropped upload', async (t) => {
  const names = await readdir(sftpFaultsDir());
  t.deepEqual(names.filter((name) => name.startsWith('.opw-tmp-')), []);
});

interface AddFailure {
  code: number | null;
  message: string;
}

async function addStorage(type: RemoteType, name: string, options: StorageOptions): Promise<AddFailure> {
  const result = await runCli(dataDir, 'storage', 'add', '--name', name, '--type', type, '--config', JSON.stringify(options));
  // The command's error is the line prefixed with the program name; warn-level JSON log lines surround it.
  const message = result.stderr.split('\n').find((line) => line.startsWith('op-worker: ')) ?? result.stderr;
  return { code: result.code, message };
}

interface RestAddResult {
  status: number;
  id: string;
  description: string;
}

/** Add a storage through the admin API (`POST /api/v3/onepanel/provider/storages`). */
async function addStorageOverRest(type: RemoteType, name: string, options: StorageOptions): Promise<RestAddResult> {
  const response = await send(worker, '/api/v3/onepanel/provider/storages', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: Buffer.from(JSON.stringify({ [name]: { type, ...options } })),
  });
  const error = response.status < 300 ? undefined : (response.json().error as { id: string; description: string });
  return { status: response.status, id: error?.id ?? '', description: error?.description ?? '' };
}

/** Point the storage options at a port of 127.0.0.1 where nothing listens. */
function atClosedPort(type: RemoteType, options: StorageOptions, port: number): StorageOptions {
  if (type === 's3') return { ...options, hostname: `http://127.0.0.1:${port}` };
  if (type === 'sftp') return { ...options, port };
  return { ...options, endpoint: `http://127.0.0.1:${port}/devstoreaccount1` };
}

test.serial('storage add: wrong credentials and closed port', async (t) => {
  // moto checks signatures only in its authentication mode, so S3 gets a server of its own here.
  const checkedS3 = await startS3({ authentication: true });
  t.teardown(() => checkedS3.stop());
  const closedPort = await freePort();

  for (const type of ['s3', 'sftp', 'azure'] as const) {
    const server = type === 's3' ? checkedS3 : remoteOf(type).server;
    const options = await server.newStorage(`add-${type}`);

    const good = await addStorage(type, `${type}-good`, options);
    t.is(good.code, 0, `${type} with valid credentials: ${good.message}`);

    const denied = await addStorage(type, `${type}-denied`, await server.withWrongCredentials(options));
    t.is(denied.code, 1, `${type} wrong credentials`);
    t.regex(denied.message, new RegExp(`verification of storage "${type}-denied" \\(${type}\\) failed at the write step`), denied.message);
    t.regex(denied.message, /denied|authenticat|signature|permission/i, denied.message);
    t.regex(denied.message, /\(badValue\)$/, denied.message);

    const unreachable = await addStorage(type, `${type}-unreachable`, atClosedPort(type, options, closedPort));
    t.is(unreachable.code, 1, `${type} closed port`);
    t.regex(unreachable.message, new RegExp(`verification of storage "${type}-unreachable" \\(${type}\\) failed at the write step`), unreachable.message);
    t.true(unreachable.message.includes(`127.0.0.1:${closedPort}`), unreachable.message);
    t.regex(unreachable.message, /\(unavailable\)$/, unreachable.message);

    t.log(denied.message);
    t.log(unreachable.message);
    t.not(denied.message.replace(`${type}-denied`, ''), unreachable.message.replace(`${type}-unreachable`, ''));

    const restDenied = await addStorageOverRest(type, `${type}-rest-denied`, await server.withWrongCredentials(options));
    t.is(restDenied.status, 400, restDenied.description);
    t.is(restDenied.id, 'badValue');
    t.regex(restDenied.description, /failed at the write step/);
    const restUnreachable = await addStorageOverRest(type, `${type}-rest-unreachable`, atClosedPort(type, options, closedPort));
    t.is(restUnreachable.status, 503, restUnreachable.description);
    t.is(restUnreachable.id, 'serviceUnavailable');
    t.true(restUnreachable.description.includes(`127.0.0.1:${closedPort}`), restUnreachable.description);
  }

  const names = (await cliJson<Array<{ name: string }>>(dataDir, 'storage', 'list')).map((storage) => storage.name);
  t.false(names.some((name) => name.endsWith('-denied') || name.endsWith('-unreachable')), names.join(', '));
  t.true(names.includes('s3-good') && names.includes('sftp-good') && names.includes('azure-good'), names.join(', '));
});
