import 'reflect-metadata';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { createFile, send, startTestWorker, withBadCrc, type Response, type TestWorker } from './helpers.js';

/**
 * The 91 request and response behaviours of Onedata's CDMI test suites, one test each,
 * numbered in their order. Where this worker follows the CDMI standard instead of
 * Onedata, the assertion checks the standard's response. `docs/compatibility.md` lists
 * those cases.
 */

const test = anyTest as TestFn<TestWorker>;

const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const CO = { ...V, 'Content-Type': 'application/cdmi-object' };
const CC = { ...V, 'Content-Type': 'application/cdmi-container' };
const CONTENT = 'File content!';
const ROOT_CAP_ID = '0000000000208CA83030303030303030303030303030303030303030303030303030303030303031';
const CONTAINER_CAP_ID = '0000000000208DE83030303030303030303030303030303030303030303030303030303030303032';
const DATAOBJECT_CAP_ID = '0000000000204D293030303030303030303030303030303030303030303030303030303030303033';

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

type T = ExecutionContext<TestWorker>;

function cdmi(t: T, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; token?: string | null } = {}): Promise<Response> {
  return send(t.context, `/cdmi/default/${path}`, options);
}

async function rawFile(t: T, path: string, content: string | Buffer = CONTENT): Promise<void> {
  const response = await cdmi(t, path, { method: 'PUT', body: content });
  t.true(response.status === 201 || response.status === 204, `creating ${path}: ${response.status} ${response.text}`);
}

async function mkdir(t: T, path: string): Promise<Response> {
  const response = await cdmi(t, `${path}/`, { method: 'PUT' });
  t.is(response.status, 201, `mkdir ${path}: ${response.text}`);
  return response;
}

async function readRaw(t: T, path: string): Promise<string> {
  return (await cdmi(t, path)).text;
}

async function lookupId(t: T, path: string): Promise<string> {
  return (await cdmi(t, `${path}?objectID`, { headers: V })).json.objectID as string;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function isIsoTime(value: unknown): boolean {
  return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value);
}

// Capabilities

test('cdmi 1: root capabilities without token', async (t) => {
  const response = await send(t.context, '/cdmi/cdmi_capabilities/', { headers: V, token: null });
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'application/cdmi-capability');
  t.is(response.json.objectID, ROOT_CAP_ID);
  t.is(response.json.objectName, 'cdmi_capabilities/');
  t.is(response.json.childrenrange, '0-1');
  t.deepEqual(response.json.children, ['container/', 'dataobject/']);
  t.deepEqual(Object.keys(response.json.capabilities).sort(), [
    'cdmi_dataobjects', 'cdmi_object_access_by_ID', 'cdmi_object_copy_from_local', 'cdmi_object_move_from_local', 'cdmi_security_access_control',
  ]);
});

test('cdmi 2: container capabilities', async (t) => {
  const response = await send(t.context, '/cdmi/cdmi_capabilities/container/', { headers: V, token: null });
  t.is(response.status, 200);
  t.is(response.json.parentURI, 'cdmi_capabilities/');
  t.is(response.json.parentID, ROOT_CAP_ID);
  t.is(response.json.objectID, CONTAINER_CAP_ID);
  t.is(response.json.objectName, 'container/');
  t.is(Object.keys(response.json.capabilities).length, 16);
  t.is(response.json.capabilities.cdmi_copy_container, 'true');
});

test('cdmi 3: container capabilities by object id', async (t) => {
  const byPath = await send(t.context, '/cdmi/cdmi_capabilities/container/', { headers: V, token: null });
  const byId = await send(t.context, `/cdmi/cdmi_objectid/${CONTAINER_CAP_ID}/`, { headers: V, token: null });
  t.is(byId.status, 200);
  t.deepEqual(byId.json, byPath.json);
});

test('cdmi 4: dataobject capabilities by path and id', async (t) => {
  const byPath = await send(t.context, '/cdmi/cdmi_capabilities/dataobject/', { headers: V, token: null });
  const byId = await send(t.context, `/cdmi/cdmi_objectid/${DATAOBJECT_CAP_ID}/`, { headers: V, token: null });
  t.is(byPath.status, 200);
  t.is(byPath.json.objectName, 'dataobject/');
  t.is(Object.keys(byPath.json.capabilities).length, 12);
  t.is(byPath.json.capabilities.cdmi_modify_value_range, 'true');
  t.is(byId.status, 200);
  t.deepEqual(byId.json, byPath.json);
});

test('cdmi 5: capabilities without version', async (t) => {
  const response = await send(t.context, '/cdmi/cdmi_capabilities/', { token: null });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'badVersion');
});

test('cdmi 6: capabilities are read-only', async (t) => {
  for (const method of ['PUT', 'DELETE']) {
    for (const path of ['/cdmi/cdmi_capabilities/', '/cdmi/cdmi_capabilities/container/', '/cdmi/cdmi_capabilities/dataobject/']) {
      const response = await send(t.context, path, { method, headers: V });
      t.is(response.status, 405, `${method} ${path}`);
    }
  }
});

// Reading data objects

test('cdmi 7: read data object as CDMI', async (t) => {
  await mkdir(t, 'b7');
  await rawFile(t, 'b7/file');
  const response = await cdmi(t, 'b7/file', { headers: V });
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'application/cdmi-object');
  t.is(response.json.objectType, 'application/cdmi-object');
  t.is(response.json.objectName, 'file');
  t.is(response.json.parentURI, '/default/b7/');
  t.is(response.json.completionStatus, 'Complete');
  t.is(response.json.valuetransferencoding, 'base64');
  t.is(response.json.mimetype, 'application/octet-stream');
  t.is(Buffer.from(response.json.value, 'base64').toString(), CONTENT);
  t.is(response.json.valuerange, '0-12');
  t.true(Object.keys(response.json.metadata).length > 0);
  t.is(Object.keys(response.json).at(-1), 'value');
});

test('cdmi 8: selected fields only', async (t) => {
  await rawFile(t, 'b8');
  const response = await cdmi(t, 'b8?parentURI;completionStatus', { headers: V });
  t.deepEqual(response.json, { parentURI: '/default/', completionStatus: 'Complete' });
});

test('cdmi 9: value range read', async (t) => {
  await rawFile(t, 'b9');
  const response = await cdmi(t, 'b9?value:1-3;valuerange', { headers: V });
  t.is(response.json.valuerange, '1-3');
  t.is(Buffer.from(response.json.value, 'base64').toString(), 'ile');
});

