import { Readable } from 'node:stream';
import test from 'ava';
import { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { StorageError } from '@op-worker/core';
import { AzuriteServer, DEV_ACCOUNT, DEV_KEY, testLogger } from './azurite.js';
import { collect } from './streams.js';
import { createAzureHelper } from '../src/index.js';

let server: AzuriteServer;
const containerName = `credentials-${process.pid}`;

test.before(async () => {
  server = await AzuriteServer.start();
  await server.serviceClient().getContainerClient(containerName).createIfNotExists();
});

test.after.always(async () => {
  await server?.stop();
});

async function helperWith(options: Record<string, unknown>) {
  const base = { endpoint: undefined, accountName: undefined, accountKey: undefined, ...options };
  const config = server.config(containerName, base);
  return createAzureHelper(config, { storageId: 'credentials', logger: testLogger() });
}

async function roundTrip(helper: Awaited<ReturnType<typeof helperWith>>, path: string): Promise<string> {
  await helper.write(path, Readable.from([Buffer.from(path)]));
  return (await collect(await helper.read(path))).toString();
}

test('connection string works', async (t) => {
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${server.endpoint};`;
  const helper = await helperWith({ connectionString });
  t.is(await roundTrip(helper, 'by-connection-string'), 'by-connection-string');
});

test('account key works', async (t) => {
  const helper = await helperWith({ endpoint: server.endpoint, accountName: DEV_ACCOUNT, accountKey: DEV_KEY });
  t.is(await roundTrip(helper, 'by-account-key'), 'by-account-key');
});

test('SAS token works', async (t) => {
  const sasToken = generateBlobSASQueryParameters(
    {
      containerName,
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  ).toString();
  const helper = await helperWith({ endpoint: server.endpoint, sasToken });

  t.is(await roundTrip(helper, 'by-sas'), 'by-sas');
  t.true((await helper.list('')).entries.some((entry) => entry.name === 'by-sas'));
});

test('wrong key is PermissionDenied', async (t) => {
  const wrongKey = Buffer.from('wrong key for the development account').toString('base64');
  const helper = await helperWith({ endpoint: server.endpoint, accountName: DEV_ACCOUNT, accountKey: wrongKey });

  const error = (await t.throwsAsync(helper.stat('anything'))) as StorageError;

  t.is(error.kind, 'PermissionDenied');
  t.is(error.retry, 'permanent');
  t.true(error.message.includes(`account "${DEV_ACCOUNT}"`), error.message);
  t.false(error.message.includes(wrongKey));
});

test('missing container is NotFound', async (t) => {
  const helper = await createAzureHelper(server.config('no-such-container'), { storageId: 'missing', logger: testLogger() });

  for (const call of [helper.stat(''), helper.list(''), helper.write('x', Readable.from([Buffer.from('x')]))]) {
    const error = (await t.throwsAsync(call)) as StorageError;
    t.is(error.kind, 'NotFound');
    t.true(error.message.includes('container "no-such-container"'), error.message);
  }
});

test('closed port is Unavailable', async (t) => {
  const closed = await AzuriteServer.unusedPort();
  const endpoint = `http://127.0.0.1:${closed}/${DEV_ACCOUNT}`;
  const helper = await helperWith({ endpoint, accountName: DEV_ACCOUNT, accountKey: DEV_KEY, maxTries: 1 });

  const error = (await t.throwsAsync(helper.stat('anything'))) as StorageError;

  t.is(error.kind, 'Unavailable');
  t.is(error.retry, 'temporary');
  t.true(error.message.includes(endpoint), error.message);
});
