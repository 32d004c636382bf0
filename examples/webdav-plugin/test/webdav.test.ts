import test from 'ava';
import { pino } from 'pino';
import { createDispatchedHelper, StorageError } from '@op-worker/core';
import { collect, digestOf, PatternStream, streamOf } from '@op-worker/core/testkit';
import type { WebdavHelper } from '../src/index.js';
import { createHelper, makeRoot, webdavTarget, type WebdavTarget } from './fixture.js';
import { BASIC_CREDENTIALS, BEARER_TOKEN } from './webdav-server.js';

let target: WebdavTarget;
let root: { endpoint: string; remove(): Promise<void> };
let helper: WebdavHelper;

test.before(async () => {
  target = await webdavTarget();
  root = await makeRoot(target, 'plugin');
  helper = await createHelper({ endpoint: root.endpoint, rangeWriteSupport: 'moddav' });
});

test.after.always(async () => {
  await helper?.close();
  await root?.remove();
  await target?.dispose();
});

async function put(path: string, content: string | Buffer): Promise<void> {
  const bytes = Buffer.from(content);
  await helper.write(path, streamOf(bytes), { size: bytes.length });
}

async function text(path: string): Promise<string> {
  return (await collect(await helper.read(path))).toString();
}

test('reserved URL characters round trip', async (t) => {
  const names = ['with space', '50%', '%2F', 'a#b', 'what?', 'a+b', 'semi;colon', 'amp&eq=', 'caf\u00e9'];

  for (const name of names) await put(`reserved/${name}`, `content of ${name}`);

  for (const name of names) t.is(await text(`reserved/${name}`), `content of ${name}`, name);
  const listed = (await helper.list('reserved')).entries.map((entry) => entry.name);
  t.deepEqual([...listed].sort(), [...names].sort());
});

test('NFC and NFD names stay distinct', async (t) => {
  const nfc = 'e\u0301'.normalize('NFC');
  const nfd = 'e\u0301'.normalize('NFD');

  await put(`unicode/${nfc}`, 'composed');
  await put(`unicode/${nfd}`, 'decomposed');

  t.is(await text(`unicode/${nfc}`), 'composed');
  t.is(await text(`unicode/${nfd}`), 'decomposed');
  const listed = (await helper.list('unicode')).entries.map((entry) => Buffer.from(entry.name).toString('hex'));
  t.deepEqual(listed.sort(), [Buffer.from(nfc).toString('hex'), Buffer.from(nfd).toString('hex')].sort());
});

test('zero-byte file', async (t) => {
  await put('empty', Buffer.alloc(0));

  const stat = await helper.stat('empty');

  t.is(stat.type, 'file');
  t.is(stat.size, 0);
  t.is((await collect(await helper.read('empty'))).length, 0);
});

test('2,500 entries page in order', async (t) => {
  const names = Array.from({ length: 2500 }, (_, index) => `entry-${String(index).padStart(4, '0')}`);
  for (let start = 0; start < names.length; start += 50) {
    await Promise.all(names.slice(start, start + 50).map((name) => put(`many/${name}`, name)));
  }

  const seen: string[] = [];
  let startAfter: string | undefined;
  for (let pages = 0; pages < 10; pages++) {
    const page = await helper.list('many', { startAfter, limit: 1000 });
    seen.push(...page.entries.map((entry) => entry.name));
    startAfter = page.entries.at(-1)?.name;
    if (page.isLast) break;
  }

  t.is(seen.length, names.length);
  t.deepEqual(seen, names);
});

test('100 MiB upload streams', async (t) => {
  const size = 100 * 1024 * 1024;
  const source = new PatternStream('webdav-large', size);

  const result = await helper.write('large', source);
  const read = await digestOf(await helper.read('large'));

  t.deepEqual(result, { written: size, size });
  t.is(read.bytes, size);
  t.is(read.digest, source.digest());
  t.is((await helper.stat('large')).size, size);
});

test('range read inside large object', async (t) => {
  await put('ranged', Buffer.from('0123456789abcdef'));

  t.is((await collect(await helper.read('ranged', { offset: 10, length: 3 }))).toString(), 'abc');
  t.is((await collect(await helper.read('ranged', { offset: 16 }))).length, 0);
});

test('offset write with moddav', async (t) => {
  await put('patched', '0123456789');

  const result = await helper.write('patched', streamOf(Buffer.from('XY')), { offset: 8 });
  await helper.write('patched', streamOf(Buffer.from('END')), { offset: 12 });

  t.deepEqual(result, { written: 2, size: 10 });
  t.deepEqual(await collect(await helper.read('patched')), Buffer.from('01234567XY\0\0END'));
});

test('offset write without rangeWriteSupport is rejected', async (t) => {
  const plain = await createHelper({ endpoint: root.endpoint });
  const dispatched = createDispatchedHelper(plain, { storageId: 'plain', type: 'webdav', logger: pino({ level: 'silent' }) });
  try {
    await put('unpatched', 'keep');

    const error = await t.throwsAsync(dispatched.write('unpatched', streamOf(Buffer.from('x')), { offset: 1 }));

    t.is((error as StorageError).kind, 'Unsupported');
    t.is((error as StorageError).context.capability, 'write_at_offset');
    t.is(await text('unpatched'), 'keep');
  } finally {
    await dispatched.close();
  }
});

test('maximumUploadSize stops a long stream', async (t) => {
  const limited = await createHelper({ endpoint: root.endpoint, maximumUploadSize: 1024 });
  try {
    await put('limited', 'previous');

    const error = await t.throwsAsync(limited.write('limited', new PatternStream('too-big', 4 * 1024 * 1024)));

    t.is((error as StorageError).kind, 'Unsupported');
    t.is(await text('limited'), 'previous');
  } finally {
    await limited.close();
  }
});

test('mkdir over a file is AlreadyExists', async (t) => {
  await put('plain-file', 'x');

  const error = await t.throwsAsync(helper.mkdir('plain-file'));

  t.is((error as StorageError).kind, 'AlreadyExists');
});

test('basic and bearer credentials work', async (t) => {
  const name = root.endpoint.split('/').at(-2)!;
  const basic = await createHelper({ endpoint: `${target.url}/basic/${name}/`, credentialsType: 'basic', credentials: BASIC_CREDENTIALS });
  const bearer = await createHelper({ endpoint: `${target.url}/bearer/${name}/`, credentialsType: 'token', credentials: BEARER_TOKEN });
  try {
    await basic.write('via-basic', streamOf(Buffer.from('basic')));
    await bearer.write('via-bearer', streamOf(Buffer.from('bearer')));

    t.is(await text('via-basic'), 'basic');
    t.is(await text('via-bearer'), 'bearer');
  } finally {
    await basic.close();
    await bearer.close();
  }
});