test('cdmi 10: objectID only', async (t) => {
  const fileId = await createFile(t.context, 'b10', CONTENT);
  const response = await cdmi(t, 'b10?objectID', { headers: V });
  t.deepEqual(response.json, { objectID: fileId });
});

test('cdmi 11: read by object id', async (t) => {
  const fileId = await createFile(t.context, 'b11', CONTENT);
  const response = await send(t.context, `/cdmi/cdmi_objectid/${fileId}`, { headers: V });
  t.is(response.status, 200);
  t.is(response.json.objectID, fileId);
  t.is(Buffer.from(response.json.value, 'base64').toString(), CONTENT);
});

test('cdmi 12: raw read without version', async (t) => {
  await rawFile(t, 'b12');
  const response = await cdmi(t, 'b12');
  t.is(response.status, 200);
  t.is(response.text, CONTENT);
  t.is(response.headers['content-type'], 'application/octet-stream');
});

test('cdmi 13: single range read', async (t) => {
  await rawFile(t, 'b13');
  const response = await cdmi(t, 'b13', { headers: { Range: 'bytes=5-8' } });
  t.is(response.status, 206);
  t.is(response.headers['content-range'], 'bytes 5-8/13');
  t.is(response.text, 'cont');
});

test('cdmi 14: multi-range read', async (t) => {
  await rawFile(t, 'b14');
  const response = await cdmi(t, 'b14', { headers: { Range: 'bytes=1-3,5-5,-3' } });
  t.is(response.status, 206);
  const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(response.headers['content-type'] ?? '')?.[1];
  t.truthy(boundary);
  const parts = response.text.split(`--${boundary}`).slice(1, -1);
  t.is(parts.length, 3);
  const expected = [['1-3/13', 'ile'], ['5-5/13', 'c'], ['10-12/13', 'nt!']];
  parts.forEach((part, index) => {
    t.regex(part, /content-type: application\/octet-stream/i);
    t.true(part.toLowerCase().includes(`content-range: bytes ${expected[index]?.[0]}`), part);
    t.is(part.split('\r\n\r\n')[1]?.replace(/\r\n$/, ''), expected[index]?.[1]);
  });
});

test('cdmi 15: invalid ranges are 416', async (t) => {
  await rawFile(t, 'b15');
  for (const range of ['unicorns', 'bytes:5-10', 'bytes=5=10', 'bytes=-15-10', 'bytes=100-150', 'bytes=10-5', 'bytes=-5-', 'bytes=10--5', 'bytes=10-15-']) {
    const response = await cdmi(t, 'b15', { headers: { Range: range } });
    t.is(response.status, 416, range);
    t.is(response.headers['content-range'], 'bytes */13', range);
  }
});

test('cdmi 16: empty file raw read and range', async (t) => {
  await rawFile(t, 'b16', '');
  const full = await cdmi(t, 'b16');
  t.is(full.status, 200);
  t.is(full.text, '');
  const ranged = await cdmi(t, 'b16', { headers: { Range: 'bytes=10-15' } });
  t.is(ranged.status, 416);
  t.is(ranged.headers['content-range'], 'bytes */0');
});

test('cdmi 17: empty file as CDMI', async (t) => {
  const fileId = await createFile(t.context, 'b17', '');
  const response = await cdmi(t, 'b17', { headers: V });
  t.is(response.status, 200);
  t.is(response.json.value, '');
  t.is(response.json.valuerange, '', 'standard: no 0--1 range for an empty object');
  t.is(response.json.metadata.cdmi_size, '0');
  t.is(response.json.metadata.cdmi_owner, t.context.admin.id);
  t.is(response.json.valuetransferencoding, 'base64');
  t.is(response.json.objectID, fileId);
});

test('cdmi 18: value range past end of empty file', async (t) => {
  await createFile(t.context, 'b18', '');
  const response = await cdmi(t, 'b18?value:0-3', { headers: V });
  t.is(response.status, 200);
  t.is(response.json.value, '');
});

test('cdmi 19: range across storage blocks', async (t) => {
  const content = Buffer.from(Array.from({ length: 200 }, (_, index) => index));
  await rawFile(t, 'b19', content);
  const response = await cdmi(t, 'b19', { headers: { Range: 'bytes=33-132' } });
  t.is(response.status, 206);
  t.deepEqual(response.body, content.subarray(33, 133));
});

// Containers

test('cdmi 20: root container', async (t) => {
  const response = await send(t.context, '/cdmi/', { headers: V });
  t.is(response.status, 200);
  t.is(response.headers['content-type'], 'application/cdmi-container');
  t.is(response.json.objectName, '/');
  t.is(response.json.parentURI, '');
  t.false('parentID' in response.json);
  t.is(response.json.capabilitiesURI, 'cdmi_capabilities/container/');
  t.is(typeof response.json.objectID, 'string');
});

test('cdmi 21: root container by object id', async (t) => {
  const byPath = await send(t.context, '/cdmi/', { headers: V });
  const byId = await send(t.context, `/cdmi/cdmi_objectid/${byPath.json.objectID}/`, { headers: V });
  t.is(byId.status, 200);
  t.deepEqual(byId.json, byPath.json);
});

test('cdmi 22: directory by path and id', async (t) => {
  await mkdir(t, 'b22');
  await mkdir(t, 'b22/dir');
  const parent = await cdmi(t, 'b22/', { headers: V });
  const byPath = await cdmi(t, 'b22/dir/', { headers: V });
  t.is(byPath.json.objectName, 'dir/');
  t.is(byPath.json.parentURI, '/default/b22/');
  t.is(byPath.json.parentID, parent.json.objectID);

  const byId = await send(t.context, `/cdmi/cdmi_objectid/${byPath.json.objectID}/`, { headers: V });
  t.is(byId.status, 200);
  t.is(byId.json.objectID, byPath.json.objectID);
  t.is(byId.json.objectName, 'dir/');
});

test('cdmi 23: child relative to object id', async (t) => {
  await mkdir(t, 'b23');
  await rawFile(t, 'b23/child');
  const dirId = await lookupId(t, 'b23/');
  const byPath = await cdmi(t, 'b23/child', { headers: V });
  const byId = await send(t.context, `/cdmi/cdmi_objectid/${dirId}/child`, { headers: V });
  t.is(byId.status, 200);
  t.is(byId.json.objectID, byPath.json.objectID);
  t.is(byId.json.value, byPath.json.value);
});

