import { createReadStream } from 'node:fs';
import { appendFile, cp, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  API,
  digestOf,
  encodePath,
  runCliOk,
  send,
  sendForDigest,
  sha256,
  startWorkerProcess,
  type WorkerProcess,
} from './support/worker-process.js';

/**
 * Acceptance: a real directory tree imported into a space with the CLI. `/usr/share/doc`
 * is imported as it is and only read; the re-scan test imports a copy of part of it, which
 * it changes. Symbolic links on the storage are not imported: the logical file system has
 * no symlinks yet, and following them could reach outside the mount point.
 */

const DOC_ROOT = '/usr/share/doc';
const PAGE_LIMIT = 97;
const SAMPLE_SIZE = 100;
const CDMI_HEADERS = { 'X-CDMI-Specification-Version': '1.1.1', Accept: 'application/cdmi-object' };

type EntryType = 'REG' | 'DIR' | 'LNK' | 'OTHER';

interface Entry {
  type: EntryType;
  size: number;
  mtimeMs: number;
}

/** Collect every entry below `root` by relative path, from lstat, so links are not followed. */
async function walk(root: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();

  async function visit(relative: string): Promise<void> {
    for (const name of await readdir(path.join(root, relative)).catch(() => [] as string[])) {
      const child = relative === '' ? name : `${relative}/${name}`;
      const info = await lstat(path.join(root, child)).catch(() => undefined);
      if (info === undefined) continue;
      const type: EntryType = info.isFile() ? 'REG' : info.isDirectory() ? 'DIR' : info.isSymbolicLink() ? 'LNK' : 'OTHER';
      entries.set(child, { type, size: type === 'REG' ? info.size : 0, mtimeMs: info.mtimeMs });
      if (type === 'DIR') await visit(child);
    }
  }
  await visit('');
  return entries;
}

interface Listed {
  fileId: string;
  type: string;
  size: number;
}

/**
 * Collect every file in a space by relative path, read only through paginated REST listings of
 * PAGE_LIMIT children. Also returns how many listing pages were read.
 */
async function listSpace(t: ExecutionContext, worker: WorkerProcess, rootId: string): Promise<{ files: Map<string, Listed>; pages: number }> {
  const files = new Map<string, Listed>();
  let pages = 0;
  const directories: Array<[string, string]> = [['', rootId]];

  for (let next = directories.pop(); next !== undefined; next = directories.pop()) {
    const [relative, dirId] = next;
    let token: string | undefined;
    do {
      const query = token === undefined ? `limit=${PAGE_LIMIT}` : `limit=${PAGE_LIMIT}&token=${encodeURIComponent(token)}`;
      const page = await send(worker, `${API}/data/${dirId}/children?${query}`);
      if (page.status !== 200) throw new Error(`listing "${relative}" failed: ${page.status} ${page.text}`);
      pages++;
      t.true(page.json.children.length <= PAGE_LIMIT);

      for (const child of page.json.children as Array<{ name: string; fileId: string; type: string; size: number }>) {
        const childPath = relative === '' ? child.name : `${relative}/${child.name}`;
        if (files.has(childPath)) throw new Error(`"${childPath}" listed twice`);
        files.set(childPath, { fileId: child.fileId, type: child.type, size: child.size });
        if (child.type === 'DIR') directories.push([childPath, child.fileId]);
      }
      token = page.json.isLast ? undefined : page.json.nextPageToken;
      if (!page.json.isLast && typeof token !== 'string') throw new Error(`listing "${relative}" is not last but has no token`);
    } while (token !== undefined);
  }
  return { files, pages };
}

/** Add an imported POSIX storage on `mountPoint`, a space supported by it, and run the first scan. */
async function importTree(worker: WorkerProcess, name: string, mountPoint: string): Promise<{ spaceId: string; rootId: string; stats: any }> {
  await runCliOk(worker.dataDir, 'storage', 'add', '--name', name, '--type', 'posix', '--imported', '--config', JSON.stringify({ mountPoint }));
  const space = await runCliOk(worker.dataDir, 'space', 'create', name, '--owner', 'admin');
  await runCliOk(worker.dataDir, 'space', 'support', name, '--storage', name);
  const stats = await runCliOk(worker.dataDir, 'import', 'start', name);
  const rootId: string = (await send(worker, `${API}/lookup-file-id/${name}`, { method: 'POST' })).json.fileId;
  return { spaceId: space.spaceId, rootId, stats };
}

