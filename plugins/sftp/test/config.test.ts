import test from 'ava';
import { pino } from 'pino';
import { parseStorageConfig, redactStorageConfig, StorageError, type ConfigOption } from '@op-worker/core';
import { parseSftpSettings, sftpConfigSchema, sftpPlugin, SFTP_CAPABILITIES } from '../src/index.js';

const FINGERPRINT = 'SHA256:LS1QFnSYd+H/vK3sA8BRrqE/pGSsAFB+DUFN8tVgdPw';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n';

function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = { hostname: 'files.example.org', username: 'alice', privateKey: KEY, hostKeyFingerprint: FINGERPRINT, rootPath: '/srv/data' };
  return Object.fromEntries(Object.entries({ ...base, ...overrides }).filter(([, value]) => value !== undefined));
}

function settingsOf(overrides: Record<string, unknown> = {}) {
  return parseSftpSettings(parseStorageConfig(sftpConfigSchema, raw(overrides)));
}

function configError(t: import('ava').ExecutionContext, overrides: Record<string, unknown>, option: string): string {
  const error = t.throws(() => settingsOf(overrides));
  t.true(StorageError.is(error), String(error));
  t.is((error as StorageError).kind, 'ConfigInvalid');
  t.is((error as StorageError).context['option'], option);
  return (error as Error).message;
}

test('defaults fill the optional settings', (t) => {
  const settings = settingsOf();

  t.is(settings.port, 22);
  t.is(settings.fileMode, 0o664);
  t.is(settings.dirMode, 0o775);
  t.is(settings.connectionPoolSize, 4);
  t.is(settings.timeout, 30_000);
  t.is(settings.hostKeyFingerprint, FINGERPRINT);
});

test('host key fingerprint is required', (t) => {
  const message = configError(t, { hostKeyFingerprint: undefined }, 'hostKeyFingerprint');

  t.regex(message, /insecureSkipHostKeyVerification/);
  t.regex(message, /ssh-keygen -l -E sha256/);
});

test('skipping host key check must be explicit', (t) => {
  const settings = settingsOf({ hostKeyFingerprint: undefined, insecureSkipHostKeyVerification: true });

  t.is(settings.hostKeyFingerprint, undefined);
  configError(t, { hostKeyFingerprint: undefined, insecureSkipHostKeyVerification: false }, 'hostKeyFingerprint');
});

test('fingerprint must be in OpenSSH form', (t) => {
  for (const bad of ['LS1QFnSYd+H/vK3sA8BRrqE/pGSsAFB+DUFN8tVgdPw', 'MD5:12:34', 'SHA256:short', `${FINGERPRINT}=`]) {
    t.regex(configError(t, { hostKeyFingerprint: bad }, 'hostKeyFingerprint'), /SHA256: followed by 43 base64/);
  }
});

test('root path must be absolute', (t) => {
  t.regex(configError(t, { rootPath: 'srv/data' }, 'rootPath'), /absolute path on the server/);
  t.is(settingsOf({ rootPath: '/srv//data/' }).rootPath, '/srv/data');
  t.is(settingsOf({ rootPath: '/' }).rootPath, '/');
});

test('a key or a password is required', (t) => {
  t.regex(configError(t, { privateKey: undefined }, 'privateKey'), /privateKey .* or password/);
  t.is(settingsOf({ privateKey: undefined, password: 'pw' }).password, 'pw');
});

test('modes must be octal', (t) => {
  t.is(settingsOf({ fileMode: '640', dirMode: '0750' }).fileMode, 0o640);
  t.is(settingsOf({ fileMode: '640', dirMode: '0750' }).dirMode, 0o750);
  t.regex(configError(t, { fileMode: '0999' }, 'fileMode'), /octal permission bits/);
  t.regex(configError(t, { dirMode: 'rwx' }, 'dirMode'), /octal permission bits/);
});

test('pool size is bounded by the schema', (t) => {
  t.throws(() => parseStorageConfig(sftpConfigSchema, raw({ connectionPoolSize: 33 })), { message: /between 1 and 32/ });
  t.throws(() => parseStorageConfig(sftpConfigSchema, raw({ connectionPoolSize: 0 })), { message: /between 1 and 32/ });
  t.is(settingsOf({ connectionPoolSize: 32 }).connectionPoolSize, 32);
});

test('secrets never show', async (t) => {
  const config = parseStorageConfig(sftpConfigSchema, raw({ password: 'hunter2', privateKeyPassphrase: 'open sesame' }));
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });

  const helper = await sftpPlugin.create(config, { storageId: 'config-test', logger });
  const shown = JSON.stringify([helper, redactStorageConfig(sftpConfigSchema, config), lines]);
  await helper.close();

  t.false(shown.includes('hunter2'));
  t.false(shown.includes('open sesame'));
  t.false(shown.includes('not-a-real-key'));
  t.true(shown.includes('files.example.org'));
});

test('manifest declares canonical paths and its capabilities', (t) => {
  t.is(sftpPlugin.type, 'sftp');
  t.is(sftpPlugin.defaultPathType, 'canonical');
  t.deepEqual(sftpPlugin.capabilities(parseStorageConfig(sftpConfigSchema, raw())), { ...SFTP_CAPABILITIES });
  for (const secret of ['privateKey', 'privateKeyPassphrase', 'password']) {
    const option: ConfigOption = sftpConfigSchema[secret as keyof typeof sftpConfigSchema];
    t.true(option.secret, secret);
  }
});

test('declared capabilities match the methods', async (t) => {
  const helper = await sftpPlugin.create(parseStorageConfig(sftpConfigSchema, raw()), { storageId: 'caps', logger: pino({ level: 'silent' }) });
  t.teardown(() => helper.close());

  const optional = { rename: helper.rename, copy: helper.copy, chmod: helper.chmod, xattrs: helper.getXattr };
  for (const [capability, method] of Object.entries(optional)) {
    t.is(typeof method === 'function', helper.capabilities[capability as keyof typeof helper.capabilities] === true, capability);
  }
});
