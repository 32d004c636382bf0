import test, { type ExecutionContext } from 'ava';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { encodeFileId, OpError, type Identity, type OpErrorKind } from '@op-worker/core';
import { createCoreFixture, readAll, streamOf, type CoreFixture } from '../src/fixture.js';

const fixtures: CoreFixture[] = [];

async function setup(options?: Parameters<typeof createCoreFixture>[0]): Promise<CoreFixture> {
  const fixture = await createCoreFixture(options);
  fixtures.push(fixture);
  return fixture;
}

test.after.always(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.dispose()));
});

/** Assert that `promise` rejects with an `OpError` of `kind` (and `errno` for posix errors). */
async function rejects(t: ExecutionContext, promise: Promise<unknown>, kind: OpErrorKind, errno?: string, label?: string): Promise<void> {
  const error = await t.throwsAsync(promise, undefined, label);
  t.true(OpError.is(error), label);
  if (!OpError.is(error)) return;
  t.is(error.kind, kind, label);
  if (errno !== undefined) t.is(error.details['errno'], errno, label);
}

test('create, read and list a file', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'hello.txt', { type: 'REG', content: streamOf('hello world') });

  t.is(file.size, 11);
  t.is(file.type, 'REG');
  t.is(file.path, '/space1/hello.txt');
  t.is(file.mode, 0o664);
  t.is(file.parentFileId, space.dirId);
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'hello world');

  const listing = await core.lfs.listChildren(owner, space.dirId, {});
  t.deepEqual(listing.children.map((child) => child.name), ['hello.txt']);
  t.true(listing.isLast);
  t.is(listing.nextPageToken, null);
});

test('canonical layout mirrors the logical path on the storage', async (t) => {
  const { core, owner, space, storageRoot } = await setup({ storagePathType: 'canonical' });
  const dir = await core.lfs.create(owner, space.dirId, 'dir', { type: 'DIR' });
  await core.lfs.create(owner, dir.fileId, 'a.bin', { type: 'REG', content: streamOf('abc') });

  t.is(await readFile(path.join(storageRoot, space.spaceId, 'dir', 'a.bin'), 'utf8'), 'abc');

  const renamed = await core.lfs.rename(owner, dir.fileId, space.dirId, 'moved');
  t.is(renamed.path, '/space1/moved');
  t.is(await readFile(path.join(storageRoot, space.spaceId, 'moved', 'a.bin'), 'utf8'), 'abc');
  const moved = await core.lfs.lookupPath(owner, '/space1/moved/a.bin');
  t.is((await readAll((await core.lfs.read(owner, moved.fileId)).stream)).toString(), 'abc');
});

test('ranged reads stop at the end of the file', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'r', { type: 'REG', content: streamOf('0123456789') });

  const read = async (offset: number, length?: number) =>
    (await readAll((await core.lfs.read(owner, file.fileId, { offset, length })).stream)).toString();
  t.is(await read(2, 3), '234');
  t.is(await read(8, 10), '89');
  t.is(await read(10, 5), '');
  t.is(await read(0), '0123456789');
});

test('write at an offset keeps the other bytes and zero-fills a gap', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'o', { type: 'REG', content: streamOf('abcdef') });

  await core.lfs.write(owner, file.fileId, streamOf('XY'), { offset: 2 });
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'abXYef');

  const extended = await core.lfs.write(owner, file.fileId, streamOf('Z'), { offset: 9 });
  t.is(extended.size, 10);
  const content = await readAll((await core.lfs.read(owner, file.fileId)).stream);
  t.deepEqual(content, Buffer.concat([Buffer.from('abXYef'), Buffer.alloc(3), Buffer.from('Z')]));
});

test('whole write replaces the content and size', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'w', { type: 'REG', content: streamOf('a long first content') });
  const written = await core.lfs.write(owner, file.fileId, streamOf('short'), {});
  t.is(written.size, 5);
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'short');
});

test('a size mismatch keeps the previous content and size', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'm', { type: 'REG', content: streamOf('original') });

  await rejects(t, core.lfs.write(owner, file.fileId, streamOf('too short'), { size: 100 }), 'badValue');
  const after = await core.lfs.getAttributes(owner, file.fileId);
  t.is(after.size, 8);
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'original');
});

test('a failing upload stream keeps the previous content', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'f', { type: 'REG', content: streamOf('original') });
  const broken = new Readable({
    read() {
      this.push(Buffer.alloc(1024, 1));
      this.destroy(new Error('client went away'));
    },
  });

  await t.throwsAsync(core.lfs.write(owner, file.fileId, broken, {}));
  t.is((await core.lfs.getAttributes(owner, file.fileId)).size, 8);
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'original');
});

test('truncate shrinks and extends', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 't', { type: 'REG', content: streamOf('abcdef') });
  t.is((await core.lfs.truncate(owner, file.fileId, 3)).size, 3);
  t.is((await readAll((await core.lfs.read(owner, file.fileId)).stream)).toString(), 'abc');
  t.is((await core.lfs.truncate(owner, file.fileId, 5)).size, 5);
  t.deepEqual(await readAll((await core.lfs.read(owner, file.fileId)).stream), Buffer.from([97, 98, 99, 0, 0]));
});

