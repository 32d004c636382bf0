import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import { API, createFile, send, startTestWorker, type TestWorker } from './helpers.js';

const test = anyTest as TestFn<TestWorker>;

const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const CDMI_OBJECT = { ...V, 'Content-Type': 'application/cdmi-object' };
const CDMI_CONTAINER = { ...V, 'Content-Type': 'application/cdmi-container' };

test.beforeEach(async (t) => {
  t.context = await startTestWorker();
});

test.afterEach.always(async (t) => {
  await t.context.close();
});

test('unsupported version is badVersion', async (t) => {
  for (const version of ['1.0.2', '', '2.3.4', 'aaaaa']) {
    const response = await send(t.context, '/cdmi/default/', { headers: { 'X-CDMI-Specification-Version': version } });
    t.is(response.status, 400, version);
    t.is(response.json.error.id, 'badVersion', version);
    t.deepEqual(response.json.error.details.supportedVersions, ['1.1.1', '1.1']);
    t.is(response.headers['x-cdmi-specification-version'], '1.1.1');
  }
});

test('version lists pick a supported entry', async (t) => {
  for (const version of ['1.1.1', '1.1', 'aaa,1.1.1 ,aaa']) {
    const response = await send(t.context, '/cdmi/default/', { headers: { 'X-CDMI-Specification-Version': version } });
    t.is(response.status, 200, version);
    t.is(response.headers['x-cdmi-specification-version'], '1.1.1');
  }
});

test('container without version is 400', async (t) => {
  const response = await send(t.context, '/cdmi/default/');
  t.is(response.status, 400);
  t.is(response.json.error.id, 'missingRequiredValue');
  t.is(response.json.error.details.key, 'version');
});

test('missing token is 401', async (t) => {
  const response = await send(t.context, '/cdmi/default/', { headers: V, token: null });
  t.is(response.status, 401);
  t.is(response.json.error.id, 'unauthorized');
});

test('root lists spaces', async (t) => {
  const response = await send(t.context, '/cdmi/', { headers: V });
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'application/cdmi-container');
  t.is(response.json.objectName, '/');
  t.is(response.json.parentURI, '');
  t.deepEqual(response.json.children, ['default/']);
  t.is(typeof response.json.objectID, 'string');
});

test('create and read container', async (t) => {
  const created = await send(t.context, '/cdmi/default/dir/', { method: 'PUT', headers: CDMI_CONTAINER });
  t.is(created.status, 201);
  t.is(created.json.objectType, 'application/cdmi-container');
  t.is(created.json.objectName, 'dir/');
  t.deepEqual(created.json.children, []);
  t.is(created.json.completionStatus, 'Complete');

  await send(t.context, '/cdmi/default/dir/sub/', { method: 'PUT' });
  await send(t.context, '/cdmi/default/dir/file.txt', { method: 'PUT', body: 'x' });

  const listed = await send(t.context, '/cdmi/default/dir/', { headers: V });
  t.is(listed.status, 200);
  t.deepEqual(listed.json.children, ['file.txt', 'sub/']);
  t.is(listed.json.childrenrange, '0-1');
  t.is(listed.json.parentURI, '/default/');
  t.is(listed.json.parentID, t.context.space.dirId);
  t.is(listed.json.capabilitiesURI, 'cdmi_capabilities/container/');

  const existing = await send(t.context, '/cdmi/default/dir/', { method: 'PUT', headers: CDMI_CONTAINER });
  t.is(existing.status, 204);
});

test('children range and field selection', async (t) => {
  await send(t.context, '/cdmi/default/many/', { method: 'PUT' });
  for (let index = 0; index < 15; index += 1) {
    await send(t.context, `/cdmi/default/many/${index}`, { method: 'PUT', body: String(index) });
  }

  const ranged = await send(t.context, '/cdmi/default/many/?children:2-13;childrenrange', { headers: V });
  t.is(ranged.status, 200);
  t.deepEqual(Object.keys(ranged.json).sort(), ['children', 'childrenrange']);
  t.deepEqual(ranged.json.children, ['10', '11', '12', '13', '14', '2', '3', '4', '5', '6', '7', '8']);
  t.is(ranged.json.childrenrange, '2-13');

  const last = await send(t.context, '/cdmi/default/many/?children:14-14', { headers: V });
  t.deepEqual(last.json.children, ['9']);

  const outside = await send(t.context, '/cdmi/default/many/?children:100-132', { headers: V });
  t.is(outside.status, 400);
  t.is(outside.json.error.details.key, 'childrenrange');
});

