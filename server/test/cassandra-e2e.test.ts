import { testCluster, type CassandraNode } from '@op-worker/metadata-cassandra/testkit';
import test from 'ava';
import { startCassandraWorkers, type CassandraWorkers } from './support/cassandra-workers.js';
import { API, pseudoRandomBytes, send, sha256, type WorkerProcess } from './support/worker-process.js';

/**
 * The server's end-to-end tests once more with Cassandra as the metadata store, through
 * two `op-worker` processes on one keyspace. The subset covers REST create, upload,
 * listing with paging, range read, offset write, xattrs, JSON metadata and delete, then
 * CDMI container and object, visibility across workers, and concurrent creates of one
 * name and of distinct names in one directory.
 */

const V = { 'X-CDMI-Specification-Version': '1.1.1' };

let node: CassandraNode | undefined;
let cluster: CassandraWorkers | undefined;

test.before(async () => {
  const started = await testCluster();
  node = started.node;
  cluster = await startCassandraWorkers(started.contactPoints, 'e2e', 2);
});

test.after.always(async () => {
  await cluster?.close();
  await node?.destroy();
});

function workers(): [WorkerProcess, WorkerProcess] {
  const [first, second] = cluster!.workers;
  return [first!, second!];
}

/** Create a directory in the space root through `worker` and return its id. */
async function createDirectory(worker: WorkerProcess, name: string): Promise<string> {
  const response = await send(worker, `${API}/data/${cluster!.spaceDirId}/children?name=${name}&type=DIR`, { method: 'POST' });
  if (response.status !== 201) throw new Error(`creating directory ${name} failed: ${response.status} ${response.text}`);
  return response.json.fileId as string;
}

test('REST file lifecycle', async (t) => {
  const [first, second] = workers();
  await createDirectory(first, 'rest');

  const content = pseudoRandomBytes('cassandra-rest', 0, 300_000);
  const upload = await send(first, `${API}/data/${cluster!.spaceDirId}/path/rest/data.bin`, { method: 'PUT', body: content });
  t.is(upload.status, 201, upload.text);
  const fileId = upload.json.fileId as string;

  const whole = await send(second, `${API}/data/${fileId}/content`);
  t.is(whole.status, 200);
  t.is(sha256(whole.body), sha256(content));

  const ranged = await send(second, `${API}/data/${fileId}/content`, { headers: { Range: 'bytes=1000-1999' } });
  t.is(ranged.status, 206);
  t.deepEqual(ranged.body, content.subarray(1000, 2000));

  const patch = Buffer.from('OFFSET-WRITE');
  const written = await send(second, `${API}/data/${fileId}/content?offset=5`, { method: 'PUT', body: patch });
  t.is(written.status, 204, written.text);
  const expected = Buffer.concat([content.subarray(0, 5), patch, content.subarray(5 + patch.length)]);
  const reread = await send(first, `${API}/data/${fileId}/content`);
  t.is(sha256(reread.body), sha256(expected));

  const attributes = await send(first, `${API}/data/${fileId}`);
  t.is(attributes.json.size, content.length);
  t.is(attributes.json.path, '/default/rest/data.bin');

  const metadata = `${API}/data/${fileId}/metadata`;
  t.is((await send(first, `${metadata}/xattrs`, { method: 'PUT', body: '{"color":"blue","size":"L"}' })).status, 204);
  t.deepEqual((await send(second, `${metadata}/xattrs`)).json, { color: 'blue', size: 'L' });
  t.is((await send(first, `${metadata}/json`, { method: 'PUT', body: '{"a":{"b":[1,{"c":"deep"}]}}' })).status, 204);
  t.is((await send(second, `${metadata}/json?filter_type=keypath&filter=a.b.[1].c`)).json, 'deep');

  t.is((await send(second, `${API}/data/${fileId}`, { method: 'DELETE' })).status, 204);
  const afterDelete = await send(first, `${API}/data/${fileId}/content`);
  t.is(afterDelete.status, 404, afterDelete.text);
});

test('REST listing pages across workers', async (t) => {
  const [first, second] = workers();
  const dirId = await createDirectory(first, 'pages');

  // Even entries through one worker, odd ones through the other.
  const names = Array.from({ length: 25 }, (_, index) => `file-${String(index).padStart(2, '0')}`);
  for (const [index, name] of names.entries()) {
    const creator = index % 2 === 0 ? first : second;
    const created = await send(creator, `${API}/data/${dirId}/children?name=${name}`, { method: 'POST', body: name });
    t.is(created.status, 201, created.text);
  }

  const seen: string[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const query: string = token === null ? 'limit=10&attributes=name,size' : `limit=10&attributes=name&token=${encodeURIComponent(token)}`;
    const response = await send(pages % 2 === 0 ? first : second, `${API}/data/${dirId}/children?${query}`);
    t.is(response.status, 200, response.text);
    for (const child of response.json.children) seen.push(child.name);
    token = response.json.isLast ? null : response.json.nextPageToken;
    pages += 1;
  } while (token !== null && pages < 10);

  t.deepEqual(seen, names);
  t.is(pages, 3);
});

