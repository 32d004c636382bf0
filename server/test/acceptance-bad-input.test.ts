import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import {
  API,
  assertErrorResponse,
  isHealthy,
  runCliOk,
  send,
  sendRaw,
  startWorkerProcess,
  type HttpOptions,
  type HttpResponse,
  type WorkerProcess,
} from './support/worker-process.js';

/**
 * Acceptance: bad input against the real binary. Every case gets a 4xx with an Onedata
 * error body, the worker stays healthy, and nothing outside the storage root changes.
 * The tests share one worker and run serially, because the last one compares the data
 * folder with its state before all of them.
 */

interface Context {
  root: string;
  worker: WorkerProcess;
  spaceId: string;
  spaceDir: string;
  /** Regular file `a.txt` in the space root holding `hello world`. */
  fileId: string;
  /** Directory `dir` in the space root. */
  dirId: string;
  /** Digests of every file outside the storage root before the tests ran. */
  outsideBefore: Map<string, string>;
}

const test = anyTest as TestFn<Context>;
const CONTENT = 'hello world';

test.before(async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-accept-bad-'));
  await mkdir(path.join(root, 'outside'));
  await writeFile(path.join(root, 'outside', 'canary.txt'), 'canary');
  const worker = await startWorkerProcess(path.join(root, 'data'));

  const spaces = await send(worker, `${API}/spaces`);
  const spaceId: string = spaces.json[0].spaceId;
  const spaceDir: string = (await send(worker, `${API}/lookup-file-id/default`, { method: 'POST' })).json.fileId;
  const file = await send(worker, `${API}/data/${spaceDir}/children?name=a.txt`, { method: 'POST', body: CONTENT });
  const dir = await send(worker, `${API}/data/${spaceDir}/children?name=dir&type=DIR`, { method: 'POST' });
  if (file.status !== 201 || dir.status !== 201) throw new Error(`set-up failed: ${file.text} ${dir.text}`);

  t.context = {
    root,
    worker,
    spaceId,
    spaceDir,
    fileId: file.json.fileId,
    dirId: dir.json.fileId,
    outsideBefore: await digestsOutsideStorage(root),
  };
});

test.after.always(async (t) => {
  await t.context.worker?.kill();
  if (t.context.root) await rm(t.context.root, { recursive: true, force: true });
});

/**
 * sha256 of every file under `root` except the storage root and the SQLite files, which
 * the worker writes as it should. The admin token and the canary outside the data folder are included.
 */
async function digestsOutsideStorage(root: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  const skipped = new Set(['data/storage', 'data/metadata.db', 'data/metadata.db-wal', 'data/metadata.db-shm']);

  async function walk(relative: string): Promise<void> {
    for (const entry of await readdir(path.join(root, relative), { withFileTypes: true })) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (skipped.has(child)) continue;
      if (entry.isDirectory()) await walk(child);
      else digests.set(child, createHash('sha256').update(await readFile(path.join(root, child))).digest('hex'));
    }
  }
  await walk('');
  return digests;
}

/** Send a request that must be rejected, check the error response, then the worker's health. */
async function expectRejected(
  t: ExecutionContext<Context>,
  label: string,
  requestPath: string,
  options: HttpOptions,
  status: number,
  id?: string,
): Promise<HttpResponse> {
  const response = await send(t.context.worker, requestPath, options);
  assertErrorResponse(t, response, status, id, label);
  t.true(await isHealthy(t.context.worker), `${label}: worker healthy afterwards`);
  return response;
}

/** Content of `a.txt` over REST, to show that rejected writes changed nothing. */
async function contentOfA(t: ExecutionContext<Context>): Promise<string> {
  return (await send(t.context.worker, `${API}/data/${t.context.fileId}/content`)).text;
}

function withBadCrc(fileId: string): string {
  const digit = fileId[12] === '0' ? '1' : '0';
  return fileId.slice(0, 12) + digit + fileId.slice(13);
}

