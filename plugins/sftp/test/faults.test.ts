import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import ssh2 from 'ssh2';
import { StorageError, type StorageErrorKind } from '@op-worker/core';
import { fingerprintOf } from '../src/index.js';
import { createHelper, makeRoot, rawConfig, type SftpTarget } from './fixture.js';
import { freePort, SshdServer, TEST_USER } from './sshd-server.js';
import { collect, digestOf, PatternStream, sha256, streamOf } from './streams.js';

// These tests stop and start their own sshd, so they run one at a time.
let server: SshdServer;
let target: SftpTarget;
let root: { rootPath: string; remove(): Promise<void> };

test.before(async () => {
  server = await SshdServer.start();
  target = { port: server.port, clientKey: server.clientKey, hostFingerprint: server.hostFingerprint, server, stop: () => server.stop() };
  root = await makeRoot(target, 'faults');
});

test.after.always(async () => {
  await root?.remove();
  await server?.stop();
});

async function expectKind(t: ExecutionContext, call: Promise<unknown>, kind: StorageErrorKind): Promise<StorageError> {
  const error = await t.throwsAsync(call);
  t.true(StorageError.is(error), `expected a StorageError, got ${String(error)}`);
  t.is((error as StorageError).kind, kind, (error as Error).message);
  t.log((error as Error).message);
  return error as StorageError;
}

test.serial('wrong host key names both fingerprints', async (t) => {
  const expected = fingerprintOf(randomBytes(51));
  const helper = await createHelper(rawConfig(target, root.rootPath, { hostKeyFingerprint: expected }));
  t.teardown(() => helper.close());

  const error = await expectKind(t, helper.stat(''), 'PermissionDenied');

  t.true(error.message.includes(expected), error.message);
  t.true(error.message.includes(server.hostFingerprint), error.message);
  t.is(error.retry, 'permanent');
});

test.serial('skipping host key check connects', async (t) => {
  const helper = await createHelper(
    rawConfig(target, root.rootPath, { hostKeyFingerprint: undefined, insecureSkipHostKeyVerification: true }),
  );
  t.teardown(() => helper.close());

  t.is((await helper.stat('')).type, 'directory');
});

test.serial('wrong key is PermissionDenied naming the user', async (t) => {
  const stranger = ssh2.utils.generateKeyPairSync('ed25519');
  const helper = await createHelper(rawConfig(target, root.rootPath, { privateKey: stranger.private }));
  t.teardown(() => helper.close());

  const error = await expectKind(t, helper.stat(''), 'PermissionDenied');

  t.true(error.message.includes(`"${TEST_USER}"`), error.message);
  t.is(error.retry, 'permanent');
});

test.serial('closed port is Unavailable naming host and port', async (t) => {
  const port = await freePort();
  const helper = await createHelper(rawConfig(target, root.rootPath, { port }));
  t.teardown(() => helper.close());

  const error = await expectKind(t, helper.stat(''), 'Unavailable');

  t.true(error.message.includes(`127.0.0.1:${port}`), error.message);
  t.regex(error.message, /ECONNREFUSED/);
  t.is(error.retry, 'temporary');
});

test.serial('server killed mid-upload, then back', async (t) => {
  const helper = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 2 }));
  t.teardown(() => helper.close());
  const old = randomBytes(1024 * 1024);
  await helper.write('upload/target', streamOf(old));

  let crash: Promise<void> | undefined;
  const total = 200 * 1024 * 1024;
  const source = new PatternStream('fault', total, (produced) => {
    if (produced >= 32 * 1024 * 1024) crash ??= server.crash();
  });
  const error = await expectKind(t, helper.write('upload/target', source, { size: total }), 'Unavailable');
  await crash;

  t.is(error.retry, 'temporary');
  t.regex(error.message, /sftp write \S+\/upload\/target on 127\.0\.0\.1:\d+: connection to the server lost/);

  await server.restart();
  t.is(sha256(await collect(await helper.read('upload/target'))), sha256(old), 'the target keeps its old content');
  t.deepEqual(
    (await helper.list('upload')).entries.map((entry) => entry.name),
    ['target'],
    'the abandoned temporary file stays hidden',
  );

  const again = new PatternStream('after', 8 * 1024 * 1024);
  await helper.write('upload/target', again);
  t.is((await digestOf(await helper.read('upload/target'))).digest, again.digest());
  const onServer = await readdir(path.join(root.rootPath, 'upload'));
  t.deepEqual(onServer, ['target'], 'the next write removed the abandoned temporary file');
});

test.serial('calls while the server is down fail, then recover', async (t) => {
  const helper = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 1 }));
  t.teardown(() => helper.close());
  await helper.write('down/file', streamOf('still here'));

  await server.crash();
  const error = await expectKind(t, helper.stat('down/file'), 'Unavailable');
  t.is(error.retry, 'temporary');

  await server.restart();
  t.is((await collect(await helper.read('down/file'))).toString(), 'still here');
});