test('cdmi 24: root by id without token', async (t) => {
  const root = await send(t.context, '/cdmi/', { headers: V });
  const response = await send(t.context, `/cdmi/cdmi_objectid/${root.json.objectID}/`, { headers: V, token: null });
  t.is(response.status, 401);
  t.is(response.json.error.id, 'unauthorized');
});

test('cdmi 25: no headers is 401', async (t) => {
  const response = await cdmi(t, 'b25', { token: null });
  t.is(response.status, 401);
  t.is(response.json.error.id, 'unauthorized');
});

test('cdmi 26: container lists its file', async (t) => {
  await mkdir(t, 'b26');
  await rawFile(t, 'b26/some_file.txt');
  const response = await cdmi(t, 'b26/', { headers: V });
  t.is(response.status, 200);
  t.is(response.json.objectType, 'application/cdmi-container');
  t.is(response.json.completionStatus, 'Complete');
  t.deepEqual(response.json.children, ['some_file.txt']);
});

test('cdmi 27: subdirectory has trailing slash', async (t) => {
  await mkdir(t, 'b27');
  await mkdir(t, 'b27/sub');
  t.deepEqual((await cdmi(t, 'b27/', { headers: V })).json.children, ['sub/']);
});

test('cdmi 28: missing container is 404', async (t) => {
  t.is((await cdmi(t, 'nonexisting_dir/', { headers: V })).status, 404);
});

test('cdmi 29: children and objectName only', async (t) => {
  await mkdir(t, 'b29');
  const response = await cdmi(t, 'b29/?children;objectName', { headers: V });
  t.deepEqual(response.json, { objectName: 'b29/', children: [] });
});

async function fifteenChildren(t: T, dir: string): Promise<void> {
  await mkdir(t, dir);
  for (let index = 0; index < 15; index += 1) await rawFile(t, `${dir}/${index}`, String(index));
}

test('cdmi 30: full children range', async (t) => {
  await fifteenChildren(t, 'b30');
  const response = await cdmi(t, 'b30/?children;childrenrange', { headers: V });
  t.is(response.json.childrenrange, '0-14');
  t.is(response.json.children.length, 15);
});

test('cdmi 31: children range in byte order', async (t) => {
  await fifteenChildren(t, 'b31');
  const response = await cdmi(t, 'b31/?children:2-13;childrenrange', { headers: V });
  t.deepEqual(response.json.children, ['10', '11', '12', '13', '14', '2', '3', '4', '5', '6', '7', '8']);
  t.is(response.json.childrenrange, '2-13');
});

test('cdmi 32: children range edges', async (t) => {
  await fifteenChildren(t, 'b32');
  t.deepEqual((await cdmi(t, 'b32/?children:0-1', { headers: V })).json.children, ['0', '1']);
  t.deepEqual((await cdmi(t, 'b32/?children:14-14', { headers: V })).json.children, ['9']);
});

test('cdmi 33: children range errors and the 1000 limit', async (t) => {
  await mkdir(t, 'b33');
  await rawFile(t, 'b33/a');
  const outside = await cdmi(t, 'b33/?children:100-132', { headers: V });
  t.is(outside.status, 400);
  t.is(outside.json.error.id, 'badData');
  t.is(outside.json.error.details.key, 'childrenrange');

  const reversed = await cdmi(t, 'b33/?children:5-2', { headers: V });
  t.is(reversed.status, 400);
  const wide = await cdmi(t, 'b33/?children:0-1000', { headers: V });
  t.is(wide.status, 400);
  t.is(wide.json.error.id, 'badValueTooHigh');

  const { lfs } = t.context.core;
  const who = { userId: t.context.admin.id, isAdmin: true };
  const big = await lfs.create(who, t.context.space.dirId, 'b33big', { type: 'DIR' });
  for (let index = 0; index < 1001; index += 1) await lfs.create(who, big.fileId, `f${String(index).padStart(4, '0')}`, { type: 'DIR' });
  const unranged = await cdmi(t, 'b33big/', { headers: V });
  t.is(unranged.status, 400);
  t.is(unranged.json.error.id, 'badValueTooHigh');
  t.is(unranged.json.error.details.limit, 1000);
  const ranged = await cdmi(t, 'b33big/?children:1-1000', { headers: V });
  t.is(ranged.status, 200);
  t.is(ranged.json.children.length, 1000);
  t.is(ranged.json.children.at(-1), 'f1000/');
});

test('cdmi 34: missing objects with CDMI types are 404', async (t) => {
  t.is((await cdmi(t, 'nonexistent_file', { headers: CO })).status, 404);
  t.is((await cdmi(t, 'nonexisting_dir/', { headers: CC })).status, 404);
});

// Creating

test('cdmi 35: create utf-8 object', async (t) => {
  const response = await cdmi(t, 'b35', { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT }) });
  t.is(response.status, 201);
  t.is(response.json.objectType, 'application/cdmi-object');
  t.is(response.json.objectName, 'b35');
  t.is(response.json.parentURI, '/default/');
  t.is(response.json.completionStatus, 'Complete');
  t.is(typeof response.json.metadata, 'object');
  t.false('value' in response.json);
  t.is(await readRaw(t, 'b35'), CONTENT);
});

test('cdmi 36: create base64 object', async (t) => {
  const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
  const response = await cdmi(t, 'b36', { method: 'PUT', headers: CO, body: JSON.stringify({ valuetransferencoding: 'base64', value: bytes.toString('base64') }) });
  t.is(response.status, 201);
  t.deepEqual((await cdmi(t, 'b36')).body, bytes);
});

test('cdmi 37: create with empty body', async (t) => {
  const response = await cdmi(t, 'b37', { method: 'PUT', headers: CO });
  t.is(response.status, 201);
  t.is(await readRaw(t, 'b37'), '');
});

test('cdmi 38: raw upload as application/binary', async (t) => {
  const response = await cdmi(t, 'b38', { method: 'PUT', headers: { 'Content-Type': 'application/binary' }, body: CONTENT });
  t.is(response.status, 201);
  t.is(await readRaw(t, 'b38'), CONTENT);
});

test('cdmi 39: raw upload with version header', async (t) => {
  t.is((await cdmi(t, 'b39a', { method: 'PUT', headers: V, body: 'data' })).status, 201);
  t.is((await cdmi(t, 'b39b', { method: 'PUT', headers: { ...V, 'Content-Type': 'text/plain' }, body: 'data' })).status, 201);
  t.is(await readRaw(t, 'b39a'), 'data');
  t.is(await readRaw(t, 'b39b'), 'data');
});