test.serial('file id with a bad CRC is 400', async (t) => {
  const bad = withBadCrc(t.context.fileId);
  await expectRejected(t, 'attributes', `${API}/data/${bad}`, {}, 400, 'badValueIdentifier');
  await expectRejected(t, 'download', `${API}/data/${bad}/content`, {}, 400, 'badValueIdentifier');
  await expectRejected(t, 'upload', `${API}/data/${bad}/content`, { method: 'PUT', body: 'x' }, 400, 'badValueIdentifier');
  await expectRejected(t, 'delete', `${API}/data/${bad}`, { method: 'DELETE' }, 400, 'badValueIdentifier');
  await expectRejected(t, 'not hex', `${API}/data/not-an-id/content`, {}, 400, 'badValueIdentifier');
  await expectRejected(t, 'cdmi object id', `/cdmi/cdmi_objectid/${bad}`, { headers: { 'X-CDMI-Specification-Version': '1.1.1' } }, 400, 'badValueIdentifier');
  t.is(await contentOfA(t), CONTENT);
});

test.serial('dot-dot paths are 400', async (t) => {
  const { spaceDir } = t.context;
  const escape = '../../../outside/canary.txt';
  const cases: Array<[string, string, HttpOptions]> = [
    ['REST download', `${API}/data/${spaceDir}/path/${escape}`, {}],
    ['REST upload', `${API}/data/${spaceDir}/path/${escape}`, { method: 'PUT', body: 'overwritten' }],
    ['REST upload into data folder', `${API}/data/${spaceDir}/path/../../admin-token`, { method: 'PUT', body: 'overwritten' }],
    ['REST delete', `${API}/data/${spaceDir}/path/dir/../../a.txt`, { method: 'DELETE' }],
    ['REST lookup', `${API}/lookup-file-id/default/../../outside`, { method: 'POST' }],
    ['REST create name', `${API}/data/${spaceDir}/children?name=..`, { method: 'POST', body: 'x' }],
    ['CDMI download', `/cdmi/default/${escape}`, {}],
    ['CDMI upload', `/cdmi/default/dir/${escape}`, { method: 'PUT', body: 'overwritten' }],
    ['CDMI container', `/cdmi/default/../../outside/`, { method: 'PUT', headers: { 'X-CDMI-Specification-Version': '1.1.1' } }],
  ];
  for (const [label, requestPath, options] of cases) await expectRejected(t, label, requestPath, options, 400);
  t.is(await contentOfA(t), CONTENT);
});

test.serial('percent-encoded traversal is 400', async (t) => {
  const { spaceDir } = t.context;
  const cases: Array<[string, string, HttpOptions]> = [
    ['encoded slash', `${API}/data/${spaceDir}/path/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside%2fcanary.txt`, {}],
    ['encoded slash upload', `${API}/data/${spaceDir}/path/%2e%2e%2f%2e%2e%2fadmin-token`, { method: 'PUT', body: 'overwritten' }],
    ['upper case', `${API}/data/${spaceDir}/path/%2E%2E%2F%2E%2E%2Fadmin-token`, { method: 'PUT', body: 'overwritten' }],
    ['encoded dots', `${API}/data/${spaceDir}/path/%2e%2e/%2e%2e/admin-token`, { method: 'PUT', body: 'overwritten' }],
    ['encoded lookup', `${API}/lookup-file-id/default/%2e%2e/%2e%2e`, { method: 'POST' }],
    ['encoded backslash-free name', `${API}/data/${spaceDir}/children?name=%2e%2e`, { method: 'POST', body: 'x' }],
    ['encoded slash in name', `${API}/data/${spaceDir}/children?name=%2e%2e%2fadmin-token`, { method: 'POST', body: 'x' }],
    ['overlong UTF-8 dots', `${API}/data/${spaceDir}/path/%c0%ae%c0%ae/admin-token`, { method: 'PUT', body: 'x' }],
    ['NUL byte', `${API}/data/${spaceDir}/path/a.txt%00.png`, {}],
    ['CDMI encoded slash', `/cdmi/default/%2e%2e%2f%2e%2e%2fadmin-token`, { method: 'PUT', body: 'overwritten' }],
    ['CDMI encoded dots', `/cdmi/default/%2e%2e/%2e%2e/admin-token`, { method: 'PUT', body: 'overwritten' }],
  ];
  for (const [label, requestPath, options] of cases) await expectRejected(t, label, requestPath, options, 400);
});

