import 'reflect-metadata';
import { request as httpRequest } from 'node:http';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import { API, createFile, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send, specViolations } from './spec-reference.js';

const test = anyTest as TestFn<TestWorker>;

test.beforeEach(async (t) => {
  t.context = await startTestWorker();
});

test.afterEach.always(async (t) => {
  await t.context.close();
});

async function mkdir(worker: TestWorker, parentId: string, name: string): Promise<string> {
  const response = await send(worker, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}&type=DIR`, { method: 'POST' });
  if (response.status !== 201) throw new Error(`mkdir ${name}: ${response.status} ${response.text}`);
  return response.json.fileId as string;
}

test('hard link shares content', async (t) => {
  const root = t.context.space.dirId;
  const fileId = await createFile(t.context, 'original', 'shared bytes');
  const created = await send(t.context, `${API}/data/${root}/children?name=second&type=LNK&target_file_id=${fileId}`, { method: 'POST' });
  t.is(created.status, 201);
  const linkId = created.json.fileId as string;
  t.not(linkId, fileId);

  const content = await send(t.context, `${API}/data/${linkId}/content`);
  t.is(content.text, 'shared bytes');
  const links = await send(t.context, `${API}/data/${fileId}/hardlinks`);
  t.deepEqual(links.json, [fileId, linkId]);
  t.is((await send(t.context, `${API}/data/${fileId}/hardlinks/${linkId}`)).status, 204);
  const attrs = await send(t.context, `${API}/data/${linkId}`, { body: JSON.stringify({ attributes: ['hardlinkCount', 'type', 'name'] }) });
  t.deepEqual(attrs.json, { hardlinkCount: 2, type: 'REG', name: 'second' });

  // Deleting the original name keeps the data reachable through the link, and frees the name.
  t.is((await send(t.context, `${API}/data/${fileId}`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${API}/data/${linkId}/content`)).text, 'shared bytes');
  await createFile(t.context, 'original', 'new file');
  t.is((await send(t.context, `${API}/data/${linkId}/content`)).text, 'shared bytes');
  t.deepEqual((await send(t.context, `${API}/data/${linkId}/hardlinks`)).json, [linkId]);
  t.is((await send(t.context, `${API}/data/${linkId}`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${API}/data/${linkId}`)).status, 404);
});

test('hard link to a directory is rejected', async (t) => {
  const dirId = await mkdir(t.context, t.context.space.dirId, 'd');
  const response = await send(t.context, `${API}/data/${t.context.space.dirId}/children?name=l&type=LNK&target_file_id=${dirId}`, { method: 'POST' });
  t.is(response.status, 403);
  t.is(response.json.error.details.errno, 'eperm');
});

test('symlink value and attributes', async (t) => {
  const root = t.context.space.dirId;
  const target = encodeURIComponent('<__onedata_space_id:abc>/dir/file');
  const created = await send(t.context, `${API}/data/${root}/children?name=sl&type=SYMLNK&target_file_path=${target}`, { method: 'POST' });
  t.is(created.status, 201);
  const value = await send(t.context, `${API}/data/${created.json.fileId}/symlink_value`);
  t.is(value.text, '<__onedata_space_id:abc>/dir/file');
  const attrs = await send(t.context, `${API}/data/${created.json.fileId}`, { body: JSON.stringify({ attributes: ['type', 'symlinkValue'] }) });
  t.deepEqual(attrs.json, { type: 'SYMLNK', symlinkValue: '<__onedata_space_id:abc>/dir/file' });
  const missing = await send(t.context, `${API}/data/${root}/children?name=bad&type=SYMLNK`, { method: 'POST' });
  t.is(missing.status, 400);
});

test('every attribute is selectable', async (t) => {
  const fileId = await createFile(t.context, 'a.txt', 'abc');
  const names = ['fileId', 'index', 'type', 'activePermissionsType', 'posixPermissions', 'acl', 'name', 'conflictingName', 'path',
    'parentFileId', 'displayGid', 'displayUid', 'creationTime', 'atime', 'mtime', 'ctime', 'size', 'isFullyReplicatedLocally',
    'localReplicationRate', 'originProviderId', 'directShareIds', 'ownerUserId', 'hardlinkCount', 'symlinkValue', 'hasCustomMetadata',
    'effProtectionFlags', 'effDatasetProtectionFlags', 'effDatasetInheritancePath', 'effQosInheritancePath', 'aggregateQosStatus',
    'archiveRecallRootFileId', 'xattr.color'];
  const response = await send(t.context, `${API}/data/${fileId}`, { body: JSON.stringify({ attributes: names }) });
  t.is(response.status, 200);
  t.deepEqual(Object.keys(response.json).sort(), [...names].sort());
  t.is(response.json.isFullyReplicatedLocally, true);
  t.is(response.json.localReplicationRate, 1);
  t.is(response.json.hasCustomMetadata, false);
  t.is(response.json['xattr.color'], null);
});

test('recursive listing pages by path', async (t) => {
  const root = t.context.space.dirId;
  const a = await mkdir(t.context, root, 'a');
  const b = await mkdir(t.context, a, 'b');
  for (const [parent, name] of [[root, 'z.txt'], [a, 'one'], [b, 'deep'], [a, 'two']] as const) {
    const response = await send(t.context, `${API}/data/${parent}/children?name=${name}`, { method: 'POST', body: 'x' });
    t.is(response.status, 201);
  }

  const seen: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 10; page++) {
    const response = await send(t.context, `${API}/data/${root}/files`, { body: JSON.stringify({ limit: 1, ...(token ? { token } : {}), attributes: ['name'] }) });
    t.is(response.status, 200);
    seen.push(...response.json.files.map((file: { path: string }) => file.path));
    if (response.json.isLast) break;
    token = response.json.nextPageToken;
  }
  t.deepEqual(seen, ['a/b/deep', 'a/one', 'a/two', 'z.txt']);

  const prefixed = await send(t.context, `${API}/data/${root}/files`, { body: JSON.stringify({ prefix: 'a/b' }) });
  t.deepEqual(prefixed.json.files.map((file: { path: string }) => file.path), ['a/b/deep']);
  const after = await send(t.context, `${API}/data/${root}/files`, { body: JSON.stringify({ start_after: 'a/one' }) });
  t.deepEqual(after.json.files.map((file: { path: string }) => file.path), ['a/two', 'z.txt']);
});

test('directory delete goes through trash', async (t) => {
  const root = t.context.space.dirId;
  const dir = await mkdir(t.context, root, 'tree');
  await send(t.context, `${API}/data/${dir}/children?name=f`, { method: 'POST', body: 'data' });
  const space = await send(t.context, `${API}/spaces/${t.context.space.spaceId}`);
  t.is(typeof space.json.trashDirId, 'string');

  t.is((await send(t.context, `${API}/data/${dir}`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${API}/lookup-file-id/default/tree`, { method: 'POST' })).status, 404);
  // The name is free at once, while the old tree is deleted in the background.
  await mkdir(t.context, root, 'tree');
  const listing = await send(t.context, `${API}/data/${root}/children`);
  t.deepEqual(listing.json.children.map((child: { name: string }) => child.name), ['tree']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const trash = await send(t.context, `${API}/data/${space.json.trashDirId}/children`);
    if (trash.json.children.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.deepEqual((await send(t.context, `${API}/data/${space.json.trashDirId}/children`)).json.children, []);
});

