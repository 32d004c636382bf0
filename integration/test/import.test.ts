import test from 'ava';
import { mkdir, rm, writeFile, readFile, readdir, appendFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { createCoreFixture, readAll, sha256, type CoreFixture } from '../src/fixture.js';

const fixtures: CoreFixture[] = [];
test.after.always(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.dispose()));
});

/** A fixture with a second, imported POSIX storage over `dataDir`, supporting a new space. */
async function importFixture(populate: (dataDir: string) => Promise<void>) {
  const fixture = await createCoreFixture();
  fixtures.push(fixture);
  const dataDir = path.join(fixture.dir, 'existing');
  await mkdir(dataDir);
  await populate(dataDir);

  const { core, owner } = fixture;
  const storage = await core.storages.add({ name: 'imported', type: 'posix', config: { mountPoint: dataDir }, importedStorage: true });
  const created = await core.spaces.create({ name: 'imported', ownerUserId: owner.userId });
  const space = await core.spaces.support({ spaceId: created.spaceId, storageId: storage.storageId });
  return { ...fixture, dataDir, space };
}

async function listAll(fixture: CoreFixture, dirId: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  for (;;) {
    const page = await fixture.core.lfs.listChildren(fixture.owner, dirId, { limit: 2, token });
    names.push(...page.children.map((child) => child.name));
    if (page.isLast) return names;
    token = page.nextPageToken ?? undefined;
  }
}

test('scan registers an existing tree without copying it', async (t) => {
  const fixture = await importFixture(async (dir) => {
    await mkdir(path.join(dir, 'docs', 'deep'), { recursive: true });
    await writeFile(path.join(dir, 'readme.txt'), 'read me');
    await writeFile(path.join(dir, 'docs', 'a b#c%.md'), 'odd name');
    await writeFile(path.join(dir, 'docs', 'deep', 'data.bin'), Buffer.alloc(4096, 7));
    await writeFile(path.join(dir, 'empty'), '');
  });
  const { core, owner, space } = fixture;

  const stats = await core.importer.scan(space.spaceId);
  t.is(stats.status, 'completed');
  t.is(stats.createdFiles, 6);
  t.is(stats.failedFiles, 0);
  t.is(stats.totalScans, 1);

  t.deepEqual(await listAll(fixture, space.dirId), ['docs', 'empty', 'readme.txt']);
  const data = await core.lfs.lookupPath(owner, '/imported/docs/deep/data.bin');
  t.is(data.size, 4096);
  const content = await readAll((await core.lfs.read(owner, data.fileId)).stream);
  t.is(sha256(content), sha256(await readFile(path.join(fixture.dataDir, 'docs', 'deep', 'data.bin'))));
  const odd = await core.lfs.lookupPath(owner, '/imported/docs/a b#c%.md');
  t.is((await readAll((await core.lfs.read(owner, odd.fileId)).stream)).toString(), 'odd name');
});

test('re-scan picks up new, modified and deleted files', async (t) => {
  const fixture = await importFixture(async (dir) => {
    await writeFile(path.join(dir, 'keep'), 'keep');
    await writeFile(path.join(dir, 'change'), 'v1');
    await writeFile(path.join(dir, 'remove'), 'gone soon');
    await mkdir(path.join(dir, 'dir'));
    await writeFile(path.join(dir, 'dir', 'inner'), 'inner');
  });
  const { core, owner, space, dataDir } = fixture;
  await core.importer.scan(space.spaceId);

  await writeFile(path.join(dataDir, 'added'), 'new file');
  await appendFile(path.join(dataDir, 'change'), ' and v2');
  const later = new Date(Date.now() + 5000);
  await utimes(path.join(dataDir, 'change'), later, later);
  await rm(path.join(dataDir, 'remove'));
  await rm(path.join(dataDir, 'dir'), { recursive: true });

  const stats = await core.importer.scan(space.spaceId);
  t.is(stats.createdFiles, 1);
  t.is(stats.modifiedFiles, 1);
  t.is(stats.deletedFiles, 2);
  t.is(stats.unmodifiedFiles, 1);
  t.is(stats.totalScans, 2);

  t.deepEqual(await listAll(fixture, space.dirId), ['added', 'change', 'keep']);
  const changed = await core.lfs.lookupPath(owner, '/imported/change');
  t.is(changed.size, 9);
  t.is((await readAll((await core.lfs.read(owner, changed.fileId)).stream)).toString(), 'v1 and v2');
  t.deepEqual(await core.importer.stats(space.spaceId), stats);
});

test('re-scan keeps data and handles a file replaced by a directory', async (t) => {
  const fixture = await importFixture(async (dir) => {
    await writeFile(path.join(dir, 'swap'), 'a file first');
    await mkdir(path.join(dir, 'gone'));
    await writeFile(path.join(dir, 'gone', 'inner'), 'inner');
  });
  const { core, owner, space, dataDir } = fixture;
  await core.importer.scan(space.spaceId);

  await rm(path.join(dataDir, 'swap'));
  await mkdir(path.join(dataDir, 'swap'));
  await writeFile(path.join(dataDir, 'swap', 'child'), 'child');
  await rm(path.join(dataDir, 'gone'), { recursive: true });

  const stats = await core.importer.scan(space.spaceId);
  t.is(stats.failedFiles, 0);
  t.deepEqual(await listAll(fixture, space.dirId), ['swap']);
  const child = await core.lfs.lookupPath(owner, '/imported/swap/child');
  t.is((await readAll((await core.lfs.read(owner, child.fileId)).stream)).toString(), 'child');
  // A scan only reads the imported tree: no trash or other folder of the worker appears in it.
  t.deepEqual(await readdir(dataDir), ['swap']);
});

test('scan of a space without an imported storage is rejected', async (t) => {
  const fixture = await createCoreFixture();
  fixtures.push(fixture);
  await t.throwsAsync(fixture.core.importer.scan(fixture.space.spaceId), { message: /not supported by an imported storage/ });
});