test.serial('double-encoded dots are 400', async (t) => {
  const { worker, spaceDir, spaceId } = t.context;
  // The core rejects names holding an escape of a dot, slash or NUL (`%2e`), so that a
  // second decoding further on can never turn a name into a traversal.
  await expectRejected(t, 'double-encoded', `${API}/data/${spaceDir}/path/%252e%252e%252fadmin-token`, { method: 'PUT', body: 'x' }, 400, 'badValue');
  t.false((await readdir(path.join(worker.dataDir, 'storage', spaceId))).some((name) => name.includes('admin-token')));
});

test.serial('unsatisfiable Range is 416', async (t) => {
  const { fileId, spaceDir } = t.context;
  const size = Buffer.byteLength(CONTENT);
  for (const range of ['bytes=100-200', `bytes=${size}-`, 'bytes=5-2', 'bytes=abc']) {
    const response = await expectRejected(t, range, `${API}/data/${fileId}/content`, { headers: { Range: range } }, 416, 'rangeNotSatisfiable');
    t.is(response.headers['content-range'], `bytes */${size}`, range);
  }
  const byPath = await expectRejected(t, 'by path', `${API}/data/${spaceDir}/path/a.txt`, { headers: { Range: 'bytes=99-' } }, 416);
  t.is(byPath.headers['content-range'], `bytes */${size}`);
  await expectRejected(t, 'CDMI', '/cdmi/default/a.txt', { headers: { Range: 'bytes=99-' } }, 416);
});

test.serial('missing and bad tokens are 401', async (t) => {
  await expectRejected(t, 'missing', `${API}/spaces`, { token: null }, 401, 'unauthorized');
  await expectRejected(t, 'missing on CDMI', '/cdmi/default/a.txt', { token: null }, 401, 'unauthorized');
  await expectRejected(t, 'garbage', `${API}/spaces`, { token: 'opw1.garbage.garbage' }, 401, 'unauthorized');
  await expectRejected(t, 'tampered', `${API}/spaces`, { token: `${t.context.worker.token.slice(0, -2)}xx` }, 401, 'unauthorized');
  await expectRejected(t, 'empty bearer', `${API}/spaces`, { token: null, headers: { Authorization: 'Bearer ' } }, 401, 'unauthorized');
});

test.serial('expired token is 401', async (t) => {
  const { worker } = t.context;
  const issued = await runCliOk(worker.dataDir, 'token', 'create', 'admin', '--ttl', '1');
  const fresh = await send(worker, `${API}/spaces`, { token: issued.token });
  t.is(fresh.status, 200, 'the token works before it expires');

  // Token times have one-second resolution, so wait until the second after expiry has passed.
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const response = await expectRejected(t, 'expired', `${API}/spaces`, { token: issued.token }, 401, 'unauthorized');
  t.regex(response.json.error.description, /expired/);
  await expectRejected(t, 'expired bearer', `${API}/spaces`, { token: null, headers: { Authorization: `Bearer ${issued.token}` } }, 401);
});

test.serial('body longer than Content-Length is 400', async (t) => {
  const { worker, fileId } = t.context;
  const request =
    `PUT ${API}/data/${fileId}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${worker.token}\r\n` +
    'Content-Length: 5\r\n\r\nabcdefghij';
  const reply = await sendRaw(worker.port, request, { halfClose: false, waitMs: 2000 });

  // Node's parser takes the 5 declared bytes as the body and the rest as a malformed next request.
  const [head = '', body = ''] = reply.split('\r\n\r\n');
  t.regex(head, /^HTTP\/1\.1 400 /, reply);
  t.false(head.includes('HTTP/1.1 2'), 'no success status for the cut body');
  t.regex(head, /content-type: application\/json/i);
  const parsed = JSON.parse(body);
  t.is(parsed.error.id, 'badData');
  t.regex(parsed.error.description, /Content-Length/);

  const content = await contentOfA(t);
  const attributes = await send(worker, `${API}/data/${fileId}`);
  t.true([CONTENT, 'abcde'].includes(content), `content after the rejected upload: ${content}`);
  t.is(attributes.json.size, Buffer.byteLength(content));
  t.true(await isHealthy(worker));
});

