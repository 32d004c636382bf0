import test, { type ExecutionContext } from 'ava';
import type { SpaceInfo } from '@op-worker/core';
import { startProviderOnEveryStorage, STORAGE_TYPES, type ProviderOnEveryStorage, type StorageType } from '../src/servers/provider.js';
import { REST, send, type HttpResponse, type WorkerProcess } from '../src/servers/worker.js';

/**
 * The CDMI scenarios of `server/test/cdmi-behaviours.test.ts` that touch storage
 * (containers, values, ranges, partial writes, copy, move, delete) and metadata, run
 * through the real `op-worker` binary on a space of each storage type. moto, sshd and
 * Azurite are started once for this file; each test works in a directory of its own.
 */


const V = { 'X-CDMI-Specification-Version': '1.1.1' };
const CO = { ...V, 'Content-Type': 'application/cdmi-object' };
const CC = { ...V, 'Content-Type': 'application/cdmi-container' };
const CONTENT = 'File content!';

let provider: ProviderOnEveryStorage;
let worker: WorkerProcess;

test.before(async () => {
  provider = await startProviderOnEveryStorage('cdmi');
  worker = provider.worker;
});

test.after.always(async () => {
  await provider?.stop();
});

function spaceOf(type: StorageType): SpaceInfo {
  return provider.spaceOf(type);
}

interface CdmiRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Send a CDMI request to `/cdmi/<space name>/<relative>`, with `relative` sent unencoded. */
function cdmi(space: SpaceInfo, relative: string, options: CdmiRequest = {}): Promise<HttpResponse> {
  return cdmiAt(`/cdmi/${encodeURIComponent(space.name)}/${relative}`, options);
}

function cdmiAt(requestPath: string, options: CdmiRequest = {}): Promise<HttpResponse> {
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  return send(worker, requestPath, { method: options.method ?? 'GET', headers: options.headers ?? {}, ...(body === undefined ? {} : { body }) });
}

async function mkdir(t: ExecutionContext, space: SpaceInfo, relative: string): Promise<void> {
  const response = await cdmi(space, `${relative}/`, { method: 'PUT', headers: CC, body: '{}' });
  t.is(response.status, 201, `mkdir ${relative}: ${response.body.toString()}`);
}

async function rawFile(t: ExecutionContext, space: SpaceInfo, relative: string, content: string | Buffer = CONTENT): Promise<void> {
  const response = await cdmi(space, relative, { method: 'PUT', body: content });
  t.true(response.status === 201 || response.status === 204, `creating ${relative}: ${response.status} ${response.body.toString()}`);
}

async function readRaw(space: SpaceInfo, relative: string): Promise<Buffer> {
  return (await cdmi(space, relative)).body;
}

