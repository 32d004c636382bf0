import { Readable } from 'node:stream';
import anyTest, { type TestFn } from 'ava';
import type { StorageHelper } from '@op-worker/core';
import { createBucket, createTestHelper, directClient } from './fixture.js';
import { startMoto, type MotoServer } from './moto-server.js';
import { readAll } from './streams.js';

interface Context {
  server: MotoServer;
  helper: StorageHelper;
}

const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const server = await startMoto();
  const bucket = await createBucket(directClient(server.endpoint), 'basic');
  t.context.server = server;
  t.context.helper = await createTestHelper(server.endpoint, bucket);
});

test.after.always(async (t) => {
  await t.context.helper?.close();
  await t.context.server?.stop();
});

async function put(helper: StorageHelper, path: string, content: string | Buffer): Promise<void> {
  await helper.write(path, Readable.from([Buffer.from(content)]));
}

async function content(helper: StorageHelper, path: string, range?: { offset: number; length?: number }): Promise<string> {
  return (await readAll(await helper.read(path, range))).toString();
}

test('special names round-trip', async (t) => {
  const { helper } = t.context;
  const names = ['with space', 'per%25cent', 'hash#tag', 'quest?ion', 'plus+sign', 'amp&eq=semi;', 'ünïcödé ✓'];

  for (const name of names) await put(helper, `names/${name}`, `content of ${name}`);

  for (const name of names) {
    t.is(await content(helper, `names/${name}`), `content of ${name}`, name);
    t.is((await helper.stat(`names/${name}`)).size, Buffer.byteLength(`content of ${name}`), name);
  }
  const listed = (await helper.list('names')).entries.map((entry) => entry.name);
  t.deepEqual([...listed].sort(), [...names].sort());
});

test('unicode NFC and NFD names stay distinct', async (t) => {
  const { helper } = t.context;
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';

  await put(helper, `unicode/${nfc}`, 'composed');
  await put(helper, `unicode/${nfd}`, 'decomposed');

  t.is(await content(helper, `unicode/${nfc}`), 'composed');
  t.is(await content(helper, `unicode/${nfd}`), 'decomposed');
  const listed = (await helper.list('unicode')).entries.map((entry) => entry.name);
  t.deepEqual(listed, [nfd, nfc]);
});

test('zero-byte object', async (t) => {
  const { helper } = t.context;
  const result = await helper.write('empty/file', Readable.from([]));

  t.deepEqual(result, { written: 0, size: 0 });
  t.is((await helper.stat('empty/file')).size, 0);
  t.is(await content(helper, 'empty/file'), '');
  t.is(await content(helper, 'empty/file', { offset: 0, length: 10 }), '');
});

test('ranged reads', async (t) => {
  const { helper } = t.context;
  await put(helper, 'ranges/file', '0123456789');

  t.is(await content(helper, 'ranges/file', { offset: 2, length: 3 }), '234');
  t.is(await content(helper, 'ranges/file', { offset: 7 }), '789');
  t.is(await content(helper, 'ranges/file', { offset: 8, length: 100 }), '89', 'range past the end is cut');
  t.is(await content(helper, 'ranges/file', { offset: 10, length: 5 }), '', 'range at the end is empty');
  t.is(await content(helper, 'ranges/file', { offset: 50 }), '', 'range after the end is empty');
  t.is(await content(helper, 'ranges/file', { offset: 3, length: 0 }), '');
});

test('stat of object, prefix and missing path', async (t) => {
  const { helper } = t.context;
  await put(helper, 'stat/dir/child', 'x');

  const file = await helper.stat('stat/dir/child');
  t.is(file.type, 'file');
  t.is(file.size, 1);
  t.true(file.mtimeMs > 0);
  t.truthy(file.etag);

  t.is((await helper.stat('stat/dir')).type, 'directory');
  t.is((await helper.stat('')).type, 'directory');
  const missing = await t.throwsAsync(helper.stat('stat/missing'));
  t.is((missing as { kind?: string }).kind, 'NotFound');
});

test('read of a prefix is IsADirectory', async (t) => {
  const { helper } = t.context;
  await put(helper, 'isdir/dir/child', 'x');

  const error = await t.throwsAsync(helper.read('isdir/dir'));
  t.is((error as { kind?: string }).kind, 'IsADirectory');
  const missing = await t.throwsAsync(helper.read('isdir/nothing'));
  t.is((missing as { kind?: string }).kind, 'NotFound');
});

