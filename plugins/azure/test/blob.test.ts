import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import test from 'ava';
import { StorageError, type ListEntry } from '@op-worker/core';
import { AzuriteServer } from './azurite.js';
import { collect, generatedStream, sha256Of } from './streams.js';

const MIB = 1024 * 1024;

let server: AzuriteServer;
let helper: Awaited<ReturnType<AzuriteServer['createHelper']>>;
const containerName = `blobs-${process.pid}`;

test.before(async () => {
  server = await AzuriteServer.start();
  helper = await server.createHelper(containerName, { listPageSize: 700 });
});

test.after.always(async () => {
  await server?.stop();
});

async function readText(path: string, range?: { offset: number; length?: number }): Promise<string> {
  return (await collect(await helper.read(path, range))).toString();
}

async function listAll(path: string, limit: number, startAfter?: string): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pages = 0;
  let after = startAfter;
  for (;;) {
    const page = await helper.list(path, { limit, startAfter: after });
    pages += 1;
    names.push(...page.entries.map((entry: ListEntry) => entry.name));
    if (page.isLast) return { names, pages };
    after = page.entries[page.entries.length - 1]?.name;
    if (pages > 100) throw new Error('listing did not end after 100 pages');
  }
}

test('special names round trip', async (t) => {
  const names = ['with space', '100%', '50%25', 'hash#tag', 'what?', 'a+b', 'caf\u00e9', 'cafe\u0301'];
  for (const name of names) await helper.write(`names/${name}`, Readable.from([Buffer.from(`content of ${name}`)]));

  for (const name of names) t.is(await readText(`names/${name}`), `content of ${name}`, name);
  const listed = (await helper.list('names')).entries.map((entry) => entry.name);
  t.deepEqual([...listed].sort(), [...names].sort());
  t.is(listed.length, 8);
});

test('zero-byte blob', async (t) => {
  const result = await helper.write('empty', Readable.from([]));

  t.deepEqual(result, { written: 0, size: 0 });
  t.is((await helper.stat('empty')).size, 0);
  t.is(await readText('empty'), '');
  t.is(await readText('empty', { offset: 0, length: 10 }), '');
});

test('ranged reads', async (t) => {
  const content = randomBytes(MIB);
  await helper.write('ranged', Readable.from([content]));

  t.true((await collect(await helper.read('ranged', { offset: 1000, length: 5000 }))).equals(content.subarray(1000, 6000)));
  t.true((await collect(await helper.read('ranged', { offset: MIB - 10, length: 100 }))).equals(content.subarray(MIB - 10)));
  t.true((await collect(await helper.read('ranged', { offset: 77 }))).equals(content.subarray(77)));
  t.is((await collect(await helper.read('ranged', { offset: MIB }))).length, 0);
  t.is((await collect(await helper.read('ranged', { offset: MIB + 5, length: 3 }))).length, 0);
  t.is((await collect(await helper.read('ranged', { offset: 5, length: 0 }))).length, 0);

  const missing = await t.throwsAsync(helper.read('absent', { offset: 0, length: 0 }));
  t.is((missing as StorageError).kind, 'NotFound');
});

test('listing 2,500 entries in pages', async (t) => {
  const names = Array.from({ length: 2500 }, (_, index) => `entry-${String(index).padStart(4, '0')}`);
  for (let start = 0; start < names.length; start += 50) {
    await Promise.all(names.slice(start, start + 50).map((name) => helper.write(`many/${name}`, Readable.from([]))));
  }

  const sequential = await listAll('many', 1000);
  t.is(sequential.pages, 3);
  t.deepEqual(sequential.names, names);

  const fresh = await server.createHelper(containerName, { listPageSize: 700 });
  const resumed = await fresh.list('many', { startAfter: 'entry-1399', limit: 1000 });
  t.deepEqual(resumed.entries.map((entry) => entry.name), names.slice(1400, 2400));
  t.false(resumed.isLast);
  const rest = await fresh.list('many', { startAfter: 'entry-2399x', limit: 1000 });
  t.deepEqual(rest.entries.map((entry) => entry.name), names.slice(2400));
  t.true(rest.isLast);
});

test('prefixes list and stat as directories', async (t) => {
  for (const path of ['tree/d/x', 'tree/d/y/z', 'tree/d.zip', 'tree/e']) await helper.write(path, Readable.from([Buffer.from(path)]));

  const top = await helper.list('tree');
  t.deepEqual(top.entries.map((entry) => [entry.name, entry.stat.type]), [['d.zip', 'file'], ['d', 'directory'], ['e', 'file']]);
  t.true(top.isLast);
  t.deepEqual((await helper.list('tree/d')).entries.map((entry) => entry.name), ['x', 'y']);

  const fresh = await server.createHelper(containerName);
  t.deepEqual((await fresh.list('tree', { startAfter: 'd' })).entries.map((entry) => entry.name), ['e']);
  t.deepEqual((await fresh.list('tree', { startAfter: 'd.zip' })).entries.map((entry) => entry.name), ['d', 'e']);

  t.is((await helper.stat('tree/d')).type, 'directory');
  t.is((await helper.stat('tree/d.zip')).type, 'file');
  t.is((await helper.stat('')).type, 'directory');
  const missing = await t.throwsAsync(helper.stat('tree/none'));
  t.is((missing as StorageError).kind, 'NotFound');
  t.deepEqual((await helper.list('tree/none')).entries, []);
});

test('100 MiB stream round trip', async (t) => {
  const size = 100 * MIB;
  const expected = await sha256Of(generatedStream(size, 42));

  const result = await helper.write('large', generatedStream(size, 42));

  t.deepEqual(result, { written: size, size });
  t.is((await helper.stat('large')).size, size);
  t.is(await sha256Of(await helper.read('large')), expected);
  const blocks = await server.serviceClient().getContainerClient(containerName).getBlockBlobClient('large').getBlockList('committed');
  t.is(blocks.committedBlocks?.length, Math.ceil(size / (8 * MIB)));
});

test('root is not a blob', async (t) => {
  const error = await t.throwsAsync(helper.write('', Readable.from([Buffer.from('x')])));
  t.is((error as StorageError).kind, 'IsADirectory');
});
