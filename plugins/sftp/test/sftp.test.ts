import { readdirSync, statSync } from 'node:fs';
import test from 'ava';
import { StorageError, type StorageErrorKind } from '@op-worker/core';
import type { SftpHelper } from '../src/index.js';
import { createHelper, makeRoot, rawConfig, sftpTarget, type SftpTarget } from './fixture.js';
import { collect, digestOf, failingStream, PatternStream, patternRange, sha256, streamOf } from './streams.js';

let target: SftpTarget;
let root: { rootPath: string; remove(): Promise<void> };
let helper: SftpHelper;

test.before(async () => {
  target = await sftpTarget();
  root = await makeRoot(target, 'plugin');
  helper = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 4 }));
});

test.after.always(async () => {
  await helper?.close();
  await root?.remove();
  await target?.stop();
});

async function expectKind(t: import('ava').ExecutionContext, call: Promise<unknown>, kind: StorageErrorKind): Promise<StorageError> {
  const error = await t.throwsAsync(call);
  t.true(StorageError.is(error), `expected a StorageError, got ${String(error)}`);
  t.is((error as StorageError).kind, kind, (error as Error).message);
  return error as StorageError;
}

async function readText(path: string, range?: { offset: number; length?: number }): Promise<string> {
  return (await collect(await helper.read(path, range))).toString();
}