test('cdmi 40: CDMI object without version', async (t) => {
  const response = await cdmi(t, 'b40', { method: 'PUT', headers: { 'Content-Type': 'application/cdmi-object' }, body: '{}' });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'missingRequiredValue');
  t.is(response.json.error.details.key, 'version');
  t.is((await cdmi(t, 'b40', { headers: V })).status, 404);
});

test('cdmi 41: create CDMI container', async (t) => {
  const response = await cdmi(t, 'b41/', { method: 'PUT', headers: CC });
  t.is(response.status, 201);
  t.is(response.json.objectType, 'application/cdmi-container');
  t.is(response.json.objectName, 'b41/');
  t.deepEqual(response.json.children, []);
  t.is(response.json.completionStatus, 'Complete');
});

test('cdmi 42: plain mkdir then CDMI update', async (t) => {
  t.is((await cdmi(t, 'b42/', { method: 'PUT' })).status, 201);
  t.is((await cdmi(t, 'b42/', { method: 'PUT', headers: CC })).status, 204);
});

test('cdmi 43: container in missing parent', async (t) => {
  const response = await cdmi(t, 'missing43/d/', { method: 'PUT', headers: CC });
  t.is(response.status, 404, 'standard: a missing parent is not found');
  t.is(response.json.error.details?.errno ?? 'enoent', 'enoent');
});

test('cdmi 44: no or JSON content type is plain', async (t) => {
  t.is((await cdmi(t, 'b44/', { method: 'PUT', headers: V })).status, 201);
  t.is((await cdmi(t, 'b44x', { method: 'PUT', headers: { ...V, 'Content-Type': 'application/json' }, body: '{}' })).status, 201);
  t.is(await readRaw(t, 'b44x'), '{}');
});

test('cdmi 45: CDMI container without version', async (t) => {
  const response = await cdmi(t, 'b45/', { method: 'PUT', headers: { 'Content-Type': 'application/cdmi-container' } });
  t.is(response.status, 400);
  t.is(response.json.error.details.key, 'version');
});

test('cdmi 46: create with metadata', async (t) => {
  const before = Math.floor(Date.now() / 1000) * 1000;
  const response = await cdmi(t, 'b46', {
    method: 'PUT',
    headers: CO,
    body: JSON.stringify({ value: CONTENT, valuetransferencoding: 'utf-8', mimetype: 'text/plain', metadata: { my_metadata: 'my_value', cdmi_not_allowed: 'x' } }),
  });
  const after = Date.now() + 1000;
  t.is(response.status, 201);
  const metadata = response.json.metadata;
  t.deepEqual(Object.keys(metadata).sort(), ['cdmi_atime', 'cdmi_ctime', 'cdmi_mtime', 'cdmi_owner', 'cdmi_size', 'my_metadata']);
  t.is(metadata.cdmi_size, '13');
  t.is(metadata.cdmi_owner, t.context.admin.id);
  t.is(metadata.my_metadata, 'my_value');
  for (const key of ['cdmi_ctime', 'cdmi_atime', 'cdmi_mtime']) {
    t.true(isIsoTime(metadata[key]), key);
    const time = Date.parse(metadata[key]);
    t.true(time >= before && time <= after, `${key} ${metadata[key]}`);
  }
});

test('cdmi 47: container metadata create and update', async (t) => {
  const created = await cdmi(t, 'b47/', { method: 'PUT', headers: CC, body: JSON.stringify({ metadata: { my_metadata: 'my_dir_value' } }) });
  t.is(created.status, 201);
  t.is(created.json.metadata.my_metadata, 'my_dir_value');
  const updated = await cdmi(t, 'b47/', { method: 'PUT', headers: CC, body: JSON.stringify({ metadata: { my_metadata: 'new_value' } }) });
  t.is(updated.status, 204);
  const read = await cdmi(t, 'b47/?metadata:my', { headers: V });
  t.deepEqual(read.json, { metadata: { my_metadata: 'new_value' } });
});

test('cdmi 48: utf-8 and mimetype round trip', async (t) => {
  const created = await cdmi(t, 'b48', { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT, valuetransferencoding: 'utf-8', mimetype: 'text/plain' }) });
  t.is(created.json.mimetype, 'text/plain');
  const read = await cdmi(t, 'b48?value;mimetype;valuetransferencoding', { headers: V });
  t.deepEqual(read.json, { mimetype: 'text/plain', valuetransferencoding: 'utf-8', value: CONTENT });
});

test('cdmi 49: raw upload with utf-8 charset', async (t) => {
  t.is((await cdmi(t, 'b49', { method: 'PUT', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: CONTENT })).status, 201);
  const read = await cdmi(t, 'b49', { headers: V });
  t.is(read.json.mimetype, 'text/plain');
  t.is(read.json.valuetransferencoding, 'utf-8');
  t.is(read.json.value, CONTENT);
});

test('cdmi 50: wrong path form for type', async (t) => {
  const noSlash = await cdmi(t, 'b50', { method: 'PUT', headers: CC });
  t.is(noSlash.status, 400);
  t.is(noSlash.json.error.id, 'badValueIdentifier');
  t.is(noSlash.json.error.details.key, 'path');
  const slash = await cdmi(t, 'b50/', { method: 'PUT', headers: CO, body: '{}' });
  t.is(slash.status, 400);
  t.is(slash.json.error.id, 'badValueIdentifier');
  t.is((await cdmi(t, 'b50', { headers: V })).status, 404);
});

test('cdmi 51: invalid base64 value', async (t) => {
  const response = await cdmi(t, 'b51', { method: 'PUT', headers: CO, body: JSON.stringify({ valuetransferencoding: 'base64', value: '#$%' }) });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'badData');
  t.is(response.json.error.details.key, 'base64');
  t.is((await cdmi(t, 'b51', { headers: V })).status, 404);
});

