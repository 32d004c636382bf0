import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { StorageHelper } from '@op-worker/core';
import { S3_LIMITS } from '../src/index.js';
import { createBucket, createTestHelper, directClient } from './fixture.js';
import { startMoto, type MotoServer } from './moto-server.js';
import { generatedStream, patternBytes, readAll, sha256OfStream } from './streams.js';

const MiB = 1024 * 1024;

interface Context {
  server: MotoServer;
  client: S3Client;
  bucket: string;
  helper: StorageHelper;
}

const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const server = await startMoto();
  const client = directClient(server.endpoint);
  const bucket = await createBucket(client, 'writes');
  Object.assign(t.context, { server, client, bucket, helper: await createTestHelper(server.endpoint, bucket) });
});

test.after.always(async (t) => {
  await t.context.helper?.close();
  await t.context.server?.stop();
});

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

/** Split a buffer into chunks of `size` so that writes see a real stream of many chunks. */
function streamOf(buffer: Buffer, size = 256 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < buffer.length; offset += size) chunks.push(buffer.subarray(offset, offset + size));
  return Readable.from(chunks);
}

/** Apply an offset write to an in-memory model of the object, as the contract defines it. */
function applyWrite(model: Buffer, offset: number, data: Buffer): Buffer {
  const size = Math.max(model.length, offset + data.length);
  const result = Buffer.alloc(size);
  model.copy(result, 0);
  data.copy(result, offset);
  return result;
}

async function assertObject(t: ExecutionContext<Context>, path: string, expected: Buffer, message: string): Promise<void> {
  const stat = await t.context.helper.stat(path);
  t.is(stat.size, expected.length, `${message}: size`);
  const actual = await readAll(await t.context.helper.read(path));
  t.is(sha256(actual), sha256(expected), `${message}: content`);
}

async function pendingUploads(t: ExecutionContext<Context>, key: string): Promise<number> {
  const output = await t.context.client.send(new ListMultipartUploadsCommand({ Bucket: t.context.bucket, Prefix: key }));
  return output.Uploads?.length ?? 0;
}

test('100 MiB generated stream round-trips', async (t) => {
  const { helper } = t.context;
  const size = 100 * MiB;
  const source = generatedStream(size);

  const result = await helper.write('large/100mib', source.stream);

  t.deepEqual(result, { written: size, size });
  const read = await sha256OfStream(await helper.read('large/100mib'));
  t.is(read.bytes, size);
  t.is(read.digest, source.digest());
});

test('object of exactly one part size', async (t) => {
  const { helper } = t.context;
  const data = patternBytes(S3_LIMITS.defaultPartSize, 3);

  await helper.write('large/one-part', streamOf(data), { size: data.length });

  await assertObject(t, 'large/one-part', data, 'one part');
});

test('offset writes into a 30 MiB object', async (t) => {
  const { helper } = t.context;
  const path = 'offset/thirty';
  let model = patternBytes(30 * MiB, 5);
  await helper.write(path, streamOf(model, MiB));

  const cases: Array<[string, number, Buffer]> = [
    ['middle', 15 * MiB + 12_345, patternBytes(1000, 11)],
    ['crossing the 8 MiB part boundary', 8 * MiB - 100 * 1024, patternBytes(2 * MiB, 12)],
    ['first bytes', 0, patternBytes(777, 13)],
    ['last bytes and beyond', 30 * MiB - 10, patternBytes(20, 14)],
    ['past the end', 33 * MiB + 17, patternBytes(MiB + 3, 15)],
    ['nothing in the middle', 10 * MiB, Buffer.alloc(0)],
    ['large span', 3 * MiB, patternBytes(20 * MiB, 16)],
  ];

  for (const [name, offset, data] of cases) {
    const result = await helper.write(path, streamOf(data), { offset });
    model = applyWrite(model, offset, data);

    t.deepEqual(result, { written: data.length, size: model.length }, name);
    await assertObject(t, path, model, name);
  }
  t.is(await pendingUploads(t, path), 0);
});