test.serial('body shorter than Content-Length changes nothing', async (t) => {
  const { worker, fileId } = t.context;
  const request =
    `PUT ${API}/data/${fileId}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${worker.token}\r\n` +
    'Content-Length: 100\r\n\r\n' + 'x'.repeat(40);
  await sendRaw(worker.port, request, { halfClose: true, waitMs: 1000 });

  const attributes = await send(worker, `${API}/data/${fileId}`);
  t.true([CONTENT, 'abcde'].includes(await contentOfA(t)));
  t.is(attributes.json.size, Buffer.byteLength(await contentOfA(t)));
  t.true(await isHealthy(worker));
});

test.serial('out-of-range options are 400', async (t) => {
  const { spaceDir, fileId } = t.context;
  await expectRejected(t, 'huge limit', `${API}/data/${spaceDir}/children?limit=100000000000000000000`, {}, 400, 'badValue');
  await expectRejected(t, 'zero limit', `${API}/data/${spaceDir}/children?limit=0`, {}, 400, 'badValue');
  await expectRejected(t, 'huge limit in body', `${API}/data/${spaceDir}/children`, { body: '{"limit":1001}' }, 400, 'badValue');
  await expectRejected(t, 'bad page token', `${API}/data/${spaceDir}/children?token=%%%`, {}, 400);
  await expectRejected(t, 'forged page token', `${API}/data/${spaceDir}/children?token=bm90LWEtdG9rZW4`, {}, 400);
  await expectRejected(t, 'negative offset', `${API}/data/${fileId}/content?offset=-1`, { method: 'PUT', body: 'x' }, 400, 'badValue');
  await expectRejected(t, 'offset past 2^53', `${API}/data/${fileId}/content?offset=99999999999999999999`, { method: 'PUT', body: 'x' }, 400);
  await expectRejected(t, 'unknown option', `${API}/data/${fileId}/content?ofset=3`, { method: 'PUT', body: 'x' }, 400, 'badValue');
  t.is(await contentOfA(t), CONTENT);
});

test.serial('names that are not UTF-8 are 400', async (t) => {
  const { spaceDir, worker } = t.context;
  await expectRejected(t, 'path', `${API}/data/${spaceDir}/path/%ff%fe.txt`, { method: 'PUT', body: 'x' }, 400);
  await expectRejected(t, 'query name', `${API}/data/${spaceDir}/children?name=%ff%fe.txt`, { method: 'POST', body: 'x' }, 400);
  await expectRejected(t, 'cut escape', `${API}/data/${spaceDir}/children?name=abc%e2%82`, { method: 'POST', body: 'x' }, 400);
  await expectRejected(t, 'CDMI', '/cdmi/default/%ff%fe.txt', { method: 'PUT', body: 'x' }, 400);

  const listing = await send(worker, `${API}/data/${spaceDir}/children`);
  const names: string[] = listing.json.children.map((child: { name: string }) => child.name);
  t.false(names.some((name) => name.includes('\uFFFD')), `names: ${names.join(', ')}`);
});

test.serial('long names and deep paths', async (t) => {
  const { spaceDir, worker } = t.context;
  const longest = 'n'.repeat(255);
  const created = await send(worker, `${API}/data/${spaceDir}/path/${longest}`, { method: 'PUT', body: 'x' });
  t.is(created.status, 201, created.text);
  await expectRejected(t, '256 bytes', `${API}/data/${spaceDir}/path/${longest}n`, { method: 'PUT', body: 'x' }, 400, 'badValue');
  await expectRejected(t, '128 two-byte characters', `${API}/data/${spaceDir}/path/${'%C3%A9'.repeat(128)}`, { method: 'PUT', body: 'x' }, 400, 'badValue');

  const deep = Array.from({ length: 200 }, () => 'd').join('/');
  const deepFile = await send(worker, `${API}/data/${spaceDir}/path/${deep}/f.txt?create_parents=true`, { method: 'PUT', body: 'deep' });
  t.is(deepFile.status, 201, deepFile.text);
  t.is((await send(worker, `${API}/data/${spaceDir}/path/${deep}/f.txt`)).text, 'deep');

  const tooLong = Array.from({ length: 40 }, () => 'l'.repeat(200)).join('/');
  await expectRejected(t, 'path over 4096 bytes', `${API}/data/${spaceDir}/path/${tooLong}?create_parents=true`, { method: 'PUT', body: 'x' }, 400, 'badValue');
});