test('cdmi 52: CDMI partial upload', async (t) => {
  const partial = { ...CO, 'X-CDMI-Partial': 'true' };
  const created = await cdmi(t, 'b52', { method: 'PUT', headers: partial, body: JSON.stringify({ value: 'some' }) });
  t.is(created.status, 201);
  t.is(created.json.completionStatus, 'Processing');
  t.is((await cdmi(t, 'b52?value:4-4', { method: 'PUT', headers: partial, body: JSON.stringify({ value: b64('_') }) })).status, 204);
  t.is((await cdmi(t, 'b52?completionStatus', { headers: V })).json.completionStatus, 'Processing');
  t.is((await cdmi(t, 'b52?value:5-9', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('value') }) })).status, 204);
  const read = await cdmi(t, 'b52', { headers: V });
  t.is(read.json.completionStatus, 'Complete');
  t.is(read.json.valuetransferencoding, 'utf-8');
  t.is(read.json.value, 'some_value');
});

test('cdmi 53: non-CDMI partial upload', async (t) => {
  t.is((await cdmi(t, 'b53', { method: 'PUT', headers: { 'X-CDMI-Partial': 'true' }, body: 'some' })).status, 201);
  t.is((await cdmi(t, 'b53?completionStatus', { headers: V })).json.completionStatus, 'Processing');
  t.is((await cdmi(t, 'b53', { method: 'PUT', headers: { 'Content-Range': 'bytes 4-4/10', 'X-CDMI-Partial': 'true' }, body: '_' })).status, 204);
  t.is((await cdmi(t, 'b53', { method: 'PUT', headers: { 'Content-Range': 'bytes 5-9/10', 'X-CDMI-Partial': 'false' }, body: 'value' })).status, 204);
  const read = await cdmi(t, 'b53', { headers: V });
  t.is(read.json.completionStatus, 'Complete');
  t.is(Buffer.from(read.json.value, 'base64').toString(), 'some_value');
});

// Metadata

async function fileWithUserMetadata(t: T, name: string): Promise<void> {
  const response = await cdmi(t, name, { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT, metadata: { my_metadata: 'my_value' } }) });
  t.is(response.status, 201);
}

test('cdmi 54: metadata only', async (t) => {
  await fileWithUserMetadata(t, 'b54');
  const response = await cdmi(t, 'b54?metadata', { headers: CO });
  t.deepEqual(Object.keys(response.json), ['metadata']);
  t.is(Object.keys(response.json.metadata).length, 6);
});

test('cdmi 55: metadata prefix filter', async (t) => {
  await fileWithUserMetadata(t, 'b55');
  t.is(Object.keys((await cdmi(t, 'b55?metadata:cdmi_', { headers: V })).json.metadata).length, 5);
  t.deepEqual(Object.keys((await cdmi(t, 'b55?metadata:cdmi_o', { headers: V })).json.metadata), ['cdmi_owner']);
  t.deepEqual((await cdmi(t, 'b55?metadata:cdmi_size', { headers: V })).json, { metadata: { cdmi_size: '13' } });
  t.deepEqual((await cdmi(t, 'b55?metadata:cdmi_no_such_metadata', { headers: V })).json, { metadata: {} });
});

test('cdmi 56: metadata replaced without names', async (t) => {
  await fileWithUserMetadata(t, 'b56');
  t.is((await cdmi(t, 'b56', { method: 'PUT', headers: CO, body: JSON.stringify({ metadata: { my_new_metadata: 'v' } }) })).status, 204);
  const read = await cdmi(t, 'b56?metadata:my', { headers: V });
  t.deepEqual(read.json.metadata, { my_new_metadata: 'v' });
});

test('cdmi 57: named metadata update', async (t) => {
  await fileWithUserMetadata(t, 'b57');
  const body = JSON.stringify({ metadata: { a: 'A', b: 'B', cdmi_not_allowed: 'x' } });
  t.is((await cdmi(t, 'b57?metadata:a;metadata:b;metadata:cdmi_not_allowed', { method: 'PUT', headers: CO, body })).status, 204);
  const read = await cdmi(t, 'b57?metadata', { headers: V });
  t.is(read.json.metadata.a, 'A');
  t.is(read.json.metadata.b, 'B');
  t.is(read.json.metadata.my_metadata, 'my_value');
  t.false('cdmi_not_allowed' in read.json.metadata);
  t.is(Object.keys((await cdmi(t, 'b57?metadata:cdmi_', { headers: V })).json.metadata).length, 5);
});

test('cdmi 58: named metadata delete', async (t) => {
  await cdmi(t, 'b58', { method: 'PUT', headers: CO, body: JSON.stringify({ value: 'x', metadata: { a: 'A', b: 'B' } }) });
  t.is((await cdmi(t, 'b58?metadata:a', { method: 'PUT', headers: CO, body: JSON.stringify({ metadata: { b: 'ignored' } }) })).status, 204);
  const read = await cdmi(t, 'b58?metadata', { headers: V });
  t.false('a' in read.json.metadata);
  t.is(read.json.metadata.b, 'B');
});

// Deleting

test('cdmi 59: delete files', async (t) => {
  await rawFile(t, 'b59a');
  await rawFile(t, 'b59b');
  t.is((await cdmi(t, 'b59a', { method: 'DELETE', headers: V })).status, 204);
  t.is((await cdmi(t, 'b59b', { method: 'DELETE', headers: V })).status, 204);
  t.is((await cdmi(t, 'b59a', { headers: V })).status, 404);
  t.is((await cdmi(t, 'b59b', { headers: V })).status, 404);
});

test('cdmi 60: delete containers recursively', async (t) => {
  await mkdir(t, 'b60');
  await mkdir(t, 'b60n');
  await mkdir(t, 'b60n/sub');
  await rawFile(t, 'b60n/sub/f');
  t.is((await cdmi(t, 'b60/', { method: 'DELETE', headers: CC })).status, 204);
  t.is((await cdmi(t, 'b60n/', { method: 'DELETE', headers: CC })).status, 204);
  t.is((await cdmi(t, 'b60n/', { headers: V })).status, 404);
});

test('cdmi 61: delete root is denied', async (t) => {
  const response = await send(t.context, '/cdmi/', { method: 'DELETE', headers: V });
  t.is(response.status, 403, 'standard: a permission denial is 403');
  t.is(response.json.error.id, 'posix');
  t.is(response.json.error.details.errno, 'eperm');
  t.is((await send(t.context, '/cdmi/', { headers: V })).status, 200);
});

test('cdmi 62: delete without version', async (t) => {
  await rawFile(t, 'b62');
  t.is((await cdmi(t, 'b62', { method: 'DELETE' })).status, 204);
});

// Updating

test('cdmi 63: replace value', async (t) => {
  await cdmi(t, 'b63', { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT }) });
  t.is((await cdmi(t, 'b63', { method: 'PUT', headers: CO, body: JSON.stringify({ value: 'New Value!' }) })).status, 204);
  t.is(await readRaw(t, 'b63'), 'New Value!');
});

