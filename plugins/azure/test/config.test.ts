import test from 'ava';
import { parseStorageConfig, redactStorageConfig, StorageError } from '@op-worker/core';
import { azureConfigSchema, azureManifest, parseAzureSettings } from '../src/index.js';

const KEY = Buffer.from('not a real key').toString('base64');

function settingsOf(raw: Record<string, unknown>) {
  return parseAzureSettings(parseStorageConfig(azureConfigSchema, { containerName: 'data', ...raw }));
}

const invalid: Array<[string, Record<string, unknown>, string]> = [
  ['no credential', { endpoint: 'http://127.0.0.1:1/acct' }, 'none was given'],
  ['two credentials', { connectionString: 'AccountName=a;AccountKey=b', accountName: 'a', accountKey: KEY }, 'connectionString, accountKey'],
  ['three credentials', { connectionString: 'x', accountName: 'a', accountKey: KEY, sasToken: 'sv=1' }, 'sasToken'],
  ['key without account', { accountKey: KEY }, 'accountName'],
  ['SAS without endpoint', { sasToken: 'sv=1' }, 'endpoint'],
  ['endpoint with connection string', { connectionString: 'AccountName=a;AccountKey=b', endpoint: 'http://x' }, 'BlobEndpoint'],
  ['endpoint not a URL', { accountName: 'a', accountKey: KEY, endpoint: 'not a url' }, 'not a valid URL'],
];

for (const [title, raw, mentions] of invalid) {
  test(`config rejects ${title}`, (t) => {
    const error = t.throws(() => settingsOf(raw));
    t.true(StorageError.is(error));
    t.is((error as StorageError).kind, 'ConfigInvalid');
    t.true(error!.message.includes(mentions), error!.message);
  });
}

test('config builds each credential form', (t) => {
  t.like(settingsOf({ connectionString: 'AccountName=a;AccountKey=b' }).credential, { form: 'connectionString' });
  t.like(settingsOf({ accountName: 'acct', accountKey: KEY }).credential, {
    form: 'accountKey',
    endpoint: 'https://acct.blob.core.windows.net',
  });
  t.like(settingsOf({ sasToken: '?sv=1&sig=x', endpoint: 'http://127.0.0.1:1/acct/' }).credential, {
    form: 'sasToken',
    sasToken: 'sv=1&sig=x',
    endpoint: 'http://127.0.0.1:1/acct',
  });
});

test('config applies defaults', (t) => {
  const config = parseStorageConfig(azureConfigSchema, { containerName: 'data', accountName: 'a', accountKey: KEY });
  t.is(config['storagePathType'], 'flat');
  t.is(config['blockSize'], 8 * 1024 * 1024);
  t.is(parseAzureSettings(config).uploadConcurrency, 4);
});

test('config redacts every credential', (t) => {
  const shown = redactStorageConfig(azureConfigSchema, { connectionString: 'c', accountKey: KEY, sasToken: 's', accountName: 'a' });
  t.deepEqual(shown, { connectionString: '*****', accountKey: '*****', sasToken: '*****', accountName: 'a' });
});

test('manifest declares a flat object store', (t) => {
  const capabilities = azureManifest.capabilities({ blockSize: 1024 * 1024 });
  t.is(azureManifest.type, 'azure');
  t.is(azureManifest.defaultPathType, 'flat');
  t.false(capabilities.directories);
  t.false(capabilities.xattrs);
  t.true(capabilities.write_at_offset);
  t.is(capabilities.write_multi_max_size, 50_000 * 1024 * 1024);
});