test('CDMI container and object', async (t) => {
  const [first, second] = workers();

  const container = await send(first, '/cdmi/default/cdmi-dir/', { method: 'PUT', headers: { ...V, 'Content-Type': 'application/cdmi-container' } });
  t.is(container.status, 201, container.text);
  t.is(container.json.objectType, 'application/cdmi-container');

  const created = await send(first, '/cdmi/default/cdmi-dir/note.txt', {
    method: 'PUT',
    headers: { ...V, 'Content-Type': 'application/cdmi-object' },
    body: JSON.stringify({ value: 'stored in Cassandra', mimetype: 'text/plain', metadata: { project: 'op' } }),
  });
  t.is(created.status, 201, created.text);

  const read = await send(second, '/cdmi/default/cdmi-dir/note.txt', { headers: V });
  t.is(read.status, 200, read.text);
  t.is(read.json.value, 'stored in Cassandra');
  t.is(read.json.mimetype, 'text/plain');
  t.is(read.json.metadata.project, 'op');
  t.is(read.json.objectID, created.json.objectID);

  const listed = await send(second, '/cdmi/default/cdmi-dir/', { headers: V });
  t.deepEqual(listed.json.children, ['note.txt']);

  t.is((await send(second, '/cdmi/default/cdmi-dir/note.txt', { method: 'DELETE', headers: V })).status, 204);
  t.is((await send(first, '/cdmi/default/cdmi-dir/note.txt', { headers: V })).status, 404);
});

test('file visible on other worker', async (t) => {
  const [first, second] = workers();

  const created = await send(first, `${API}/data/${cluster!.spaceDirId}/children?name=shared.txt`, { method: 'POST', body: 'from the first worker' });
  t.is(created.status, 201, created.text);
  const fileId = created.json.fileId as string;

  // No wait between the create and these reads: the store is the only shared state.
  const byId = await send(second, `${API}/data/${fileId}/content`);
  t.is(byId.status, 200, byId.text);
  t.is(byId.text, 'from the first worker');
  const byPath = await send(second, '/cdmi/default/shared.txt');
  t.is(byPath.text, 'from the first worker');

  // A token issued by one worker is accepted by the other, because the signing keys are in the store.
  const crossToken = await send({ port: second.port, token: first.token }, `${API}/data/${fileId}`);
  t.is(crossToken.status, 200, crossToken.text);
});

test('concurrent creates of one name', async (t) => {
  const [first, second] = workers();
  const dirId = await createDirectory(first, 'race');
  const attempts = 50;

  const responses = await Promise.all(
    Array.from({ length: attempts }, (_, index) =>
      send(index % 2 === 0 ? first : second, `${API}/data/${dirId}/children?name=same.txt`, { method: 'POST', body: `attempt ${index}` }),
    ),
  );

  const winners = responses.filter((response) => response.status === 201);
  const losers = responses.filter((response) => response.status !== 201);
  t.is(winners.length, 1, responses.map((response) => response.status).join(','));
  t.is(losers.length, attempts - 1);
  for (const loser of losers) {
    t.is(loser.status, 400, loser.text);
    t.is(loser.json?.error?.id, 'posix', loser.text);
    t.is(loser.json?.error?.details?.errno, 'eexist', loser.text);
    t.true(String(loser.json?.error?.description).includes('same.txt'), loser.text);
  }

  const listing = await send(second, `${API}/data/${dirId}/children?attributes=name,size`);
  t.deepEqual(
    listing.json.children.map((child: { name: string }) => child.name),
    ['same.txt'],
  );
  const winnerId = winners[0]!.json.fileId as string;
  const content = await send(first, `${API}/data/${winnerId}/content`);
  t.regex(content.text, /^attempt \d+$/);
  t.is(listing.json.children[0].size, content.body.length);
});

test('concurrent creates of distinct names', async (t) => {
  const [first, second] = workers();
  const dirId = await createDirectory(first, 'busy');
  const names = Array.from({ length: 50 }, (_, index) => `busy-${String(index).padStart(2, '0')}`);

  // Every create updates the directory's times with compare-and-set on one Cassandra
  // partition, so this checks that the retries outlast the contention.
  const responses = await Promise.all(
    names.map((name, index) => send(index % 2 === 0 ? first : second, `${API}/data/${dirId}/children?name=${name}`, { method: 'POST', body: name })),
  );
  for (const [index, response] of responses.entries()) t.is(response.status, 201, `${names[index]}: ${response.text}`);

  const listing = await send(second, `${API}/data/${dirId}/children?attributes=name`);
  t.deepEqual(
    listing.json.children.map((child: { name: string }) => child.name),
    names,
  );
});