test('list shows prefixes and skips marker object', async (t) => {
  const { helper } = t.context;
  await put(helper, 'mixed/b-file', 'b');
  await put(helper, 'mixed/a-dir/inner', 'i');
  await put(helper, 'mixed/c-dir/', '');

  const page = await helper.list('mixed');
  t.deepEqual(
    page.entries.map((entry) => [entry.name, entry.stat.type]),
    [
      ['a-dir', 'directory'],
      ['b-file', 'file'],
      ['c-dir', 'directory'],
    ],
  );
  t.true(page.isLast);
  t.deepEqual((await helper.list('mixed/c-dir')).entries, [], 'a marker object is not its own child');
  t.deepEqual((await helper.list('mixed/none')).entries, []);
});

test('list of 2,500 entries in pages', async (t) => {
  const { helper } = t.context;
  const names = Array.from({ length: 2500 }, (_, index) => `entry-${String(index).padStart(5, '0')}`);
  for (let start = 0; start < names.length; start += 50) {
    await Promise.all(names.slice(start, start + 50).map((name) => put(helper, `many/${name}`, name)));
  }
  await put(helper, 'many/entry-01000x/inner', 'a directory among the files');

  const expected = [...names, 'entry-01000x'].sort();
  for (const limit of [undefined, 700]) {
    const seen: string[] = [];
    let startAfter: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await helper.list('many', { ...(startAfter === undefined ? {} : { startAfter }), ...(limit === undefined ? {} : { limit }) });
      pages += 1;
      seen.push(...page.entries.map((entry) => entry.name));
      if (page.isLast) break;
      startAfter = page.entries.at(-1)!.name;
      if (pages > 20) break;
    }
    t.deepEqual(seen, expected, `limit ${limit ?? 'default'}`);
    t.true(pages >= 3, `limit ${limit ?? 'default'} used ${pages} pages`);
  }
});

test('list resumes after a directory name', async (t) => {
  const { helper } = t.context;
  await put(helper, 'resume/a', '1');
  await put(helper, 'resume/b/x', '2');
  await put(helper, 'resume/b/y', '3');
  await put(helper, 'resume/c', '4');

  const page = await helper.list('resume', { startAfter: 'b', limit: 1 });
  t.deepEqual(page.entries.map((entry) => entry.name), ['c']);
  t.true(page.isLast);
});

test('delete, rename and copy', async (t) => {
  const { helper } = t.context;
  await put(helper, 'ops/source', 'payload');

  await helper.copy!('ops/source', 'ops/copy');
  t.is(await content(helper, 'ops/copy'), 'payload');

  await put(helper, 'ops/target', 'old target');
  await helper.rename!('ops/source', 'ops/target');
  t.is(await content(helper, 'ops/target'), 'payload');
  const gone = await t.throwsAsync(helper.stat('ops/source'));
  t.is((gone as { kind?: string }).kind, 'NotFound');

  await helper.delete('ops/target');
  await helper.delete('ops/target');
  const deleted = await t.throwsAsync(helper.stat('ops/target'));
  t.is((deleted as { kind?: string }).kind, 'NotFound');

  const missingCopy = await t.throwsAsync(helper.copy!('ops/none', 'ops/other'));
  t.is((missingCopy as { kind?: string }).kind, 'NotFound');
});

test('list pages around a directory prefix', async (t) => {
  const { helper } = t.context;
  await put(helper, 'around/a/inner', 'in a directory');
  await put(helper, 'around/a b', 'a file whose key sorts before the prefix a/');
  await put(helper, 'around/a0', 'a file whose key sorts after the prefix a/');

  const seen: string[] = [];
  let startAfter: string | undefined;
  for (let round = 0; round < 10; round += 1) {
    const page = await helper.list('around', { limit: 1, ...(startAfter === undefined ? {} : { startAfter }) });
    seen.push(...page.entries.map((entry) => entry.name));
    if (page.isLast) break;
    startAfter = page.entries.at(-1)!.name;
  }

  t.deepEqual(seen, ['a b', 'a', 'a0'], 'each entry once, in S3 key order');
});

test('mkdir and rmdir are no-ops', async (t) => {
  const { helper } = t.context;
  await helper.mkdir('noop/dir');
  await helper.rmdir('noop/dir');
  t.deepEqual((await helper.list('noop')).entries, []);
});