test('cdmi 64: value range update', async (t) => {
  await cdmi(t, 'b64', { method: 'PUT', headers: CO, body: JSON.stringify({ value: 'New Value!' }) });
  t.is((await cdmi(t, 'b64?value:0-2', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('123') }) })).status, 204);
  t.is(await readRaw(t, 'b64'), '123 Value!');
});

test('cdmi 65: raw overwrite', async (t) => {
  await rawFile(t, 'b65', 'something longer than the new content');
  t.is((await cdmi(t, 'b65', { method: 'PUT', body: CONTENT })).status, 204);
  t.is(await readRaw(t, 'b65'), CONTENT);
});

test('cdmi 66: Content-Range write', async (t) => {
  await rawFile(t, 'b66');
  t.is((await cdmi(t, 'b66', { method: 'PUT', headers: { 'Content-Range': 'bytes 0-2/3' }, body: '123' })).status, 204);
  t.is(await readRaw(t, 'b66'), '123e content!');
});

test('cdmi 67: Content-Range with unknown total', async (t) => {
  await rawFile(t, 'b67', '123e content!');
  t.is((await cdmi(t, 'b67', { method: 'PUT', headers: { 'Content-Range': 'bytes 3-4/*' }, body: '00' })).status, 204);
  t.is(await readRaw(t, 'b67'), '12300content!');
});

test('cdmi 68: invalid Content-Range', async (t) => {
  await rawFile(t, 'b68');
  for (const range of ['bytes 0-2,3-4/*', 'bytes 0-5/*', 'bytes 3-1/*', 'items 0-4/*']) {
    const response = await cdmi(t, 'b68', { method: 'PUT', headers: { 'Content-Range': range }, body: '00000' });
    t.is(response.status, 400, range);
    t.is(response.json.error.id, 'badData', range);
    t.is(response.json.error.details.key, 'content-range', range);
  }
  t.is(await readRaw(t, 'b68'), CONTENT);
});

test('cdmi 69: range writes fill gaps with zeros', async (t) => {
  await createFile(t.context, 'b69', '');
  t.is((await cdmi(t, 'b69?value:0-3', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('data') }) })).status, 204);
  t.is(await readRaw(t, 'b69'), 'data');
  t.is((await cdmi(t, 'b69?value:10-13', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('data') }) })).status, 204);
  t.deepEqual((await cdmi(t, 'b69')).body, Buffer.concat([Buffer.from('data'), Buffer.alloc(6), Buffer.from('data')]));
});

test('cdmi 70: update encoding and mimetype only', async (t) => {
  await rawFile(t, 'b70');
  const body = JSON.stringify({ valuetransferencoding: 'utf-8', mimetype: 'application/binary' });
  t.is((await cdmi(t, 'b70', { method: 'PUT', headers: CO, body })).status, 204);
  const read = await cdmi(t, 'b70?mimetype;valuetransferencoding', { headers: V });
  t.deepEqual(read.json, { mimetype: 'application/binary', valuetransferencoding: 'utf-8' });
  t.is(await readRaw(t, 'b70'), CONTENT);
});

test('cdmi 71: defaults for a file made outside CDMI', async (t) => {
  await createFile(t.context, 'b71', CONTENT);
  const read = await cdmi(t, 'b71?mimetype;valuetransferencoding', { headers: V });
  t.deepEqual(read.json, { mimetype: 'application/octet-stream', valuetransferencoding: 'base64' });
});

test('cdmi 72: range write with wrong length', async (t) => {
  await rawFile(t, 'b72');
  const response = await cdmi(t, 'b72?value:0-9', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('123') }) });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'badData');
  t.is(response.json.error.details.key, 'range');
  t.is(await readRaw(t, 'b72'), CONTENT);
});

// Version and format handling

test('cdmi 73: missing object with version', async (t) => {
  t.is((await cdmi(t, 'random', { headers: V })).status, 404);
});

test('cdmi 74: unsupported version', async (t) => {
  const response = await cdmi(t, 'random', { headers: { 'X-CDMI-Specification-Version': '1.0.2' } });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'badVersion');
  t.deepEqual(response.json.error.details.supportedVersions, ['1.1.1', '1.1']);
});

test('cdmi 75: version header parsing', async (t) => {
  for (const version of ['1.1.1', 'aaa,1.1.1 ,aaa', '1.1']) {
    const response = await send(t.context, '/cdmi/', { headers: { 'X-CDMI-Specification-Version': version } });
    t.is(response.status, 200, version);
    t.is(response.headers['x-cdmi-specification-version'], '1.1.1', version);
  }
  for (const version of ['', '  ', ' ,', '1.0.2', '2.3.4', '1', '1.2', '1.2.3.4', 'aaaaa']) {
    const response = await send(t.context, '/cdmi/', { headers: { 'X-CDMI-Specification-Version': version } });
    t.is(response.status, 400, JSON.stringify(version));
    t.is(response.json.error.id, 'badVersion', JSON.stringify(version));
  }
});

test('cdmi 76: no content type is a plain write', async (t) => {
  t.is((await cdmi(t, 'b76.txt', { method: 'PUT', headers: V, body: JSON.stringify({ value: 'x' }) })).status, 201);
  t.is(await readRaw(t, 'b76.txt'), '{"value":"x"}');
  t.is((await cdmi(t, 'b76/', { method: 'PUT', headers: V, body: JSON.stringify({ metadata: '' }) })).status, 201);
});

test('cdmi 77: Accept */* on the root', async (t) => {
  t.is((await send(t.context, '/cdmi/', { headers: { ...V, Accept: '*/*' } })).status, 200);
});

// Move, copy and redirects

async function sourceFile(t: T, name: string): Promise<string> {
  const body = JSON.stringify({ value: CONTENT, mimetype: 'text/plain', metadata: { my_key: 'my_value' } });
  const response = await cdmi(t, name, { method: 'PUT', headers: CO, body });
  t.is(response.status, 201);
  await t.context.core.lfs.setJsonMetadata({ userId: t.context.admin.id, isAdmin: true }, response.json.objectID, { json: [1, 2] });
  return response.json.objectID as string;
}