test('names with reserved characters round trip', async (t) => {
  const names = ['with space', 'per%cent', 'hash#tag', 'what?', 'plus+sign', 'ünïcödé 文件', 'semi;colon&amp'];

  for (const name of names) await helper.write(`names/${name}`, streamOf(`content of ${name}`));

  for (const name of names) t.is(await readText(`names/${name}`), `content of ${name}`);
  const listed = (await helper.list('names')).entries.map((entry) => entry.name);
  t.deepEqual(listed, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
});

test('NFC and NFD names stay distinct', async (t) => {
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';

  await helper.write(`unicode/${nfc}`, streamOf('composed'));
  await helper.write(`unicode/${nfd}`, streamOf('decomposed'));

  t.is(await readText(`unicode/${nfc}`), 'composed');
  t.is(await readText(`unicode/${nfd}`), 'decomposed');
  const listed = (await helper.list('unicode')).entries.map((entry) => entry.name);
  t.deepEqual(listed, [nfd, nfc]);
});

test('zero-byte file round trip', async (t) => {
  const result = await helper.write('empty/zero', streamOf());

  t.deepEqual(result, { written: 0, size: 0 });
  t.is((await helper.stat('empty/zero')).size, 0);
  t.is((await collect(await helper.read('empty/zero'))).length, 0);
  t.is((await collect(await helper.read('empty/zero', { offset: 0, length: 10 }))).length, 0);
});

test('2,500 entries page in byte order', async (t) => {
  const names = Array.from({ length: 2500 }, (_, i) => manyName(i));
  const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  await writeConcurrently(names.map((name) => `many/${name}`), 16);

  const seen: string[] = [];
  let startAfter: string | undefined;
  let pages = 0;
  while (true) {
    const page = await helper.list('many', { limit: 1000, startAfter });
    pages += 1;
    seen.push(...page.entries.map((entry) => entry.name));
    if (page.isLast) break;
    startAfter = page.entries.at(-1)?.name;
    t.true(pages < 10, 'listing did not end');
  }

  t.is(pages, 3);
  t.is(seen.length, 2500);
  t.deepEqual(seen, expected);
});

test('100 MiB upload verified by sha256', async (t) => {
  const size = 100 * 1024 * 1024;
  const source = new PatternStream('big', size);

  const result = await helper.write('big/blob', source, { size });

  t.deepEqual(result, { written: size, size });
  t.is((await helper.stat('big/blob')).size, size);
  const readBack = await digestOf(await helper.read('big/blob'));
  t.is(readBack.bytes, size);
  t.is(readBack.digest, source.digest());

  const offset = 37 * 1024 * 1024 + 12345;
  const window = await collect(await helper.read('big/blob', { offset, length: 3 * 1024 * 1024 }));
  t.is(sha256(window), sha256(patternRange('big', offset, 3 * 1024 * 1024)));
});

test('write at offset keeps the rest', async (t) => {
  await helper.write('offset/file', streamOf('0123456789'));

  const result = await helper.write('offset/file', streamOf('abc'), { offset: 4 });

  t.deepEqual(result, { written: 3, size: 10 });
  t.is(await readText('offset/file'), '0123abc789');
});

test('write past the end fills zeros', async (t) => {
  await helper.write('offset/gap', streamOf('head'));

  const result = await helper.write('offset/gap', streamOf('tail'), { offset: 8 });

  t.deepEqual(result, { written: 4, size: 12 });
  t.deepEqual(await collect(await helper.read('offset/gap')), Buffer.from('head\0\0\0\0tail'));
});

test('write at offset creates missing file and parents', async (t) => {
  const result = await helper.write('offset/new/dir/file', streamOf('xy'), { offset: 3 });

  t.deepEqual(result, { written: 2, size: 5 });
  t.deepEqual(await collect(await helper.read('offset/new/dir/file')), Buffer.from('\0\0\0xy'));
  t.is((await helper.stat('offset/new/dir')).type, 'directory');
});

test('failed whole write keeps old content', async (t) => {
  await helper.write('atomic-fail/file', streamOf('old content'));

  const error = await expectKind(t, helper.write('atomic-fail/file', failingStream([Buffer.alloc(1024 * 1024, 1)], 'client went away')), 'Unexpected');

  t.regex(error.message, /data stream being written failed: client went away/);
  t.is(await readText('atomic-fail/file'), 'old content');
  t.deepEqual(readdirSync(`${root.rootPath}/atomic-fail`), ['file'], 'the temporary file is removed');
});

test('size mismatch keeps old content', async (t) => {
  await helper.write('atomic-size/sized', streamOf('old'));

  const error = await expectKind(t, helper.write('atomic-size/sized', streamOf('new bytes'), { size: 3 }), 'ConditionNotMatch');

  t.regex(error.message, /held 9 bytes, but the write announced 3/);
  t.is(await readText('atomic-size/sized'), 'old');
});

test('ranged reads clip at the end', async (t) => {
  await helper.write('ranges/file', streamOf('0123456789'));

  t.is(await readText('ranges/file', { offset: 2, length: 3 }), '234');
  t.is(await readText('ranges/file', { offset: 7, length: 100 }), '789');
  t.is(await readText('ranges/file', { offset: 7 }), '789');
  t.is(await readText('ranges/file', { offset: 20 }), '');
  t.is(await readText('ranges/file', { offset: 3, length: 0 }), '');
});

test('configured modes apply to new files and directories', async (t) => {
  const modes = await createHelper(rawConfig(target, root.rootPath, { fileMode: '0640', dirMode: '0750' }));
  t.teardown(() => modes.close());

  await modes.write('modes/sub/file', streamOf('x'));

  t.is((await modes.stat('modes/sub/file')).mode, 0o640);
  t.is((await modes.stat('modes/sub')).mode, 0o750);
  t.is(statSync(`${root.rootPath}/modes/sub/file`).mode & 0o7777, 0o640);
});

test('chmod sets permission bits', async (t) => {
  await helper.write('chmod/file', streamOf('x'));

  await helper.chmod('chmod/file', 0o600);

  t.is((await helper.stat('chmod/file')).mode, 0o600);
  await expectKind(t, helper.chmod('chmod/missing', 0o600), 'NotFound');
});

test('truncate cuts and extends', async (t) => {
  await helper.write('truncate/file', streamOf('0123456789'));

  await helper.truncate('truncate/file', 4);
  t.is(await readText('truncate/file'), '0123');

  await helper.truncate('truncate/file', 6);
  t.deepEqual(await collect(await helper.read('truncate/file')), Buffer.from('0123\0\0'));
  await expectKind(t, helper.truncate('truncate/missing', 1), 'NotFound');
});

test('rename replaces target and creates parents', async (t) => {
  await helper.write('rename/a', streamOf('A'));
  await helper.write('rename/b', streamOf('B'));

  await helper.rename('rename/a', 'rename/b');
  t.is(await readText('rename/b'), 'A');
  await expectKind(t, helper.stat('rename/a'), 'NotFound');

  await helper.rename('rename/b', 'rename/deep/new/c');
  t.is(await readText('rename/deep/new/c'), 'A');
  await expectKind(t, helper.rename('rename/missing', 'rename/x'), 'NotFound');
});

test('copy streams content and replaces target', async (t) => {
  const size = 5 * 1024 * 1024 + 17;
  const source = new PatternStream('copy', size);
  await helper.write('copy/source', source);
  await helper.write('copy/target', streamOf('old'));

  await helper.copy('copy/source', 'copy/target');

  const copied = await digestOf(await helper.read('copy/target'));
  t.is(copied.bytes, size);
  t.is(copied.digest, source.digest());
  await expectKind(t, helper.copy('copy/missing', 'copy/other'), 'NotFound');
});

test('copy works on a pool of one connection', async (t) => {
  const single = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 1 }));
  t.teardown(() => single.close());
  await single.write('copy1/source', streamOf('one connection'));

  await single.copy('copy1/source', 'copy1/target');

  t.is((await collect(await single.read('copy1/target'))).toString(), 'one connection');
});

