import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import {
  createDispatchedHelper,
  parseStorageConfig,
  StorageError,
  type StorageErrorKind,
  type StorageHelper,
} from '@op-worker/core';
import { streamOf } from '@op-worker/core/testkit';
import { posixPlugin } from '../src/index.js';

/**
 * Layout: `<base>/root` is the storage root and `<base>/outside/secret` a file the
 * storage must never expose. Links inside the root point outside in several ways.
 */
interface Fixture {
  base: string;
  root: string;
  secret: string;
  helper: StorageHelper;
}

const SECRET = 'outside the storage root';

async function createFixture(): Promise<Fixture> {
  const base = await mkdtemp(path.join(tmpdir(), 'posix-escape-'));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  const secret = path.join(outside, 'secret');
  await writeFile(secret, SECRET);

  await symlink(secret, path.join(root, 'file-link'));
  await symlink(outside, path.join(root, 'dir-link'));
  await symlink('../outside', path.join(root, 'relative-dir-link'));
  await symlink(path.join(outside, 'not-yet'), path.join(root, 'dangling-link'));

  const config = parseStorageConfig(posixPlugin.configSchema, { mountPoint: root });
  const logger = pino({ level: 'silent' });
  const plugin = await posixPlugin.create(config, { storageId: 'escape', logger });
  const helper = createDispatchedHelper(plugin, { storageId: 'escape', type: 'posix', logger, retries: 0 });
  return { base, root, secret, helper };
}

/** Expect the call to fail with PermissionDenied, or with `kind` when one is given. */
async function rejects(
  t: import('ava').ExecutionContext,
  call: Promise<unknown>,
  label: string,
  kind: StorageErrorKind = 'PermissionDenied',
): Promise<void> {
  const error = await t.throwsAsync(call, undefined, label);
  t.true(StorageError.is(error), label);
  t.is((error as StorageError | undefined)?.kind, kind, label);
}

test('file symlink is not read through', async (t) => {
  const { helper, base } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  await rejects(t, helper.read('file-link'), 'read');
  await rejects(t, helper.read('file-link', { offset: 0, length: 4 }), 'ranged read');
  await rejects(t, helper.copy!('file-link', 'copied'), 'copy');
  await rejects(t, helper.getXattr!('file-link', 'a'), 'getXattr');
});

test('file symlink is not written through', async (t) => {
  const { helper, base, secret } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  await rejects(t, helper.write('file-link', streamOf(Buffer.from('x')), { offset: 0 }), 'offset write');
  await rejects(t, helper.truncate('file-link', 0), 'truncate');
  await rejects(t, helper.chmod!('file-link', 0o777), 'chmod');
  await rejects(t, helper.setXattr!('file-link', 'a', Buffer.from('v')), 'setXattr');

  t.is(await readFile(secret, 'utf8'), SECRET);
});

test('whole write replaces the link itself', async (t) => {
  const { helper, base, root, secret } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  await helper.write('file-link', streamOf(Buffer.from('new content')));

  t.is(await readFile(secret, 'utf8'), SECRET);
  t.is(await readFile(path.join(root, 'file-link'), 'utf8'), 'new content');
});

test('directory symlink is not traversed', async (t) => {
  const { helper, base, root, secret } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));
  await writeFile(path.join(root, 'moved-in'), 'inside');

  for (const link of ['dir-link', 'relative-dir-link']) {
    await rejects(t, helper.read(`${link}/secret`), `${link} read`);
    await rejects(t, helper.stat(`${link}/secret`), `${link} stat`);
    await rejects(t, helper.write(`${link}/secret`, streamOf(Buffer.from('x'))), `${link} write`);
    await rejects(t, helper.write(`${link}/new`, streamOf(Buffer.from('x'))), `${link} create`);
    await rejects(t, helper.delete(`${link}/secret`), `${link} delete`);
    await rejects(t, helper.mkdir(`${link}/made`), `${link} mkdir`);
    await rejects(t, helper.list(link), `${link} list`, 'NotADirectory');
    await rejects(t, helper.rename!('moved-in', `${link}/moved`), `${link} rename target`);
  }

  t.is(await readFile(secret, 'utf8'), SECRET);
});

test('dangling symlink is not created through', async (t) => {
  const { helper, base } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  await rejects(t, helper.write('dangling-link', streamOf(Buffer.from('x')), { offset: 0 }), 'offset write');
  const below = helper.write('dangling-link/child', streamOf(Buffer.from('x')));
  await rejects(t, below, 'write below', 'NotFound');

  await t.throwsAsync(readFile(path.join(base, 'outside', 'not-yet')));
});

test('stat reports symlinks without following', async (t) => {
  const { helper, base } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  const stat = await helper.stat('file-link');
  const listed = await helper.list('');

  t.is(stat.type, 'symlink');
  t.is(listed.entries.find((entry) => entry.name === 'dir-link')?.stat.type, 'symlink');
  t.is(listed.entries.find((entry) => entry.name === 'file-link')?.stat.type, 'symlink');
});

test('parent segments are rejected', async (t) => {
  const { helper, base } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  for (const bad of ['..', '../outside/secret', 'a/../../outside/secret', '%2e%2e/outside/secret', 'a%2Fb', 'a\0b']) {
    const error = await t.throwsAsync(helper.read(bad), undefined, bad);
    t.is((error as StorageError | undefined)?.kind, 'PermissionDenied', bad);
  }
});

test('root directory cannot be removed', async (t) => {
  const { helper, base } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));

  const error = await t.throwsAsync(helper.rmdir(''));

  t.is((error as StorageError | undefined)?.kind, 'PermissionDenied');
});

test('a directory swapped for a link right after a read is not read through', async (t) => {
  const { helper, base, root } = await createFixture();
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const directory = path.join(root, 'swapped');
  await mkdir(directory);
  await writeFile(path.join(directory, 'secret'), 'inside');
  t.is((await readFile(path.join(directory, 'secret'), 'utf8')), 'inside');

  // The first read checks the parent and remembers it; the swap happens within that memory.
  const first = await helper.read('swapped/secret');
  first.resume();
  await rm(directory, { recursive: true });
  await symlink(path.join(base, 'outside'), directory);

  await rejects(t, helper.read('swapped/secret'), 'small read');
  await rejects(t, helper.read('swapped/secret', { offset: 1, length: 3 }), 'ranged read');
});