test('cdmi 78: copy a file from path or id', async (t) => {
  const sourceId = await sourceFile(t, 'b78src');
  await mkdir(t, 'b78dir');
  await rawFile(t, 'b78dir/inner');
  const sources = ['/default/b78src', `/cdmi_objectid/${sourceId}`, `/cdmi_objectid/${t.context.space.dirId}/b78src`];
  for (const [index, source] of sources.entries()) {
    const response = await cdmi(t, `b78copy${index}`, { method: 'PUT', headers: CO, body: JSON.stringify({ copy: source }) });
    t.is(response.status, 201, source);
    t.not(response.json.objectID, sourceId);
    const read = await cdmi(t, `b78copy${index}`, { headers: V });
    t.is(read.json.value, CONTENT);
    t.is(read.json.mimetype, 'text/plain');
    t.is(read.json.metadata.my_key, 'my_value');
    t.deepEqual(read.json.metadata.onedata_json, { json: [1, 2] });
  }
  t.is((await cdmi(t, 'b78src', { headers: V })).json.value, CONTENT);
});

test('cdmi 79: copy a directory tree', async (t) => {
  await cdmi(t, 'b79/', { method: 'PUT', headers: CC, body: JSON.stringify({ metadata: { dir_key: 'v' } }) });
  await mkdir(t, 'b79/sub');
  await rawFile(t, 'b79/sub/f', 'deep');
  await rawFile(t, 'b79/top', 'top');
  const response = await cdmi(t, 'b79copy/', { method: 'PUT', headers: CC, body: JSON.stringify({ copy: '/default/b79/' }) });
  t.is(response.status, 201);
  t.is(response.json.metadata.dir_key, 'v');
  t.deepEqual((await cdmi(t, 'b79copy/', { headers: V })).json.children, ['sub/', 'top']);
  t.is(await readRaw(t, 'b79copy/sub/f'), 'deep');
  t.is(await readRaw(t, 'b79/sub/f'), 'deep');
  const inside = await cdmi(t, 'b79/sub/again/', { method: 'PUT', headers: CC, body: JSON.stringify({ copy: '/default/b79/' }) });
  t.is(inside.status, 400);
  t.is(inside.json.error.details.errno, 'einval');
});

test('cdmi 80: move a file keeps its id', async (t) => {
  const sourceId = await sourceFile(t, 'b80src');
  const response = await cdmi(t, 'b80dst', { method: 'PUT', headers: CO, body: JSON.stringify({ move: '/default/b80src' }) });
  t.is(response.status, 201);
  t.is(response.json.objectID, sourceId);
  t.is((await cdmi(t, 'b80src', { headers: V })).status, 404);
  const read = await cdmi(t, 'b80dst', { headers: V });
  t.is(read.json.value, CONTENT);
  t.is(read.json.metadata.my_key, 'my_value');
});

test('cdmi 81: move a directory', async (t) => {
  await mkdir(t, 'b81');
  await rawFile(t, 'b81/f', 'moved');
  const dirId = await lookupId(t, 'b81/');
  const response = await cdmi(t, 'b81moved/', { method: 'PUT', headers: CC, body: JSON.stringify({ move: `/cdmi_objectid/${dirId}` }) });
  t.is(response.status, 201);
  t.is(response.json.objectID, dirId);
  t.is((await cdmi(t, 'b81/', { headers: V })).status, 404);
  t.is(await readRaw(t, 'b81moved/f'), 'moved');
});

test('cdmi 82: slash on a file redirects', async (t) => {
  await rawFile(t, 'b82');
  const response = await cdmi(t, 'b82/', { headers: CO });
  t.is(response.status, 302);
  t.is(response.headers.location, '/cdmi/default/b82');
  t.is(response.headers['cache-control'], 'max-age=3600');
});

test('cdmi 83: missing slash on a dir redirects', async (t) => {
  await mkdir(t, 'b83');
  const plain = await cdmi(t, 'b83', { headers: CC });
  t.is(plain.status, 302);
  t.is(plain.headers.location, '/cdmi/default/b83/');
  const withQuery = await cdmi(t, 'b83?example_qs=1', { headers: CC });
  t.is(withQuery.status, 302);
  t.is(withQuery.headers.location, '/cdmi/default/b83/?example_qs=1');
});

test('cdmi 84: copy and move together', async (t) => {
  await rawFile(t, 'b84src');
  const response = await cdmi(t, 'b84', { method: 'PUT', headers: CO, body: JSON.stringify({ move: '/default/b84src', copy: '/default/b84src' }) });
  t.is(response.status, 400);
  t.is(response.json.error.id, 'malformedData');
  t.is(await readRaw(t, 'b84src'), CONTENT);
  t.is((await cdmi(t, 'b84', { headers: V })).status, 404);
});

// ACL and permissions

