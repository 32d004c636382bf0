import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import test from 'ava';
import { StorageError } from '@op-worker/core';
import { AzuriteServer } from './azurite.js';
import { collect, failingStream, generatedStream } from './streams.js';

const MIB = 1024 * 1024;
const BLOCK = 4 * MIB;
const BLOB_SIZE = 30 * MIB;

let server: AzuriteServer;
let containerCount = 0;

test.before(async () => {
  server = await AzuriteServer.start();
});

test.after.always(async () => {
  await server?.stop();
});

type Helper = Awaited<ReturnType<AzuriteServer['createHelper']>>;

/** A helper on a fresh container with 4 MiB blocks, and a way to read committed block ids. */
async function setup(): Promise<{ helper: Helper; containerName: string; blockIds: (name: string) => Promise<string[]> }> {
  containerCount += 1;
  const containerName = `offset-${process.pid}-${containerCount}`;
  const helper = await server.createHelper(containerName, { blockSize: BLOCK });
  const container = server.serviceClient().getContainerClient(containerName);
  const blockIds = async (name: string): Promise<string[]> => {
    const list = await container.getBlockBlobClient(name).getBlockList('committed');
    return (list.committedBlocks ?? []).map((block) => block.name);
  };
  return { helper, containerName, blockIds };
}

/** Write a 30 MiB blob and return its content, kept in memory as the model of the blob. */
async function writeBaseBlob(helper: Helper, name: string): Promise<Buffer> {
  await helper.write(name, generatedStream(BLOB_SIZE, 7));
  return collect(generatedStream(BLOB_SIZE, 7));
}

async function readAll(helper: Helper, name: string): Promise<Buffer> {
  return collect(await helper.read(name));
}

function patch(model: Buffer, offset: number, data: Buffer): Buffer {
  const size = Math.max(model.length, offset + data.length);
  const result = Buffer.alloc(size);
  model.copy(result);
  data.copy(result, offset);
  return result;
}

test('write into the middle reuses untouched blocks', async (t) => {
  const { helper, blockIds } = await setup();
  const model = await writeBaseBlob(helper, 'middle');
  const before = await blockIds('middle');
  t.is(before.length, 8);

  const data = randomBytes(MIB);
  const offset = 13 * MIB + 100 * 1024;
  const result = await helper.write('middle', Readable.from([data]), { offset });

  t.deepEqual(result, { written: MIB, size: BLOB_SIZE });
  t.true((await readAll(helper, 'middle')).equals(patch(model, offset, data)));
  const after = await blockIds('middle');
  t.is(after.length, 8);
  t.deepEqual(after.slice(0, 3), before.slice(0, 3));
  t.notDeepEqual(after[3], before[3]);
  t.deepEqual(after.slice(4), before.slice(4));
});

test('write across a block boundary restages both edges', async (t) => {
  const { helper, blockIds } = await setup();
  const model = await writeBaseBlob(helper, 'boundary');
  const before = await blockIds('boundary');

  const data = randomBytes(600 * 1024);
  const offset = 2 * BLOCK - 300 * 1024;
  await helper.write('boundary', Readable.from([data]), { offset });

  t.true((await readAll(helper, 'boundary')).equals(patch(model, offset, data)));
  const after = await blockIds('boundary');
  t.is(after[0], before[0]);
  t.not(after[1], before[1]);
  t.not(after[2], before[2]);
  t.deepEqual(after.slice(3), before.slice(3));
});

test('write past the end zero-fills the gap', async (t) => {
  const { helper } = await setup();
  const model = await writeBaseBlob(helper, 'past-end');

  const data = randomBytes(MIB);
  const offset = BLOB_SIZE + 5 * MIB + 17;
  const result = await helper.write('past-end', Readable.from([data]), { offset });

  t.deepEqual(result, { written: MIB, size: offset + MIB });
  const content = await readAll(helper, 'past-end');
  t.true(content.equals(patch(model, offset, data)));
  t.true(content.subarray(BLOB_SIZE, offset).equals(Buffer.alloc(offset - BLOB_SIZE)));
});

test('write at offset into a blob uploaded whole', async (t) => {
  const { helper, containerName, blockIds } = await setup();
  const original = randomBytes(10 * MIB);
  await server.serviceClient().getContainerClient(containerName).getBlockBlobClient('whole').upload(original, original.length);
  t.deepEqual(await blockIds('whole'), []);

  const data = randomBytes(1000);
  await helper.write('whole', Readable.from([data]), { offset: 5 * MIB });

  t.true((await readAll(helper, 'whole')).equals(patch(original, 5 * MIB, data)));
  t.is((await blockIds('whole')).length, 3);
});

test('write at offset creates a missing blob', async (t) => {
  const { helper } = await setup();
  const data = Buffer.from('tail');

  const result = await helper.write('created', Readable.from([data]), { offset: 100 });

  t.deepEqual(result, { written: 4, size: 104 });
  t.true((await readAll(helper, 'created')).equals(patch(Buffer.alloc(0), 100, data)));
});

test('appends merge into full blocks', async (t) => {
  const { helper, blockIds } = await setup();
  const pieces: Buffer[] = [];
  for (let index = 0; index < 9; index++) {
    const piece = randomBytes(MIB);
    pieces.push(piece);
    await helper.write('appended', Readable.from([piece]), { offset: index * MIB });
  }

  t.true((await readAll(helper, 'appended')).equals(Buffer.concat(pieces)));
  t.is((await blockIds('appended')).length, 3);
});

test('truncate cuts and zero-extends', async (t) => {
  const { helper, blockIds } = await setup();
  const model = await writeBaseBlob(helper, 'truncated');
  const before = await blockIds('truncated');

  await helper.truncate('truncated', 9 * MIB + 5);
  t.true((await readAll(helper, 'truncated')).equals(model.subarray(0, 9 * MIB + 5)));
  const cut = await blockIds('truncated');
  t.deepEqual(cut.slice(0, 2), before.slice(0, 2));
  t.is(cut.length, 3);

  await helper.truncate('truncated', 12 * MIB);
  const extended = await readAll(helper, 'truncated');
  t.is(extended.length, 12 * MIB);
  t.true(extended.subarray(0, 9 * MIB + 5).equals(model.subarray(0, 9 * MIB + 5)));
  t.true(extended.subarray(9 * MIB + 5).equals(Buffer.alloc(3 * MIB - 5)));

  const missing = await t.throwsAsync(helper.truncate('absent', 10));
  t.is((missing as StorageError).kind, 'NotFound');
});

test('failed offset write keeps the old content', async (t) => {
  const { helper, blockIds } = await setup();
  const model = await writeBaseBlob(helper, 'kept');
  const before = await blockIds('kept');

  const broken = failingStream(randomBytes(6 * MIB), new Error('source broke'));
  const error = await t.throwsAsync(helper.write('kept', broken, { offset: 2 * MIB }));
  t.true(StorageError.is(error));

  const mismatch = await t.throwsAsync(helper.write('kept', Readable.from([randomBytes(100)]), { offset: 5, size: 200 }));
  t.is((mismatch as StorageError).kind, 'ConditionNotMatch');

  t.true((await readAll(helper, 'kept')).equals(model));
  t.deepEqual(await blockIds('kept'), before);
});