test('metadata: inherited, key paths, RDF', async (t) => {
  const root = t.context.space.dirId;
  const dir = await mkdir(t.context, root, 'm');
  const fileId = await createFile(t.context, 'plain', 'x');
  const child = (await send(t.context, `${API}/data/${dir}/children?name=c`, { method: 'POST', body: 'y' })).json.fileId as string;

  await send(t.context, `${API}/data/${dir}/metadata/xattrs`, { method: 'PUT', body: JSON.stringify({ owner: 'dir', team: 'a' }) });
  await send(t.context, `${API}/data/${child}/metadata/xattrs`, { method: 'PUT', body: JSON.stringify({ owner: 'child' }) });
  const inherited = await send(t.context, `${API}/data/${child}/metadata/xattrs?inherited=true`);
  t.deepEqual(inherited.json, { owner: 'child', team: 'a' });

  await send(t.context, `${API}/data/${dir}/metadata/json`, { method: 'PUT', body: JSON.stringify({ project: 'p', level: 1 }) });
  const set = await send(t.context, `${API}/data/${child}/metadata/json?filter_type=keypath&filter=a.list.[1]`, { method: 'PUT', body: '"v"' });
  t.is(set.status, 204);
  t.deepEqual((await send(t.context, `${API}/data/${child}/metadata/json`)).json, { a: { list: [null, 'v'] } });
  t.deepEqual((await send(t.context, `${API}/data/${child}/metadata/json?inherited=true`)).json, { project: 'p', level: 1, a: { list: [null, 'v'] } });
  t.is((await send(t.context, `${API}/data/${child}/metadata/json?filter_type=keypath&filter=a.list.[1]`)).json, 'v');
  const badPath = await send(t.context, `${API}/data/${child}/metadata/json?filter_type=keypath&filter=a..b`);
  t.is(badPath.status, 400);
  t.is(badPath.json.error.details.key, 'filter');

  const rdf = '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>';
  const wrongType = await send(t.context, `${API}/data/${fileId}/metadata/rdf`, { method: 'PUT', body: rdf, headers: { 'Content-Type': 'text/plain' } });
  t.is(wrongType.status, 415);
  t.is((await send(t.context, `${API}/data/${fileId}/metadata/rdf`, { method: 'PUT', body: rdf, headers: { 'Content-Type': 'application/rdf+xml' } })).status, 204);
  const read = await send(t.context, `${API}/data/${fileId}/metadata/rdf`);
  t.is(read.text, rdf);
  t.is(read.headers['content-type'], 'application/rdf+xml');
  const attrs = await send(t.context, `${API}/data/${fileId}`, { body: JSON.stringify({ attributes: ['hasCustomMetadata'] }) });
  t.true(attrs.json.hasCustomMetadata);
  t.is((await send(t.context, `${API}/data/${fileId}/metadata/rdf`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${API}/data/${fileId}/metadata/rdf`)).status, 404);
});

test('distribution and storage locations', async (t) => {
  const fileId = await createFile(t.context, 'dist', '12345');
  const storageId = t.context.space.storageIds[0]!;
  const distribution = await send(t.context, `${API}/data/${fileId}/distribution`);
  const perProvider = distribution.json.distributionPerProvider['local-provider'];
  t.is(perProvider.virtualSize, 5);
  t.deepEqual(perProvider.distributionPerStorage[storageId], { blocks: [[0, 5]], physicalSize: 5 });
  t.is(typeof perProvider.locationsPerStorage[storageId], 'string');
  const locations = await send(t.context, `${API}/data/${fileId}/storage_locations`);
  t.is(locations.json.locationsPerProvider['local-provider'].locationsPerStorage[storageId], perProvider.locationsPerStorage[storageId]);
});

test('directory TAR skips unreadable file', async (t) => {
  const root = t.context.space.dirId;
  const dir = await mkdir(t.context, root, 'bundle');
  await send(t.context, `${API}/data/${dir}/children?name=good.txt`, { method: 'POST', body: 'good' });
  await send(t.context, `${API}/data/${dir}/children?name=lost.txt`, { method: 'POST', body: 'lost' });
  // Remove the data behind the worker's back: the file is listed but cannot be read.
  await rm(path.join(t.context.dataDir, 'storage', t.context.space.spaceId, 'bundle', 'lost.txt'));

  const response = await send(t.context, `${API}/data/${dir}/content`);
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'application/x-tar');
  const entries = await readTar(response.body);
  t.deepEqual(entries, [['bundle/', ''], ['bundle/good.txt', 'good']]);
});

async function readTar(archive: Buffer): Promise<Array<[string, string]>> {
  const extract = tar.extract();
  const entries: Array<[string, string]> = [];
  Readable.from([archive]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push([entry.header.name, Buffer.concat(chunks).toString('utf8')]);
  }
  return entries;
}

test('bad input is a clear 4xx', async (t) => {
  const root = t.context.space.dirId;
  const cases: Array<[string, string, string?]> = [
    ['GET', `${API}/data/NOT-HEX/children`],
    ['GET', `${API}/data/${root}/children?token=%%%`],
    ['GET', `${API}/data/${root}/children?token=bm90LWpzb24`],
    ['GET', `${API}/data/${root}/children?limit=1001`],
    ['GET', `${API}/data/${root}/files?limit=100000`],
    ['GET', `${API}/data/${root}/files?token=garbage`],
    ['GET', `${API}/data/${root}/metadata/json?filter_type=keypath&filter=%5Bx`],
    ['POST', `${API}/changes/metadata/${t.context.space.spaceId}?last_seq=-1`],
    ['GET', `${API}/data/${root}/hardlinks/NOT-HEX`],
  ];
  for (const [method, url] of cases) {
    const response = await send(t.context, url, { method });
    t.true(response.status >= 400 && response.status < 500, `${method} ${url} -> ${response.status} ${response.text}`);
  }
});

/** Read a streamed change feed until `count` events arrived, then disconnect. */
function readChanges(worker: TestWorker, lastSeq: number | undefined, count: number): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const query = lastSeq === undefined ? '' : `?last_seq=${lastSeq}`;
    const requestPath = `${API}/changes/metadata/${worker.space.spaceId}${query}`;
    const body = JSON.stringify({ triggers: ['fileMeta'], fileMeta: { fields: ['name', 'deleted'] } });
    const events: any[] = [];
    let buffered = '';
    const outgoing = httpRequest({ host: '127.0.0.1', port: worker.port, path: requestPath, method: 'POST', agent: false,
      headers: { 'X-Auth-Token': worker.token, 'Content-Length': String(Buffer.byteLength(body)) } }, (incoming) => {
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line !== '') events.push(JSON.parse(line));
        if (events.length >= count) {
          outgoing.destroy();
          const text = events.map((event) => JSON.stringify(event)).join('\n');
          const violations = specViolations({ method: 'POST', path: requestPath, status: incoming.statusCode ?? 0, headers: incoming.headers, text });
          if (violations.length > 0) reject(new Error(violations.join('\n')));
          else resolve(events.slice(0, count));
        }
      });
    });
    outgoing.on('error', (error) => {
      if (events.length < count) reject(error);
    });
    outgoing.end(body);
  });
}

test('change stream delivers and resumes', async (t) => {
  const { core, admin, space } = t.context;
  const who = { userId: admin.id, isAdmin: true };
  const startSeq = await core.lfs.lastChangeSeq(who, space.spaceId);
  const firstPart = readChanges(t.context, startSeq, 600);

  const names: string[] = [];
  for (let index = 0; index < 1000; index++) {
    const name = `w${String(index).padStart(4, '0')}`;
    names.push(name);
    await core.lfs.create(who, space.dirId, name, { type: 'REG' });
  }

  const first = await firstPart;
  t.deepEqual(first.map((event) => event.fileMeta.fields.name), names.slice(0, 600));
  const resumed = await readChanges(t.context, first[first.length - 1].seq, 400);
  const all = [...first, ...resumed];
  t.deepEqual(all.map((event) => event.fileMeta.fields.name), names);
  for (let index = 1; index < all.length; index++) t.true(all[index].seq > all[index - 1].seq);
  t.true(all.every((event) => event.filePath === `/default/${event.fileMeta.fields.name}`));
});