/** Pick `count` items spread over `items` by a fixed stride, so a failure can be replayed. */
function pickSpread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  const stride = items.length / count;
  return Array.from({ length: count }, (_, index) => items[Math.floor(index * stride)] as T);
}

async function startInTempDir(t: ExecutionContext, prefix: string): Promise<{ root: string; worker: WorkerProcess }> {
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const worker = await startWorkerProcess(path.join(root, 'data'));
  t.teardown(() => worker.kill());
  return { root, worker };
}

test('usr/share/doc lists and downloads whole', async (t) => {
  const { worker } = await startInTempDir(t, 'op-accept-doc-');

  // Packages may be installed while the test runs, so only entries equal in a walk before
  // the import and one after the listing are compared. Any other listed name must be in one of the walks.
  const before = await walk(DOC_ROOT);
  const imported = await importTree(worker, 'doc', DOC_ROOT);
  const { files: listed, pages } = await listSpace(t, worker, imported.rootId);
  const after = await walk(DOC_ROOT);

  t.is(imported.stats.status, 'completed');
  t.is(imported.stats.failedFiles, 0);
  const stable = [...before].filter(([relative, entry]) => {
    const later = after.get(relative);
    return later !== undefined && later.type === entry.type && later.size === entry.size && later.mtimeMs === entry.mtimeMs;
  });
  t.true(stable.length >= before.size * 0.95, `${stable.length} of ${before.size} entries stayed unchanged during the test`);
  t.true(stable.filter(([, entry]) => entry.type === 'REG').length > 1000, 'the tree has thousands of files');
  t.true(pages > 800, `listing took ${pages} pages`);

  const importedCount = stable.filter(([, entry]) => entry.type === 'REG' || entry.type === 'DIR').length;
  t.log(`${importedCount} files and directories compared, ${pages} listing pages, ${before.size - stable.length} entries changed during the test`);

  for (const [relative, entry] of stable) {
    const shown = listed.get(relative);
    if (entry.type === 'REG' || entry.type === 'DIR') {
      t.is(shown?.type, entry.type, `type of ${relative}`);
      t.is(shown?.size, entry.size, `size of ${relative}`);
    } else {
      t.is(shown, undefined, `${relative} is a ${entry.type === 'LNK' ? 'symbolic link' : 'special file'} and is not imported`);
    }
  }
  for (const relative of listed.keys()) {
    t.true(before.has(relative) || after.has(relative), `listed "${relative}" exists on the storage`);
  }

  // Symbolic links: not listed (checked above), not found by path, not counted as failures.
  const links = stable.filter(([, entry]) => entry.type === 'LNK').map(([relative]) => relative);
  t.true(links.length > 0, 'the tree has symbolic links');
  for (const link of links.slice(0, 5)) {
    const lookup = await send(worker, `${API}/lookup-file-id/doc/${encodePath(link)}`, { method: 'POST' });
    t.is(lookup.status, 404, `lookup of symbolic link ${link}`);
  }

  // 100 files spread over the tree download over REST and CDMI with the original digest.
  const regular = stable.filter(([, entry]) => entry.type === 'REG').map(([relative]) => relative).sort();
  for (const relative of pickSpread(regular, SAMPLE_SIZE)) {
    const original = await digestOf(createReadStream(path.join(DOC_ROOT, relative)));
    const fileId = listed.get(relative)?.fileId;

    const rest = await sendForDigest(worker, `${API}/data/${fileId}/content`);
    t.is(rest.status, 200, `REST ${relative}`);
    t.is(rest.sha256, original.sha256, `REST ${relative}`);

    const byPath = await sendForDigest(worker, `${API}/data/${imported.spaceId}/path/${encodePath(relative)}`);
    t.is(byPath.sha256, original.sha256, `REST by path ${relative}`);

    const raw = await sendForDigest(worker, `/cdmi/doc/${encodePath(relative)}`);
    t.is(raw.status, 200, `CDMI raw ${relative}`);
    t.is(raw.sha256, original.sha256, `CDMI raw ${relative}`);

    const object = await send(worker, `/cdmi/doc/${encodePath(relative)}`, { headers: CDMI_HEADERS });
    t.is(object.status, 200, `CDMI JSON ${relative}`);
    const encoding: BufferEncoding = object.json.valuetransferencoding === 'base64' ? 'base64' : 'utf8';
    t.is(sha256(Buffer.from(object.json.value, encoding)), original.sha256, `CDMI JSON ${relative} (${encoding})`);
    t.is(object.json.objectID, fileId, `CDMI object id ${relative}`);
  }
});

