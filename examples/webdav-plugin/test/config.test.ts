import test from 'ava';
import { pino } from 'pino';
import { OpError, parseStorageConfig, redactStorageConfig, StorageError, type CapabilityName, type StorageHelper } from '@op-worker/core';
import { parseWebdavSettings, webdavConfigSchema, webdavPlugin } from '../src/index.js';

function settingsOf(raw: Record<string, unknown>) {
  return parseWebdavSettings(parseStorageConfig(webdavConfigSchema, raw));
}

function configInvalid(t: import('ava').ExecutionContext, raw: Record<string, unknown>, option: string): void {
  const error = t.throws(() => settingsOf(raw));
  t.true(StorageError.is(error));
  t.is((error as StorageError).kind, 'ConfigInvalid');
  t.is((error as StorageError).context.option, option);
}

test('defaults follow Onedata', (t) => {
  const settings = settingsOf({ endpoint: 'http://127.0.0.1:8080/dav' });

  t.is(settings.endpoint.href, 'http://127.0.0.1:8080/dav/');
  t.is(settings.credentialsType, 'none');
  t.is(settings.authorization, undefined);
  t.true(settings.verifyServerCertificate);
  t.is(settings.rangeWriteSupport, 'none');
  t.is(settings.connectionPoolSize, 25);
  t.is(settings.maximumUploadSize, 0);
});

test('basic credentials become a header', (t) => {
  const settings = settingsOf({ endpoint: 'https://dav.example.org/', credentialsType: 'basic', credentials: 'alice:pa:ss' });

  t.is(settings.username, 'alice');
  t.deepEqual(settings.authorization, { name: 'authorization', value: `Basic ${Buffer.from('alice:pa:ss').toString('base64')}` });
});

test('token goes into authorizationHeader', (t) => {
  const settings = settingsOf({
    endpoint: 'https://dav.example.org/',
    credentialsType: 'token',
    credentials: 'abc',
    authorizationHeader: 'X-Auth-Token: {}',
  });

  t.deepEqual(settings.authorization, { name: 'x-auth-token', value: 'abc' });
});

test('invalid options name the option', (t) => {
  configInvalid(t, { endpoint: 'not a url' }, 'endpoint');
  configInvalid(t, { endpoint: 'ftp://dav.example.org/' }, 'endpoint');
  configInvalid(t, { endpoint: 'https://bob:secret@dav.example.org/' }, 'endpoint');
  configInvalid(t, { endpoint: 'https://dav.example.org/?a=b' }, 'endpoint');
  configInvalid(t, { endpoint: 'https://dav.example.org/', credentialsType: 'basic' }, 'credentials');
  configInvalid(t, { endpoint: 'https://dav.example.org/', credentialsType: 'basic', credentials: 'no-colon' }, 'credentials');
  configInvalid(t, { endpoint: 'https://dav.example.org/', credentialsType: 'token', credentials: 't', authorizationHeader: 'Bearer' }, 'authorizationHeader');
});

test('schema rejects bad values', (t) => {
  const enumError = t.throws(() => parseStorageConfig(webdavConfigSchema, { endpoint: 'http://h/', rangeWriteSupport: 'partial' }));
  const missing = t.throws(() => parseStorageConfig(webdavConfigSchema, {}));

  t.true(OpError.is(enumError));
  t.true(OpError.is(missing));
  t.is((missing as OpError).kind, 'missingValue');
});

test('credentials are redacted', (t) => {
  const shown = redactStorageConfig(webdavConfigSchema, { endpoint: 'http://h/', credentialsType: 'basic', credentials: 'alice:secret' });

  t.is(shown.credentials, '*****');
  t.is(shown.endpoint, 'http://h/');
  t.false(JSON.stringify(shown).includes('secret'));
});

test('capabilities follow rangeWriteSupport and maximumUploadSize', (t) => {
  const plain = webdavPlugin.capabilities(parseStorageConfig(webdavConfigSchema, { endpoint: 'http://h/' }));
  const ranged = webdavPlugin.capabilities(parseStorageConfig(webdavConfigSchema, { endpoint: 'http://h/', rangeWriteSupport: 'moddav', maximumUploadSize: 1000 }));

  t.false(plain.write_at_offset);
  t.is(plain.write_multi_max_size, 0);
  t.true(ranged.write_at_offset);
  t.is(ranged.write_multi_max_size, 1000);
  t.false(plain.truncate);
  t.false(plain.xattrs);
  t.false(plain.chmod);
});

/** Optional helper methods and the capability that declares each. */
const OPTIONAL_METHODS: Array<[CapabilityName, Array<keyof StorageHelper>]> = [
  ['rename', ['rename']],
  ['copy', ['copy']],
  ['xattrs', ['getXattr', 'setXattr', 'removeXattr', 'listXattrs']],
  ['chmod', ['chmod']],
];

test('declared capabilities match methods', async (t) => {
  const config = parseStorageConfig(webdavConfigSchema, { endpoint: 'http://127.0.0.1:9/' });
  const helper = await webdavPlugin.create(config, { storageId: 'meta', logger: pino({ level: 'silent' }) });
  try {
    t.deepEqual(helper.capabilities, webdavPlugin.capabilities(config));
    for (const [capability, methods] of OPTIONAL_METHODS) {
      for (const method of methods) {
        t.is(typeof (helper as unknown as Record<string, unknown>)[method] === 'function', Boolean(helper.capabilities[capability]), `${capability}: ${method}`);
      }
    }
  } finally {
    await helper.close();
  }
});