test.serial('concurrent creates of one name', async (t) => {
  const { spaceDir, spaceId, worker } = t.context;
  const attempts = await Promise.all(
    Array.from({ length: 16 }, (_, index) =>
      send(worker, `${API}/data/${spaceDir}/path/race/same.txt?create_parents=true`, { method: 'PUT', body: `writer ${index}` }),
    ),
  );
  const winners = attempts.filter((response) => response.status === 201);
  t.is(winners.length, 1, attempts.map((response) => `${response.status} ${response.text}`).join('\n'));
  for (const loser of attempts.filter((response) => response.status !== 201)) {
    assertErrorResponse(t, loser, 400, 'posix', 'losing create');
    t.is(loser.json.error.details.errno, 'eexist');
  }

  const winnerIndex = attempts.findIndex((response) => response.status === 201);
  const race = await send(worker, `${API}/lookup-file-id/default/race`, { method: 'POST' });
  const listing = await send(worker, `${API}/data/${race.json.fileId}/children`);
  t.deepEqual(listing.json.children.map((child: { name: string }) => child.name), ['same.txt']);
  t.is((await send(worker, `${API}/data/${winners[0]?.json.fileId}/content`)).text, `writer ${winnerIndex}`);
  t.deepEqual(await readdir(path.join(worker.dataDir, 'storage', spaceId, 'race')), ['same.txt']);
});

test.serial('directories reject uploads', async (t) => {
  const { dirId, spaceDir, worker } = t.context;
  const upload = await expectRejected(t, 'PUT content', `${API}/data/${dirId}/content`, { method: 'PUT', body: 'x' }, 400, 'posix');
  t.is(upload.json.error.details.errno, 'eisdir');
  await expectRejected(t, 'PUT content at offset', `${API}/data/${dirId}/content?offset=3`, { method: 'PUT', body: 'x' }, 400, 'posix');
  await expectRejected(t, 'PUT path over a directory', `${API}/data/${spaceDir}/path/dir`, { method: 'PUT', body: 'x' }, 400, 'posix');

  // A directory downloads as a TAR archive. A Range on it is ignored rather than measured
  // against a size of 0 bytes, which gave 416 before.
  for (const headers of [{}, { Range: 'bytes=0-10' }] as Array<Record<string, string>>) {
    const download = await send(worker, `${API}/data/${dirId}/content`, { headers });
    t.is(download.status, 200, JSON.stringify(headers));
    t.is(download.headers['content-type'], 'application/x-tar', JSON.stringify(headers));
  }
  t.is((await send(worker, `${API}/data/${dirId}`)).json.type, 'DIR');
});

test.serial('space root cannot be deleted', async (t) => {
  const { spaceDir, spaceId, worker } = t.context;
  const rest = await expectRejected(t, 'REST', `${API}/data/${spaceDir}`, { method: 'DELETE' }, 403, 'posix');
  t.is(rest.json.error.details.errno, 'eperm');
  await expectRejected(t, 'CDMI container', '/cdmi/default/', { method: 'DELETE', headers: { 'X-CDMI-Specification-Version': '1.1.1' } }, 403);
  await expectRejected(t, 'path without a name', `${API}/data/${spaceId}/path/`, { method: 'DELETE' }, 400);

  t.is(await contentOfA(t), CONTENT);
  t.is((await send(worker, `${API}/spaces/${spaceId}`)).status, 200);
  await stat(path.join(worker.dataDir, 'storage', spaceId, 'a.txt'));
});

test.serial('nothing outside the storage root changed', async (t) => {
  const after = await digestsOutsideStorage(t.context.root);
  t.deepEqual([...after.keys()].sort(), [...t.context.outsideBefore.keys()].sort());
  for (const [file, digest] of t.context.outsideBefore) t.is(after.get(file), digest, file);
  t.is(await readFile(path.join(t.context.root, 'outside', 'canary.txt'), 'utf8'), 'canary');
  t.true(await isHealthy(t.context.worker));
});