test('names are unique within a directory', async (t) => {
  const { core, owner, space } = await setup();
  await core.lfs.create(owner, space.dirId, 'dup', { type: 'DIR' });
  await rejects(t, core.lfs.create(owner, space.dirId, 'dup', { type: 'REG' }), 'posix', 'eexist');

  const racing = await Promise.allSettled(
    Array.from({ length: 10 }, () => core.lfs.create(owner, space.dirId, 'race', { type: 'REG', content: streamOf('x') })),
  );
  t.is(racing.filter((result) => result.status === 'fulfilled').length, 1);
  const listing = await core.lfs.listChildren(owner, space.dirId, {});
  t.deepEqual(listing.children.map((child) => child.name), ['dup', 'race']);
});

test('invalid names and paths are rejected', async (t) => {
  const { core, owner, space } = await setup();
  for (const name of ['', '.', '..', 'a/b', 'nul\0byte']) {
    await rejects(t, core.lfs.create(owner, space.dirId, name, { type: 'REG' }), 'badValue', undefined, name);
  }
  for (const relative of ['../etc/passwd', 'a/../../b', '%2e%2e/x', 'a%2Fb']) {
    await rejects(t, core.lfs.createAtPath(owner, space.dirId, relative, { type: 'REG', createParents: true }), 'badValue', undefined, relative);
  }
});

test('createAtPath makes missing parents on request', async (t) => {
  const { core, owner, space } = await setup();
  await rejects(t, core.lfs.createAtPath(owner, space.dirId, 'x/y/z.txt', { type: 'REG' }), 'notFound');
  const created = await core.lfs.createAtPath(owner, space.spaceId, 'x/y/z.txt', { type: 'REG', createParents: true, content: streamOf('z') });
  t.is(created.path, '/space1/x/y/z.txt');
  const found = await core.lfs.lookupRelative(owner, space.dirId, 'x/y/z.txt');
  t.is(found.fileId, created.fileId);
});

test('listing pages cover every child once in byte order', async (t) => {
  const { core, owner, space } = await setup();
  const dir = await core.lfs.create(owner, space.dirId, 'many', { type: 'DIR' });
  const names = Array.from({ length: 57 }, (_, index) => `file-${String(index).padStart(3, '0')}`).concat(['B', 'a', 'é', 'Z']);
  for (const name of names) await core.lfs.create(owner, dir.fileId, name, { type: 'REG' });

  const seen: string[] = [];
  let token: string | undefined;
  for (;;) {
    const page = await core.lfs.listChildren(owner, dir.fileId, { limit: 10, token });
    seen.push(...page.children.map((child) => child.name));
    if (page.isLast) break;
    token = page.nextPageToken ?? undefined;
  }
  const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  t.deepEqual(seen, expected);

  const fromIndex = await core.lfs.listChildren(owner, dir.fileId, { index: 'file-050', limit: 3 });
  t.deepEqual(fromIndex.children.map((child) => child.name), ['file-050', 'file-051', 'file-052']);
  const shifted = await core.lfs.listChildren(owner, dir.fileId, { index: 'file-050', offset: 2, limit: 2 });
  t.deepEqual(shifted.children.map((child) => child.name), ['file-052', 'file-053']);
  const back = await core.lfs.listChildren(owner, dir.fileId, { index: 'file-050', offset: -2, limit: 2 });
  t.deepEqual(back.children.map((child) => child.name), ['file-048', 'file-049']);
  await rejects(t, core.lfs.listChildren(owner, dir.fileId, { limit: 0 }), 'badValue');
  await rejects(t, core.lfs.listChildren(owner, dir.fileId, { token: 'not-a-token' }), 'badValue');
});

test('rename replaces a file and refuses a non-empty directory', async (t) => {
  const { core, owner, space } = await setup();
  const a = await core.lfs.create(owner, space.dirId, 'a', { type: 'REG', content: streamOf('A') });
  await core.lfs.create(owner, space.dirId, 'b', { type: 'REG', content: streamOf('B') });
  await core.lfs.rename(owner, a.fileId, space.dirId, 'b');
  const b = await core.lfs.lookupPath(owner, 'space1/b');
  t.is(b.fileId, a.fileId);
  t.is((await readAll((await core.lfs.read(owner, b.fileId)).stream)).toString(), 'A');

  const dir1 = await core.lfs.create(owner, space.dirId, 'd1', { type: 'DIR' });
  const dir2 = await core.lfs.create(owner, space.dirId, 'd2', { type: 'DIR' });
  await core.lfs.create(owner, dir2.fileId, 'child', { type: 'REG' });
  await rejects(t, core.lfs.rename(owner, dir1.fileId, space.dirId, 'd2'), 'posix', 'enotempty');
  await rejects(t, core.lfs.rename(owner, dir2.fileId, dir2.fileId, 'inside'), 'posix', 'einval');
  await rejects(t, core.lfs.rename(owner, space.dirId, dir1.fileId, 'root'), 'posix', 'eperm');
});