/** Copy the first top-level folders of /usr/share/doc, about `files` files, links included, to `target`. */
async function copyPartOfDocs(target: string, files: number): Promise<void> {
  await mkdir(target);
  let copied = 0;
  for (const name of (await readdir(DOC_ROOT)).sort()) {
    if (copied >= files) break;
    await cp(path.join(DOC_ROOT, name), path.join(target, name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    const info = await lstat(path.join(target, name));
    if (info.isFile()) copied++;
    else if (info.isDirectory()) copied += [...(await walk(path.join(target, name))).values()].filter((entry) => entry.type === 'REG').length;
  }
}

test('re-scan picks up changes', async (t) => {
  const { root, worker } = await startInTempDir(t, 'op-accept-rescan-');
  const mountPoint = path.join(root, 'mount');
  await copyPartOfDocs(mountPoint, 1000);

  const imported = await importTree(worker, 'copy', mountPoint);
  t.is(imported.stats.failedFiles, 0);
  const first = await listSpace(t, worker, imported.rootId);
  const tree = await walk(mountPoint);
  const regular = [...tree].filter(([, entry]) => entry.type === 'REG').map(([relative]) => relative).sort();
  t.is([...first.files.values()].filter((file) => file.type === 'REG').length, regular.length);
  t.true(regular.length >= 1000, `${regular.length} files copied`);

  // Change the tree: add a file and a folder, remove a file, grow a file. Removing a folder
  // is covered by a separate test below.
  const [removed, grown] = [regular[0] as string, regular[1] as string];

  await writeFile(path.join(mountPoint, 'added after import.txt'), 'new file\n');
  await mkdir(path.join(mountPoint, 'added folder', 'nested'), { recursive: true });
  await writeFile(path.join(mountPoint, 'added folder', 'nested', 'deep.txt'), 'deep new file\n');
  await rm(path.join(mountPoint, removed));
  await appendFile(path.join(mountPoint, grown), 'appended after import\n');

  // A file created over REST lives on the imported storage too and must survive a re-scan.
  const viaRest = await send(worker, `${API}/data/${imported.rootId}/children?name=created-over-rest.txt`, { method: 'POST', body: 'rest' });
  t.is(viaRest.status, 201, viaRest.text);

  const rescan = await runCliOk(worker.dataDir, 'import', 'start', 'copy');
  t.is(rescan.status, 'completed');
  t.is(rescan.totalScans, 2);
  t.is(rescan.failedFiles, 0);
  t.is(rescan.createdFiles, 4, 'a file, two folders and the file in them');
  t.is(rescan.deletedFiles, 1);
  t.is(rescan.modifiedFiles, 1);
  t.deepEqual(await runCliOk(worker.dataDir, 'import', 'stats', 'copy'), rescan);

  const second = await listSpace(t, worker, imported.rootId);
  const expected = await walk(mountPoint);
  const importable = [...expected].filter(([, entry]) => entry.type === 'REG' || entry.type === 'DIR');
  t.deepEqual([...second.files.keys()].sort(), importable.map(([relative]) => relative).sort());
  for (const [relative, entry] of importable) t.is(second.files.get(relative)?.size, entry.size, `size of ${relative}`);

  const read = (relative: string): Promise<{ status: number; text: string }> =>
    send(worker, `${API}/data/${imported.spaceId}/path/${encodePath(relative)}`);
  t.is((await read('added after import.txt')).text, 'new file\n');
  t.is((await read('added folder/nested/deep.txt')).text, 'deep new file\n');
  t.true((await read(grown)).text.endsWith('appended after import\n'));
  t.is((await read(removed)).status, 404);
  t.is((await read('created-over-rest.txt')).text, 'rest');
  t.is((await send(worker, `${API}/data/${first.files.get(removed)?.fileId}`)).status, 404, 'the removed file id is gone');

  // A third scan of an unchanged tree changes nothing.
  const third = await runCliOk(worker.dataDir, 'import', 'start', 'copy');
  t.is(third.createdFiles, 0);
  t.is(third.deletedFiles, 0);
  t.is(third.modifiedFiles, 0);
  t.is(third.failedFiles, 0);
});

/** Import a mount point with one file `entry.txt`, returning the worker and space. */
async function importSmallTree(t: ExecutionContext, prefix: string): Promise<{ worker: WorkerProcess; mountPoint: string; spaceId: string; rootId: string }> {
  const { root, worker } = await startInTempDir(t, prefix);
  const mountPoint = path.join(root, 'mount');
  await mkdir(mountPoint);
  await writeFile(path.join(mountPoint, 'entry.txt'), 'a file\n');
  const imported = await importTree(worker, 'small', mountPoint);
  return { worker, mountPoint, spaceId: imported.spaceId, rootId: imported.rootId };
}

test('re-scan turns a file into a folder', async (t) => {
  const { worker, mountPoint, spaceId } = await importSmallTree(t, 'op-accept-retype-');
  await rm(path.join(mountPoint, 'entry.txt'));
  await mkdir(path.join(mountPoint, 'entry.txt'));
  await writeFile(path.join(mountPoint, 'entry.txt', 'inside.txt'), 'inside\n');

  const rescan = await runCliOk(worker.dataDir, 'import', 'start', 'small');
  t.is(rescan.failedFiles, 0);
  t.is((await send(worker, `${API}/data/${spaceId}/path/entry.txt/inside.txt`)).text, 'inside\n');
});

// Names with the worker's reserved prefix cannot be created, and a re-scan neither
// registers nor deletes such objects found on the storage.
test('re-scan leaves reserved names alone', async (t) => {
  const { worker, mountPoint, rootId } = await importSmallTree(t, 'op-accept-hidden-');
  const created = await send(worker, `${API}/data/${rootId}/children?name=.op-worker-tmp-mine`, { method: 'POST', body: 'precious' });
  t.is(created.status, 403, created.text);
  t.is(created.json.error.details.errno, 'eperm');

  await writeFile(path.join(mountPoint, '.op-worker-tmp-left'), 'left by a crashed upload');
  const rescan = await runCliOk(worker.dataDir, 'import', 'start', 'small');
  t.is(rescan.createdFiles, 0);
  t.is(rescan.deletedFiles, 0);
  t.deepEqual(await readdir(mountPoint).then((names) => names.sort()), ['.op-worker-tmp-left', 'entry.txt']);
});

test('re-scan writes nothing to the storage', async (t) => {
  const { worker, mountPoint } = await importSmallTree(t, 'op-accept-trash-');
  await mkdir(path.join(mountPoint, 'folder'));
  await runCliOk(worker.dataDir, 'import', 'start', 'small');
  await rm(path.join(mountPoint, 'folder'), { recursive: true });

  await runCliOk(worker.dataDir, 'import', 'start', 'small');
  t.deepEqual(await readdir(mountPoint), ['entry.txt']);
});

test('re-scan drops a vanished folder', async (t) => {
  const { worker, mountPoint, spaceId } = await importSmallTree(t, 'op-accept-vanished-');
  await mkdir(path.join(mountPoint, 'folder'));
  await writeFile(path.join(mountPoint, 'folder', 'inner.txt'), 'inner\n');
  await runCliOk(worker.dataDir, 'import', 'start', 'small');
  t.is((await send(worker, `${API}/data/${spaceId}/path/folder/inner.txt`)).text, 'inner\n');
  await rm(path.join(mountPoint, 'folder'), { recursive: true });

  const rescan = await runCliOk(worker.dataDir, 'import', 'start', 'small');
  t.is(rescan.deletedFiles, 1);
  t.is((await send(worker, `${API}/data/${spaceId}/path/folder`)).status, 404);
  t.is((await send(worker, `${API}/data/${spaceId}/path/folder/inner.txt`)).status, 404);
});
