import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import tar from 'tar-stream';
import { API, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

/**
 * Directory downloads as TAR: the archive is deterministic for an unchanged directory, so
 * `Range: bytes=N-` resumes it with exactly the bytes a full download has from N on.
 */

const test = anyTest as TestFn<TestWorker>;

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

type T = ExecutionContext<TestWorker>;

async function mkdir(t: T, parentId: string, name: string): Promise<string> {
  const response = await send(t.context, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}&type=DIR`, { method: 'POST' });
  t.is(response.status, 201, response.text);
  return response.json.fileId as string;
}

async function upload(t: T, parentId: string, name: string, content: Buffer): Promise<void> {
  const response = await send(t.context, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: content,
  });
  t.is(response.status, 201, response.text);
}

async function readTar(archive: Buffer): Promise<Array<{ name: string; type: string; content: Buffer }>> {
  const extract = tar.extract();
  const entries: Array<{ name: string; type: string; content: Buffer }> = [];
  Readable.from([archive]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ name: entry.header.name, type: entry.header.type ?? '', content: Buffer.concat(chunks) });
  }
  return entries;
}

/** Create a directory with nested folders, an empty file, a file of several reads, a long name and a symlink. */
async function makeTree(t: T, name: string): Promise<{ dirId: string; files: Map<string, Buffer> }> {
  const dirId = await mkdir(t, t.context.space.dirId, name);
  const subId = await mkdir(t, dirId, 'sub');
  const files = new Map<string, Buffer>([
    [`${name}/a.txt`, Buffer.from('alpha')],
    [`${name}/empty`, Buffer.alloc(0)],
    [`${name}/sub/large.bin`, randomBytes(300 * 1024 + 7)],
    [`${name}/sub/${'long name '.repeat(12)}end`, Buffer.from('long')],
  ]);
  await upload(t, dirId, 'a.txt', files.get(`${name}/a.txt`)!);
  await upload(t, dirId, 'empty', Buffer.alloc(0));
  await upload(t, subId, 'large.bin', files.get(`${name}/sub/large.bin`)!);
  await upload(t, subId, `${'long name '.repeat(12)}end`, Buffer.from('long'));
  const link = await send(t.context, `${API}/data/${dirId}/children?name=link&type=SYMLNK&target_file_path=a.txt`, { method: 'POST' });
  t.is(link.status, 201, link.text);
  return { dirId, files };
}

test('directory TAR holds the tree with a length', async (t) => {
  const { dirId, files } = await makeTree(t, 'tree');

  const full = await send(t.context, `${API}/data/${dirId}/content`);
  t.is(full.status, 200);
  t.is(full.headers['content-type'], 'application/x-tar');
  t.is(full.headers['accept-ranges'], 'bytes');
  t.is(Number(full.headers['content-length']), full.body.length);
  t.is(full.body.length % 512, 0);

  const entries = await readTar(full.body);
  t.deepEqual(entries.map((entry) => [entry.name, entry.type]), [
    ['tree/', 'directory'],
    ['tree/a.txt', 'file'],
    ['tree/empty', 'file'],
    ['tree/link', 'symlink'],
    ['tree/sub/', 'directory'],
    ['tree/sub/large.bin', 'file'],
    [`tree/sub/${'long name '.repeat(12)}end`, 'file'],
  ]);
  for (const entry of entries.filter((each) => each.type === 'file')) t.deepEqual(entry.content, files.get(entry.name), entry.name);
});

test('unchanged directory gives identical archives', async (t) => {
  const { dirId } = await makeTree(t, 'same');
  const first = await send(t.context, `${API}/data/${dirId}/content`);
  const second = await send(t.context, `${API}/data/${dirId}/content`);
  t.is(first.status, 200);
  t.true(first.body.equals(second.body));
});

test('Range bytes=N- resumes the archive', async (t) => {
  const { dirId } = await makeTree(t, 'resume');
  const full = (await send(t.context, `${API}/data/${dirId}/content`)).body;
  const total = full.length;

  // Starts in a header, at block edges, inside the large file and its padding, and in the end blocks.
  const starts = [0, 1, 100, 511, 512, 513, 2048, 5000, 100_000, 300_000, total - 1100, total - 1024, total - 1];
  for (const start of starts) {
    const response = await send(t.context, `${API}/data/${dirId}/content`, { headers: { Range: `bytes=${start}-` } });
    t.is(response.status, 206, `start ${start}`);
    t.is(response.headers['content-range'], `bytes ${start}-${total - 1}/${total}`, `start ${start}`);
    t.is(Number(response.headers['content-length']), total - start, `start ${start}`);
    t.true(response.body.equals(full.subarray(start)), `start ${start}`);
  }
});

test('Range past the archive end is 416', async (t) => {
  const { dirId } = await makeTree(t, 'past');
  const total = (await send(t.context, `${API}/data/${dirId}/content`)).body.length;

  const response = await send(t.context, `${API}/data/${dirId}/content`, { headers: { Range: `bytes=${total}-` } });
  t.is(response.status, 416);
  t.is(response.headers['content-range'], `bytes */${total}`);
  t.is(response.json.error.id, 'rangeNotSatisfiable');
});

test('other Range forms send the whole archive', async (t) => {
  const { dirId } = await makeTree(t, 'other');
  const full = (await send(t.context, `${API}/data/${dirId}/content`)).body;

  for (const range of ['bytes=0-10', 'bytes=-20', 'bytes=0-1,5-', 'items=3-']) {
    const response = await send(t.context, `${API}/data/${dirId}/content`, { headers: { Range: range } });
    t.is(response.status, 200, range);
    t.true(response.body.equals(full), range);
  }
});

test('resumed download by path matches', async (t) => {
  await makeTree(t, 'bypath');
  const base = `${API}/data/${t.context.space.dirId}/path/bypath`;
  const full = (await send(t.context, base)).body;

  const response = await send(t.context, base, { headers: { Range: 'bytes=700-' } });
  t.is(response.status, 206);
  t.true(response.body.equals(full.subarray(700)));
});