test('data object utf-8 value', async (t) => {
  const created = await send(t.context, '/cdmi/default/f.txt', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ value: 'File "content"!\n', mimetype: 'text/plain', metadata: { my_metadata: 'v', cdmi_not_allowed: 'x' } }),
  });
  t.is(created.status, 201);
  t.is(created.json.objectType, 'application/cdmi-object');
  t.is(created.json.objectName, 'f.txt');
  t.is(created.json.parentURI, '/default/');
  t.is(created.json.mimetype, 'text/plain');
  t.is(created.json.valuetransferencoding, 'utf-8');
  t.is(created.json.value, undefined);
  t.deepEqual(Object.keys(created.json.metadata).sort(), ['cdmi_atime', 'cdmi_ctime', 'cdmi_mtime', 'cdmi_owner', 'cdmi_size', 'my_metadata']);

  const read = await send(t.context, '/cdmi/default/f.txt', { headers: V });
  t.is(read.status, 200);
  t.is(read.json.value, 'File "content"!\n');
  t.is(read.json.valuerange, '0-15');
  t.is(read.json.valuetransferencoding, 'utf-8');
  t.is(read.json.metadata.cdmi_size, '16');
  t.is(read.json.metadata.cdmi_owner, t.context.admin.id);

  const raw = await send(t.context, '/cdmi/default/f.txt');
  t.is(raw.text, 'File "content"!\n');
  t.regex(raw.headers['content-type'] ?? '', /^text\/plain/);
});

test('data object base64 value and range', async (t) => {
  const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253]);
  const created = await send(t.context, '/cdmi/default/bin', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ valuetransferencoding: 'base64', value: bytes.toString('base64') }),
  });
  t.is(created.status, 201);

  const read = await send(t.context, '/cdmi/default/bin', { headers: V });
  t.is(read.json.valuetransferencoding, 'base64');
  t.deepEqual(Buffer.from(read.json.value, 'base64'), bytes);

  const part = await send(t.context, '/cdmi/default/bin?value:1-3;valuerange', { headers: V });
  t.deepEqual(Object.keys(part.json).sort(), ['value', 'valuerange']);
  t.is(part.json.valuerange, '1-3');
  t.deepEqual(Buffer.from(part.json.value, 'base64'), bytes.subarray(1, 4));

  const invalid = await send(t.context, '/cdmi/default/bad', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ valuetransferencoding: 'base64', value: '#$%' }),
  });
  t.is(invalid.status, 400);
  t.is(invalid.json.error.details.key, 'base64');
});

test('file created over REST reads as base64', async (t) => {
  await createFile(t.context, 'rest.bin', 'File content!');
  const read = await send(t.context, '/cdmi/default/rest.bin', { headers: V });
  t.is(read.json.valuetransferencoding, 'base64');
  t.is(read.json.mimetype, 'application/octet-stream');
  t.is(Buffer.from(read.json.value, 'base64').toString(), 'File content!');

  const ranged = await send(t.context, '/cdmi/default/rest.bin', { headers: { Range: 'bytes=5-8' } });
  t.is(ranged.status, 206);
  t.is(ranged.text, 'cont');
  t.is(ranged.headers['content-range'], 'bytes 5-8/13');
});

test('empty data object has empty value', async (t) => {
  t.is((await send(t.context, '/cdmi/default/empty', { method: 'PUT', headers: CDMI_OBJECT })).status, 201);
  const read = await send(t.context, '/cdmi/default/empty', { headers: V });
  t.is(read.json.value, '');
  t.is(read.json.valuerange, '');
  t.is(read.json.metadata.cdmi_size, '0');
});

test('update value whole and by range', async (t) => {
  await send(t.context, '/cdmi/default/u.txt', { method: 'PUT', headers: CDMI_OBJECT, body: '{"value":"New Value!"}' });

  const ranged = await send(t.context, '/cdmi/default/u.txt?value:0-2', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ value: Buffer.from('123').toString('base64') }),
  });
  t.is(ranged.status, 204);
  t.is((await send(t.context, '/cdmi/default/u.txt')).text, '123 Value!');

  const mismatch = await send(t.context, '/cdmi/default/u.txt?value:0-9', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: JSON.stringify({ value: Buffer.from('123').toString('base64') }),
  });
  t.is(mismatch.status, 400);

  const raw = await send(t.context, '/cdmi/default/u.txt', { method: 'PUT', body: 'File content!' });
  t.is(raw.status, 204);
  const partial = await send(t.context, '/cdmi/default/u.txt', { method: 'PUT', body: '123', headers: { 'Content-Range': 'bytes 0-2/3' } });
  t.is(partial.status, 204);
  t.is((await send(t.context, '/cdmi/default/u.txt')).text, '123e content!');
});