test('offset writes into small objects', async (t) => {
  const { helper } = t.context;
  await helper.write('offset/small', Readable.from([Buffer.from('hello world')]));

  await helper.write('offset/small', Readable.from([Buffer.from('XY')]), { offset: 3 });
  await assertObject(t, 'offset/small', Buffer.from('helXY world'), 'inside');

  await helper.write('offset/small', Readable.from([Buffer.from('!')]), { offset: 14 });
  await assertObject(t, 'offset/small', Buffer.from('helXY world\0\0\0!'), 'past the end');

  await helper.write('offset/created', Readable.from([Buffer.from('abc')]), { offset: 4 });
  await assertObject(t, 'offset/created', Buffer.from('\0\0\0\0abc'), 'missing object');
});

test('offset write joins a small head to new data', async (t) => {
  const { helper } = t.context;
  let model = patternBytes(12 * MiB, 21);
  await helper.write('offset/joins', streamOf(model));

  const data = patternBytes(6 * MiB, 22);
  await helper.write('offset/joins', streamOf(data), { offset: 2 * MiB });
  model = applyWrite(model, 2 * MiB, data);

  await assertObject(t, 'offset/joins', model, 'head of 2 MiB, tail of 4 MiB');
});

test('offset write with wrong size keeps the object', async (t) => {
  const { helper } = t.context;
  const model = patternBytes(12 * MiB, 31);
  await helper.write('offset/mismatch', streamOf(model));

  const error = await t.throwsAsync(
    helper.write('offset/mismatch', streamOf(patternBytes(7 * MiB, 32)), { offset: MiB, size: 6 * MiB }),
  );

  t.is((error as { kind?: string }).kind, 'ConditionNotMatch');
  await assertObject(t, 'offset/mismatch', model, 'after the failed write');
  t.is(await pendingUploads(t, 'offset/mismatch'), 0);
});

test('whole write with wrong size keeps the object', async (t) => {
  const { helper } = t.context;
  const model = patternBytes(MiB, 41);
  await helper.write('whole/mismatch', streamOf(model));

  for (const [name, streamed, declared] of [
    ['shorter multipart', 20 * MiB, 30 * MiB],
    ['longer multipart', 20 * MiB, 10 * MiB],
    ['shorter single', 100, 200],
  ] as const) {
    const error = await t.throwsAsync(helper.write('whole/mismatch', streamOf(patternBytes(streamed, 42)), { size: declared }));
    t.is((error as { kind?: string }).kind, 'ConditionNotMatch', name);
    await assertObject(t, 'whole/mismatch', model, name);
  }
  t.is(await pendingUploads(t, 'whole/mismatch'), 0);
});

test('truncate shrinks and extends', async (t) => {
  const { helper } = t.context;
  let model = patternBytes(20 * MiB, 51);
  await helper.write('truncate/file', streamOf(model));

  await helper.truncate('truncate/file', 12 * MiB + 5);
  model = model.subarray(0, 12 * MiB + 5);
  await assertObject(t, 'truncate/file', model, 'shrunk');

  await helper.truncate('truncate/file', 19 * MiB);
  model = Buffer.concat([model, Buffer.alloc(19 * MiB - model.length)]);
  await assertObject(t, 'truncate/file', model, 'extended');

  await helper.truncate('truncate/file', 0);
  await assertObject(t, 'truncate/file', Buffer.alloc(0), 'emptied');

  const missing = await t.throwsAsync(helper.truncate('truncate/missing', 5));
  t.is((missing as { kind?: string }).kind, 'NotFound');
});

test('copy above the single-copy limit uses part copies', async (t) => {
  const { server, bucket } = t.context;
  const helper = await createTestHelper(server.endpoint, bucket, {
    ...S3_LIMITS,
    maxCopyObjectSize: 10 * MiB,
    maxCopyPartSize: 8 * MiB,
  });
  const model = patternBytes(30 * MiB, 61);
  await helper.write('copy/source', streamOf(model));

  await helper.copy!('copy/source', 'copy/target');

  await assertObject(t, 'copy/target', model, 'copied');
  await helper.close();
});

test('maximumCanonicalObjectSize limits rewrites', async (t) => {
  const { server, bucket } = t.context;
  const helper = await createTestHelper(server.endpoint, bucket, S3_LIMITS, { maximumCanonicalObjectSize: MiB });
  await helper.write('limit/file', streamOf(patternBytes(2 * MiB, 71)));

  const error = await t.throwsAsync(helper.write('limit/file', Readable.from([Buffer.from('x')]), { offset: 5 }));

  t.is((error as { kind?: string }).kind, 'Unsupported');
  t.regex((error as Error).message, /maximumCanonicalObjectSize/);
  await helper.close();
});