async function objectIdOf(space: SpaceInfo, relative: string): Promise<string> {
  return (await cdmi(space, `${relative}?objectID`, { headers: V })).json().objectID as string;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

for (const type of STORAGE_TYPES) {
  test(`cdmi on ${type}: containers, children and childrenrange`, async (t) => {
    const space = spaceOf(type);
    await mkdir(t, space, 'c');
    await mkdir(t, space, 'c/sub');
    for (let index = 0; index < 12; index += 1) await rawFile(t, space, `c/${index}`, String(index));

    const listed = await cdmi(space, 'c/', { headers: V });
    t.is(listed.status, 200);
    t.is(listed.headers['content-type'], 'application/cdmi-container');
    t.is(listed.json().objectType, 'application/cdmi-container');
    t.is(listed.json().childrenrange, '0-12');
    t.deepEqual(listed.json().children, ['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9', 'sub/']);

    const ranged = await cdmi(space, 'c/?children:2-5;childrenrange', { headers: V });
    t.deepEqual(ranged.json(), { children: ['10', '11', '2', '3'], childrenrange: '2-5' });

    t.deepEqual((await cdmi(space, 'c/sub/?children;objectName', { headers: V })).json(), { objectName: 'sub/', children: [] });
  });

  test(`cdmi on ${type}: create data objects as CDMI JSON and plain bodies`, async (t) => {
    const space = spaceOf(type);
    await mkdir(t, space, 'o');

    const utf8 = await cdmi(space, 'o/utf8', { method: 'PUT', headers: CO, body: JSON.stringify({ value: 'zażółć', mimetype: 'text/plain' }) });
    t.is(utf8.status, 201, utf8.body.toString());
    t.is(utf8.json().objectName, 'utf8');
    t.is(utf8.json().parentURI, `/${space.name}/o/`);
    const utf8Read = await cdmi(space, 'o/utf8', { headers: V });
    t.is(utf8Read.json().value, 'zażółć');
    t.is(utf8Read.json().valuetransferencoding, 'utf-8');
    t.is(utf8Read.json().mimetype, 'text/plain');

    const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
    const base64 = await cdmi(space, 'o/base64', { method: 'PUT', headers: CO, body: JSON.stringify({ valuetransferencoding: 'base64', value: bytes.toString('base64') }) });
    t.is(base64.status, 201, base64.body.toString());
    t.deepEqual(await readRaw(space, 'o/base64'), bytes);

    const plain = await cdmi(space, 'o/plain', { method: 'PUT', headers: { 'Content-Type': 'application/binary' }, body: CONTENT });
    t.is(plain.status, 201);
    t.is((await readRaw(space, 'o/plain')).toString(), CONTENT);
    t.is((await cdmi(space, 'o/plain', { method: 'PUT', body: 'short' })).status, 204);
    t.is((await readRaw(space, 'o/plain')).toString(), 'short');

    const empty = await cdmi(space, 'o/empty', { method: 'PUT', headers: CO });
    t.is(empty.status, 201);
    const emptyRead = await cdmi(space, 'o/empty', { headers: V });
    t.is(emptyRead.json().value, '');
    t.is(emptyRead.json().metadata.cdmi_size, '0');
  });

  test(`cdmi on ${type}: full, value range and Range reads`, async (t) => {
    const space = spaceOf(type);
    await rawFile(t, space, 'read');

    const full = await cdmi(space, 'read', { headers: V });
    t.is(full.status, 200);
    t.is(Buffer.from(full.json().value, 'base64').toString(), CONTENT);
    t.is(full.json().valuerange, '0-12');
    t.is(full.json().metadata.cdmi_size, '13');

    const valueRange = await cdmi(space, 'read?value:1-3;valuerange', { headers: V });
    t.deepEqual(valueRange.json(), { value: b64('ile'), valuerange: '1-3' });

    const single = await cdmi(space, 'read', { headers: { Range: 'bytes=5-8' } });
    t.is(single.status, 206);
    t.is(single.headers['content-range'], 'bytes 5-8/13');
    t.is(single.body.toString(), 'cont');

    const multi = await cdmi(space, 'read', { headers: { Range: 'bytes=1-3,5-5,-3' } });
    t.is(multi.status, 206);
    const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(multi.headers['content-type'] ?? '')?.[1];
    t.truthy(boundary);
    const parts = multi.body.toString().split(`--${boundary}`).slice(1, -1);
    const expected = [['1-3/13', 'ile'], ['5-5/13', 'c'], ['10-12/13', 'nt!']];
    t.is(parts.length, expected.length);
    parts.forEach((part, index) => {
      t.true(part.toLowerCase().includes(`content-range: bytes ${expected[index]?.[0]}`), part);
      t.is(part.split('\r\n\r\n')[1]?.replace(/\r\n$/, ''), expected[index]?.[1]);
    });

    t.is((await cdmi(space, 'read', { headers: { Range: 'bytes=20-30' } })).status, 416);
  });

  test(`cdmi on ${type}: partial writes fill gaps with zeros`, async (t) => {
    const space = spaceOf(type);
    await rawFile(t, space, 'partial', '');

    // Range writes need `write_at_offset`, so the space's data object capabilities must list them.
    const uri = (await cdmi(space, 'partial?capabilitiesURI', { headers: V })).json().capabilitiesURI as string;
    const capabilities = (await cdmiAt(`/cdmi/${uri}`, { headers: V })).json().capabilities as Record<string, string>;
    t.is(capabilities['cdmi_modify_value_range'], 'true', `${uri} of a ${type} space`);

    t.is((await cdmi(space, 'partial?value:0-3', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('data') }) })).status, 204);
    t.is((await cdmi(space, 'partial?value:10-13', { method: 'PUT', headers: CO, body: JSON.stringify({ value: b64('DATA') }) })).status, 204);
    t.deepEqual(await readRaw(space, 'partial'), Buffer.concat([Buffer.from('data'), Buffer.alloc(6), Buffer.from('DATA')]));

    t.is((await cdmi(space, 'partial', { method: 'PUT', headers: { 'Content-Range': 'bytes 2-3/*' }, body: '00' })).status, 204);
    t.is((await cdmi(space, 'partial', { method: 'PUT', headers: { 'Content-Range': 'bytes 18-19/20' }, body: 'ok' })).status, 204);
    const expected = Buffer.concat([Buffer.from('da00'), Buffer.alloc(6), Buffer.from('DATA'), Buffer.alloc(4), Buffer.from('ok')]);
    t.deepEqual(await readRaw(space, 'partial'), expected);
    t.is((await cdmi(space, 'partial?metadata:cdmi_size', { headers: V })).json().metadata.cdmi_size, '20');
  });

  test(`cdmi on ${type}: metadata set, update and delete per key`, async (t) => {
    const space = spaceOf(type);
    const created = await cdmi(space, 'meta', { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT, metadata: { a: 'A', b: 'B' } }) });
    t.is(created.status, 201);

    const update = JSON.stringify({ metadata: { b: 'B2', c: 'C', cdmi_not_allowed: 'x' } });
    t.is((await cdmi(space, 'meta?metadata:b;metadata:c;metadata:cdmi_not_allowed', { method: 'PUT', headers: CO, body: update })).status, 204);
    t.is((await cdmi(space, 'meta?metadata:a', { method: 'PUT', headers: CO, body: JSON.stringify({ metadata: {} }) })).status, 204);

    const user = (await cdmi(space, 'meta?metadata', { headers: V })).json().metadata as Record<string, string>;
    t.deepEqual(Object.fromEntries(Object.entries(user).filter(([key]) => !key.startsWith('cdmi_'))), { b: 'B2', c: 'C' });
    t.is(user['cdmi_size'], '13');

    await mkdir(t, space, 'metadir');
    t.is((await cdmi(space, 'metadir/', { method: 'PUT', headers: CC, body: JSON.stringify({ metadata: { d: 'D' } }) })).status, 204);
    t.is((await cdmi(space, 'metadir/?metadata:d', { headers: V })).json().metadata.d, 'D');
    t.is((await readRaw(space, 'meta')).toString(), CONTENT);
  });

  test(`cdmi on ${type}: copy and move by path and by object id`, async (t) => {
    const space = spaceOf(type);
    await mkdir(t, space, 'cm');
    const source = await cdmi(space, 'cm/src', { method: 'PUT', headers: CO, body: JSON.stringify({ value: CONTENT, mimetype: 'text/plain', metadata: { k: 'v' } }) });
    const sourceId = source.json().objectID as string;
    await mkdir(t, space, 'cm/tree');
    await mkdir(t, space, 'cm/tree/sub');
    await rawFile(t, space, 'cm/tree/sub/deep', 'deep');
    await rawFile(t, space, 'cm/tree/top', 'top');

    for (const [name, from] of [['byPath', `/${space.name}/cm/src`], ['byId', `/cdmi_objectid/${sourceId}`]] as const) {
      const copied = await cdmi(space, `cm/${name}`, { method: 'PUT', headers: CO, body: JSON.stringify({ copy: from }) });
      t.is(copied.status, 201, `${from}: ${copied.body.toString()}`);
      t.not(copied.json().objectID, sourceId);
      const read = await cdmi(space, `cm/${name}`, { headers: V });
      t.is(read.json().value, CONTENT);
      t.is(read.json().metadata.k, 'v');
    }

    const treeId = await objectIdOf(space, 'cm/tree/');
    const treeCopy = await cdmi(space, 'cm/treecopy/', { method: 'PUT', headers: CC, body: JSON.stringify({ copy: `/cdmi_objectid/${treeId}` }) });
    t.is(treeCopy.status, 201, treeCopy.body.toString());
    t.deepEqual((await cdmi(space, 'cm/treecopy/', { headers: V })).json().children, ['sub/', 'top']);
    t.is((await readRaw(space, 'cm/treecopy/sub/deep')).toString(), 'deep');

    const moved = await cdmi(space, 'cm/moved', { method: 'PUT', headers: CO, body: JSON.stringify({ move: `/${space.name}/cm/src` }) });
    t.is(moved.status, 201, moved.body.toString());
    t.is(moved.json().objectID, sourceId);
    t.is((await cdmi(space, 'cm/src', { headers: V })).status, 404);
    t.is((await readRaw(space, 'cm/moved')).toString(), CONTENT);

    const treeMoved = await cdmi(space, 'cm/treemoved/', { method: 'PUT', headers: CC, body: JSON.stringify({ move: `/cdmi_objectid/${treeId}` }) });
    t.is(treeMoved.status, 201, treeMoved.body.toString());
    t.is(treeMoved.json().objectID, treeId);
    t.is((await cdmi(space, 'cm/tree/', { headers: V })).status, 404);
    t.is((await readRaw(space, 'cm/treemoved/sub/deep')).toString(), 'deep');
    t.is((await readRaw(space, 'cm/treemoved/top')).toString(), 'top');
    t.is((await readRaw(space, 'cm/treecopy/top')).toString(), 'top');
  });

  test(`cdmi on ${type}: delete files and containers`, async (t) => {
    const space = spaceOf(type);
    await mkdir(t, space, 'del');
    await mkdir(t, space, 'del/sub');
    await rawFile(t, space, 'del/sub/f');
    await rawFile(t, space, 'del/g');

    t.is((await cdmi(space, 'del/g', { method: 'DELETE', headers: V })).status, 204);
    t.is((await cdmi(space, 'del/g', { headers: V })).status, 404);
    t.is((await cdmi(space, 'del/', { method: 'DELETE', headers: CC })).status, 204);
    t.is((await cdmi(space, 'del/', { headers: V })).status, 404);
    t.is((await cdmi(space, 'del/sub/f', { headers: V })).status, 404);
  });
}
