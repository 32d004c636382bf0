import net from 'node:net';
import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import anyTest, { type TestFn } from 'ava';
import { StorageError, type StorageHelper } from '@op-worker/core';
import { createS3Helper, s3Plugin } from '../src/index.js';
import { createBucket, createTestHelper, directClient, silentLogger, testConfig } from './fixture.js';
import { freePort, startMoto, type MotoServer } from './moto-server.js';
import { generatedStream, patternBytes, readAll } from './streams.js';

const MiB = 1024 * 1024;

interface Context {
  server: MotoServer;
  client: S3Client;
  bucket: string;
}

const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const server = await startMoto();
  const client = directClient(server.endpoint);
  Object.assign(t.context, { server, client, bucket: await createBucket(client, 'faults') });
});

test.after.always(async (t) => {
  await t.context.server?.stop();
});

/** A TCP proxy to the server whose connections can all be cut at once. */
class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;

  constructor(
    readonly port: number,
    private readonly upstreamPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.upstreamPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /**
   * Stop accepting and close every open connection at once. NOTE: `destroy`, not
   * `resetAndDestroy`: on Node 20 a reset of a socket that is already shutting down left
   * a handle that never closed, and the test process then spun at exit.
   */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

async function objectContent(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await output.Body!.transformToByteArray());
}

/** A 200 MiB stream that calls `onMiB` after yielding `at` MiB. */
function streamThatTriggers(at: number, onMiB: () => Promise<void>): Readable {
  const source = generatedStream(200 * MiB);
  let yielded = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of source.stream) {
      yielded += 1;
      if (yielded === at) await onMiB();
      yield chunk as Buffer;
    }
  }
  return Readable.from(chunks());
}

test('dropped connections fail an upload as Unavailable and keep the object', async (t) => {
  const { server, client, bucket } = t.context;
  const proxy = new CuttableProxy(await freePort(), server.port);
  await proxy.start();
  const helper = await createTestHelper(`http://127.0.0.1:${proxy.port}`, bucket);
  const old = patternBytes(3 * MiB, 81);
  await helper.write('fault/object', Readable.from([old]));

  const error = await t.throwsAsync(helper.write('fault/object', streamThatTriggers(40, () => proxy.cut())));

  t.true(StorageError.is(error));
  t.is((error as StorageError).kind, 'Unavailable');
  t.is((error as StorageError).retry, 'temporary');
  t.regex((error as Error).message, new RegExp(`127\\.0\\.0\\.1:${proxy.port}`));
  t.true((await objectContent(client, bucket, 'fault/object')).equals(old), 'the old content is intact');

  await proxy.start();
  const next = patternBytes(9 * MiB, 82);
  await helper.write('fault/object', Readable.from([next]));
  t.true((await readAll(await helper.read('fault/object'))).equals(next), 'the same helper writes again');
  await helper.close();
  await proxy.cut();
});

test('server killed mid-upload gives Unavailable', async (t) => {
  const victim = await startMoto();
  const bucket = await createBucket(directClient(victim.endpoint), 'victim');
  const helper = await createTestHelper(victim.endpoint, bucket);

  const error = await t.throwsAsync(helper.write('killed/object', streamThatTriggers(30, () => victim.stop())));

  t.is((error as StorageError).kind, 'Unavailable');
  t.is((error as StorageError).retry, 'temporary');
  await helper.close();
});

test('unreachable endpoint names host and port', async (t) => {
  const port = await freePort();
  const helper = await createTestHelper(`http://127.0.0.1:${port}`, 'any-bucket');

  const error = await t.throwsAsync(helper.stat('x'));

  t.is((error as StorageError).kind, 'Unavailable');
  t.is((error as StorageError).retry, 'temporary');
  t.regex((error as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  await helper.close();
});

test('missing bucket is NotFound naming it', async (t) => {
  const helper = await createTestHelper(t.context.server.endpoint, 'op-no-such-bucket');

  for (const operation of [
    () => helper.stat('file'),
    () => helper.list(''),
    () => helper.read('file'),
    () => helper.write('file', Readable.from([Buffer.from('x')])),
  ]) {
    const error = await t.throwsAsync(operation());
    t.is((error as StorageError).kind, 'NotFound');
    t.regex((error as Error).message, /bucket "op-no-such-bucket"/);
  }
  await helper.close();
});

test('invalid configuration is ConfigInvalid', async (t) => {
  const context = { storageId: 'bad', logger: silentLogger };
  const bad = [
    testConfig('ftp://127.0.0.1:1', 'b'),
    testConfig('http://127.0.0.1:1/some/path', 'b'),
    { ...testConfig('http://127.0.0.1:1', 'b'), secretKey: '' },
  ];

  for (const config of bad) {
    const error = await t.throwsAsync(createS3Helper(config, context));
    t.is((error as StorageError).kind, 'ConfigInvalid');
  }
  t.true(s3Plugin.configSchema['secretKey']?.secret);
  t.true(s3Plugin.configSchema['accessKey']?.secret);
});