test('directory operations map to precise kinds', async (t) => {
  await helper.write('kinds/dir/file', streamOf('x'));

  await expectKind(t, helper.read('kinds/dir'), 'IsADirectory');
  await expectKind(t, helper.delete('kinds/dir'), 'IsADirectory');
  await expectKind(t, helper.write('kinds/dir', streamOf('y')), 'IsADirectory');
  await expectKind(t, helper.write('kinds/dir', streamOf('y'), { offset: 0 }), 'IsADirectory');
  await expectKind(t, helper.rmdir('kinds/dir'), 'NotEmpty');
  await expectKind(t, helper.rmdir('kinds/dir/file'), 'NotADirectory');
  await expectKind(t, helper.mkdir('kinds/dir/file'), 'AlreadyExists');
  await expectKind(t, helper.write('kinds/dir/file/below', streamOf('z')), 'NotADirectory');
  await expectKind(t, helper.list('kinds/dir/file'), 'NotADirectory');
  await expectKind(t, helper.stat('kinds/missing'), 'NotFound');
  await expectKind(t, helper.read('kinds/missing'), 'NotFound');
});

test('missing things are no error where the contract says so', async (t) => {
  await helper.mkdir('absent/dir');

  t.deepEqual(await helper.list('absent/nothing'), { entries: [], isLast: true });
  t.deepEqual(await helper.list('absent/dir'), { entries: [], isLast: true });
  await t.notThrowsAsync(helper.delete('absent/nothing'));
  await t.notThrowsAsync(helper.rmdir('absent/nothing'));
  await t.notThrowsAsync(helper.mkdir('absent/dir'));
  await helper.rmdir('absent/dir');
  await expectKind(t, helper.stat('absent/dir'), 'NotFound');
});

test('storage root is never removed', async (t) => {
  await expectKind(t, helper.rmdir(''), 'PermissionDenied');
  t.is((await helper.stat('')).type, 'directory');
});

test('missing root is NotFound naming it', async (t) => {
  const missing = `${root.rootPath}/does-not-exist`;
  const orphan = await createHelper(rawConfig(target, missing));
  t.teardown(() => orphan.close());

  const statError = await expectKind(t, orphan.stat(''), 'NotFound');
  t.true(statError.message.includes(missing), statError.message);
  const writeError = await expectKind(t, orphan.write('a/b', streamOf('x')), 'NotFound');
  t.true(writeError.message.includes(missing), writeError.message);
  t.regex(writeError.message, /storage root directory does not exist/);
});

test('durable write syncs through fsync', async (t) => {
  const result = await helper.write('durable/file', streamOf('synced'), { durable: true });
  await helper.write('durable/file', streamOf('!'), { offset: 6, durable: true });

  t.is(result.size, 6);
  t.is(await readText('durable/file'), 'synced!');
});

test('temporary names stay out of listings', async (t) => {
  await helper.write('hidden/visible', streamOf('x'));
  await helper.write('hidden/.opw-tmp-left-over', streamOf('y'));

  const listed = (await helper.list('hidden')).entries.map((entry) => entry.name);

  t.deepEqual(listed, ['visible']);
});

test('pool of two serves many concurrent calls', async (t) => {
  const small = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 2 }));
  t.teardown(() => small.close());
  const paths = Array.from({ length: 24 }, (_, i) => `pool/file-${i}`);

  await Promise.all(paths.map((path) => small.write(path, streamOf(path))));
  const contents = await Promise.all(paths.map(async (path) => (await collect(await small.read(path))).toString()));

  t.deepEqual(contents, paths);
});

test('busy pool fails after timeout, then recovers', async (t) => {
  // The timeout also bounds the SSH handshake, so it leaves room for a loaded machine.
  const single = await createHelper(rawConfig(target, root.rootPath, { connectionPoolSize: 1, timeout: 3000 }));
  t.teardown(() => single.close());
  await single.write('busy/file', streamOf('held'));

  const held = await single.read('busy/file');
  const error = await expectKind(t, single.stat('busy/file'), 'Unavailable');
  t.regex(error.message, /all 1 connections to 127\.0\.0\.1:\d+ stayed busy for 3000 ms/);
  t.is(error.retry, 'temporary');

  t.is((await collect(held)).toString(), 'held');
  t.is((await single.stat('busy/file')).size, 4);
});

/** Mix upper case, ASCII and two-byte UTF-8 first letters, so byte order differs from counting. */
function manyName(index: number): string {
  if (index % 7 === 0) return `Z-${index}`;
  if (index % 11 === 0) return `é-${index}`;
  return `f-${index}`;
}

async function writeConcurrently(paths: string[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++] as string;
      await helper.write(path, streamOf(path));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