test('wrong path form is 400', async (t) => {
  const objectAsContainer = await send(t.context, '/cdmi/default/x', { method: 'PUT', headers: CDMI_CONTAINER });
  t.is(objectAsContainer.status, 400);
  t.is(objectAsContainer.json.error.id, 'badValueIdentifier');

  const containerAsObject = await send(t.context, '/cdmi/default/x/', { method: 'PUT', headers: CDMI_OBJECT, body: '{}' });
  t.is(containerAsObject.status, 400);
  t.is(containerAsObject.json.error.details.key, 'path');

  const withoutVersion = await send(t.context, '/cdmi/default/y', { method: 'PUT', headers: { 'Content-Type': 'application/cdmi-object' }, body: '{}' });
  t.is(withoutVersion.status, 400);
  t.is(withoutVersion.json.error.details.key, 'version');
});

test('missing objects are 404', async (t) => {
  t.is((await send(t.context, '/cdmi/default/nothing', { headers: V })).status, 404);
  t.is((await send(t.context, '/cdmi/default/nothing/', { headers: V })).status, 404);
  t.is((await send(t.context, '/cdmi/default/missing/d/', { method: 'PUT', headers: CDMI_CONTAINER })).status, 404);
});

test('slash mismatch redirects', async (t) => {
  await send(t.context, '/cdmi/default/d/', { method: 'PUT' });
  await send(t.context, '/cdmi/default/f', { method: 'PUT', body: 'x' });

  const toContainer = await send(t.context, '/cdmi/default/d?children', { headers: V });
  t.is(toContainer.status, 302);
  t.is(toContainer.headers.location, '/cdmi/default/d/?children');

  const toObject = await send(t.context, '/cdmi/default/f/', { headers: V });
  t.is(toObject.status, 302);
  t.is(toObject.headers.location, '/cdmi/default/f');
});

test('delete objects and containers', async (t) => {
  await send(t.context, '/cdmi/default/d/', { method: 'PUT' });
  await send(t.context, '/cdmi/default/d/nested/', { method: 'PUT' });
  await send(t.context, '/cdmi/default/d/f', { method: 'PUT', body: 'x' });

  t.is((await send(t.context, '/cdmi/default/d/f', { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, '/cdmi/default/d/', { method: 'DELETE', headers: V })).status, 204);
  t.is((await send(t.context, '/cdmi/default/d/', { headers: V })).status, 404);

  const root = await send(t.context, '/cdmi/', { method: 'DELETE', headers: V });
  t.is(root.status, 403);
  t.is(root.json.error.details.errno, 'eperm');
});

test('object id addressing', async (t) => {
  const fileId = await createFile(t.context, 'by-id.txt', 'abc');
  const byId = await send(t.context, `/cdmi/cdmi_objectid/${fileId}`, { headers: V });
  t.is(byId.status, 200);
  t.is(byId.json.objectName, 'by-id.txt');

  const relative = await send(t.context, `/cdmi/cdmi_objectid/${t.context.space.dirId}/by-id.txt`, { headers: V });
  t.is(relative.json.objectID, fileId);
});

test('capabilities need no token', async (t) => {
  const root = await send(t.context, '/cdmi/cdmi_capabilities/', { headers: V, token: null });
  t.is(root.status, 200);
  t.is(root.headers['content-type'], 'application/cdmi-capability');
  t.is(root.json.objectID, '0000000000208CA83030303030303030303030303030303030303030303030303030303030303031');
  t.deepEqual(root.json.children, ['container/', 'dataobject/']);

  const container = await send(t.context, '/cdmi/cdmi_capabilities/container/', { headers: V, token: null });
  t.is(container.json.capabilities.cdmi_list_children, 'true');

  const noVersion = await send(t.context, '/cdmi/cdmi_capabilities/', { token: null });
  t.is(noVersion.status, 400);

  const put = await send(t.context, '/cdmi/cdmi_capabilities/', { method: 'PUT', headers: V, token: null });
  t.is(put.status, 405);
});

test('REST hides CDMI internal xattrs', async (t) => {
  await send(t.context, '/cdmi/default/typed.txt', { method: 'PUT', headers: CDMI_OBJECT, body: '{"value":"x","mimetype":"text/plain"}' });
  const lookup = await send(t.context, `${API}/lookup-file-id/default/typed.txt`, { method: 'POST' });
  const visible = await send(t.context, `${API}/data/${lookup.json.fileId}/metadata/xattrs`);
  t.deepEqual(visible.json, {});

  const internal = await send(t.context, `${API}/data/${lookup.json.fileId}/metadata/xattrs?show_internal=true`);
  t.is(internal.json.cdmi_mimetype, 'text/plain');
});