test('cdmi 85: set and read an ACL', async (t) => {
  await rawFile(t, 'b85');
  const acl = [
    { acetype: 'ALLOW', identifier: `admin#${t.context.admin.id}`, aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT, WRITE_OBJECT' },
    { acetype: '0x1', identifier: 'EVERYONE@', aceflags: '0x0', acemask: '0x40' },
  ];
  const put = await cdmi(t, 'b85?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: JSON.stringify({ metadata: { cdmi_acl: acl } }) });
  t.is(put.status, 204);
  const read = await cdmi(t, 'b85?metadata', { headers: V });
  t.is(Object.keys(read.json.metadata).length, 6);
  t.deepEqual(read.json.metadata.cdmi_acl, [
    { acetype: '0x0', identifier: `${t.context.admin.name}#${t.context.admin.id}`, aceflags: '0x0', acemask: '0x3' },
    { acetype: '0x1', identifier: 'EVERYONE@', aceflags: '0x0', acemask: '0x40' },
  ]);

  const invalid = await cdmi(t, 'b85?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: JSON.stringify({ metadata: { cdmi_acl: [{ identifier: 'x', acemask: 'FLY' }] } }) });
  t.is(invalid.status, 400);
  t.is(invalid.json.error.details.key, 'cdmi_acl');
  t.is((await cdmi(t, 'b85?metadata:cdmi_acl', { headers: V })).json.metadata.cdmi_acl.length, 2);
});

function aclBody(identifier: string, acemask: string): string {
  return JSON.stringify({ metadata: { cdmi_acl: [{ acetype: 'ALLOW', identifier, aceflags: 'NO_FLAGS', acemask }] } });
}

/** Create a non-admin member of the default space and return their token, so that ACLs apply to the requests. */
async function otherUser(t: T, name: string): Promise<string> {
  const { users, tokens, spaces } = t.context.core;
  const user = await users.create({ name, isAdmin: false });
  await spaces.addMember(t.context.space.spaceId, user.id);
  return (await tokens.create(user.id, { ttlSeconds: 3600 })).token;
}

test('cdmi 86: directory ACL denies child create', async (t) => {
  const token = await otherUser(t, 'user86');
  await mkdir(t, 'b86');
  await cdmi(t, 'b86/?metadata:cdmi_acl', { method: 'PUT', headers: CC, body: aclBody('EVERYONE@', 'WRITE_METADATA') });
  const response = await cdmi(t, 'b86/some_file', { method: 'PUT', body: 'x', token });
  t.is(response.status, 403);
  t.is(response.json.error.details.errno, 'eacces');
});

test('cdmi 87: write-only file ACL denies reads', async (t) => {
  const token = await otherUser(t, 'user87');
  await rawFile(t, 'b87');
  await cdmi(t, 'b87?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: aclBody('EVERYONE@', 'WRITE_OBJECT') });
  t.is((await cdmi(t, 'b87', { headers: V, token })).status, 403);
  t.is((await cdmi(t, 'b87', { token })).status, 403);
});

test('cdmi 88: read-only file ACL denies writes', async (t) => {
  const token = await otherUser(t, 'user88');
  await rawFile(t, 'b88');
  await cdmi(t, 'b88?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: aclBody('EVERYONE@', 'READ_OBJECT, WRITE_ACL') });
  t.is((await cdmi(t, 'b88', { method: 'PUT', headers: CO, body: '{"value":"no"}', token })).status, 403);
  t.is((await cdmi(t, 'b88', { method: 'PUT', body: 'no', token })).status, 403);
  t.is(await readRaw(t, 'b88'), CONTENT);
});

test('cdmi 89: read-only file ACL denies delete', async (t) => {
  const token = await otherUser(t, 'user89');
  await rawFile(t, 'b89');
  await cdmi(t, 'b89?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: aclBody('EVERYONE@', 'READ_OBJECT') });
  t.is((await cdmi(t, 'b89', { method: 'DELETE', token })).status, 403);
});

test('cdmi 90: write-only directory ACL denies listing', async (t) => {
  const token = await otherUser(t, 'user90');
  await mkdir(t, 'b90');
  await cdmi(t, 'b90/?metadata:cdmi_acl', { method: 'PUT', headers: CC, body: aclBody('EVERYONE@', 'ADD_OBJECT') });
  t.is((await cdmi(t, 'b90/', { headers: V, token })).status, 403);
});

test('cdmi 91: denied open is 403', async (t) => {
  const token = await otherUser(t, 'user91');
  await rawFile(t, 'b91');
  await cdmi(t, 'b91?metadata:cdmi_acl', { method: 'PUT', headers: CO, body: aclBody('EVERYONE@', 'READ_METADATA') });
  t.is((await cdmi(t, 'b91', { token })).status, 403);
  t.is((await cdmi(t, 'b91', { headers: V, token })).status, 403);
});

// Bad input beyond the numbered behaviours

test('bad input changes nothing', async (t) => {
  await rawFile(t, 'bad');
  const cases: Array<[string, Record<string, string>, string, number]> = [
    ['bad', CO, '{"value": "x"', 400],
    ['bad', CO, '[1,2]', 400],
    ['bad', CO, '{"value":"x","colour":"red"}', 400],
    ['bad', CO, '{"valuetransferencoding":"latin1","value":"x"}', 400],
    ['bad', CO, '{"metadata":"not an object","value":"x"}', 400],
    ['bad', CO, '{"value":"x","value":"y"}', 400],
    ['bad', CO, '{"copy":"/default/nowhere"}', 400],
    ['bad/', CC, '{"metadata":{},"shape":"round"}', 400],
  ];
  for (const [path, headers, body, status] of cases) {
    const response = await cdmi(t, path, { method: 'PUT', headers, body });
    t.true(response.status >= 400 && response.status < 500, `${body}: ${response.status}`);
    if (status === 400 && path === 'bad') t.is(response.status, 400, body);
    t.is(typeof response.json?.error?.description, 'string', body);
  }
  t.is(await readRaw(t, 'bad'), CONTENT);
  t.is((await cdmi(t, 'bad?metadata:my', { headers: V })).json.metadata.colour, undefined);
});

test('bad object id and reserved names', async (t) => {
  const fileId = await createFile(t.context, 'crc', CONTENT);
  const badCrc = await send(t.context, `/cdmi/cdmi_objectid/${withBadCrc(fileId)}`, { headers: V });
  t.is(badCrc.status, 400);
  t.is(badCrc.json.error.id, 'badValueIdentifier');

  const reserved = await cdmi(t, 'cdmi_mine/', { method: 'PUT', headers: CC });
  t.is(reserved.status, 400);
  t.is(reserved.json.error.details.key, 'path');
  t.is((await cdmi(t, 'cdmi_file', { method: 'PUT', body: 'x' })).status, 400);
});

test('Accept negotiation on data objects', async (t) => {
  await cdmi(t, 'accept', { method: 'PUT', headers: CO, body: JSON.stringify({ value: 'hello', mimetype: 'text/plain' }) });
  const binary = await cdmi(t, 'accept', { headers: { ...V, Accept: 'application/binary' } });
  t.is(binary.text, 'hello');
  const typed = await cdmi(t, 'accept', { headers: { ...V, Accept: 'text/plain' } });
  t.is(typed.text, 'hello');
  t.regex(typed.headers['content-type'] ?? '', /^text\/plain/);
  const json = await cdmi(t, 'accept', { headers: { ...V, Accept: 'application/cdmi-object' } });
  t.is(json.json.value, 'hello');
  t.is((await cdmi(t, 'accept', { headers: { ...V, Accept: 'image/png' } })).status, 406);
  t.is((await cdmi(t, 'accept', { headers: { Accept: 'application/cdmi-object' } })).status, 400);
  t.is((await send(t.context, '/cdmi/', { headers: { ...V, Accept: 'text/html' } })).status, 406);
});

test('utf-8 values are JSON-escaped', async (t) => {
  const text = 'quote " backslash \\ newline \n tab \t emoji 😀 nul \u0000';
  await cdmi(t, 'escape', { method: 'PUT', headers: CO, body: JSON.stringify({ value: text }) });
  const read = await cdmi(t, 'escape', { headers: V });
  t.is(read.json.value, text);
  t.is(await readRaw(t, 'escape'), text);
});