test('remove deletes a tree and its data', async (t) => {
  const { core, owner, space, storageRoot } = await setup({ storagePathType: 'canonical' });
  const dir = await core.lfs.create(owner, space.dirId, 'tree', { type: 'DIR' });
  const sub = await core.lfs.create(owner, dir.fileId, 'sub', { type: 'DIR' });
  const file = await core.lfs.create(owner, sub.fileId, 'leaf', { type: 'REG', content: streamOf('leaf') });

  // The name disappears at once; the directory's contents are deleted in the background.
  await core.lfs.remove(owner, dir.fileId);
  t.deepEqual((await core.lfs.listChildren(owner, space.dirId, {})).children, []);
  await t.throwsAsync(stat(path.join(storageRoot, space.spaceId, 'tree')), { code: 'ENOENT' });
  t.true(await eventually(async () => {
    try {
      await core.lfs.getAttributes(owner, file.fileId);
      return false;
    } catch (error) {
      return OpError.is(error) && error.kind === 'notFound';
    }
  }));
  t.deepEqual(await readdir(path.join(storageRoot, space.spaceId, '.trash')), []);
  await rejects(t, core.lfs.remove(owner, space.dirId), 'posix', 'eperm');
});

test('reserved names cannot be created', async (t) => {
  const { core, owner, space } = await setup();
  for (const name of ['.op-worker-tmp-x', '.trash', '.detached']) {
    await rejects(t, core.lfs.create(owner, space.dirId, name, { type: 'REG' }), 'posix', 'eperm', name);
  }
  const dir = await core.lfs.create(owner, space.dirId, 'dir', { type: 'DIR' });
  await rejects(t, core.lfs.create(owner, dir.fileId, '.op-worker-verify-1', { type: 'REG' }), 'posix', 'eperm');
  t.is((await core.lfs.create(owner, dir.fileId, '.trash', { type: 'DIR' })).name, '.trash');
});

/** Poll `check` every 20 ms until it holds, for at most 5 s. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let attempt = 0; attempt < 250; attempt++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

test('xattrs and JSON metadata', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'meta', { type: 'REG' });

  await core.lfs.setXattrs(owner, file.fileId, { color: 'blue', size: 3 });
  await core.lfs.setXattrs(owner, file.fileId, { shape: 'round' });
  t.deepEqual(await core.lfs.getXattrs(owner, file.fileId), { color: 'blue', size: 3, shape: 'round' });
  await core.lfs.removeXattrs(owner, file.fileId, ['color']);
  t.deepEqual(await core.lfs.getXattrs(owner, file.fileId), { size: 3, shape: 'round' });

  await rejects(t, core.lfs.getJsonMetadata(owner, file.fileId), 'notFound');
  await core.lfs.setJsonMetadata(owner, file.fileId, { a: [1, 2, { b: null }] });
  t.deepEqual(await core.lfs.getJsonMetadata(owner, file.fileId), { a: [1, 2, { b: null }] });
  await core.lfs.removeJsonMetadata(owner, file.fileId);
  await rejects(t, core.lfs.getJsonMetadata(owner, file.fileId), 'notFound');
});

test('only members reach a space', async (t) => {
  const { core, owner, space } = await setup();
  const stranger: Identity = { userId: 'mallory', isAdmin: false };
  const file = await core.lfs.create(owner, space.dirId, 'private', { type: 'REG', content: streamOf('secret') });

  await rejects(t, core.lfs.read(stranger, file.fileId), 'forbidden');
  t.deepEqual(await core.lfs.listSpaces(stranger), []);
  await core.spaces.addMember(space.spaceId, 'mallory');
  t.is((await core.lfs.listSpaces(stranger)).length, 1);
});

test('file ids with a bad CRC or from another space are rejected', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'id', { type: 'REG' });
  const corrupted = file.fileId.slice(0, 12) + (file.fileId[12] === '0' ? '1' : '0') + file.fileId.slice(13);
  await rejects(t, core.lfs.getAttributes(owner, corrupted), 'badIdentifier');
  await rejects(t, core.lfs.getAttributes(owner, 'zz'), 'badIdentifier');

  const other = await core.spaces.create({ name: 'other', ownerUserId: owner.userId });
  // The same file uuid wrapped with another space's id must not resolve.
  const guidText = Buffer.from(file.fileId, 'hex').subarray(8).toString('utf8').split('#');
  const foreign = encodeFileId({ fileUuid: guidText[1]!, spaceId: other.spaceId });
  await rejects(t, core.lfs.getAttributes(owner, foreign), 'notFound');
});

test('mode changes and type errors', async (t) => {
  const { core, owner, space } = await setup();
  const file = await core.lfs.create(owner, space.dirId, 'mode', { type: 'REG' });
  t.is((await core.lfs.setMode(owner, file.fileId, 0o600)).mode, 0o600);
  await rejects(t, core.lfs.setMode(owner, file.fileId, 0o10000), 'badValue');
  await rejects(t, core.lfs.read(owner, space.dirId), 'posix', 'eisdir');
  await rejects(t, core.lfs.listChildren(owner, file.fileId, {}), 'posix', 'enotdir');
});
