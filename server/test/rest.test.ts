import 'reflect-metadata';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { TokenService } from '@op-worker/core';
import { API, createFile, sendRaw, startTestWorker, withBadCrc, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

const test = anyTest as TestFn<TestWorker>;

test.beforeEach(async (t) => {
  t.context = await startTestWorker();
});

test.afterEach.always(async (t) => {
  await t.context.close();
});

function assertErrorBody(t: { is: (a: unknown, b: unknown, m?: string) => void; true: (a: boolean, m?: string) => void }, json: any, id: string): void {
  t.is(typeof json?.error, 'object', 'body has an error object');
  t.is(json.error.id, id);
  t.true(typeof json.error.description === 'string' && json.error.description.length > 0, 'error has a description');
}

test('public health and configuration', async (t) => {
  for (const route of ['/health', `${API}/health`]) {
    const response = await send(t.context, route, { token: null });
    t.is(response.status, 200, route);
    t.deepEqual(response.json, { status: 'healthy' });
  }
  for (const route of ['/configuration', `${API}/configuration`]) {
    const response = await send(t.context, route, { token: null });
    t.is(response.status, 200, route);
    t.is(response.json.providerId, 'test-provider');
    t.is(response.json.version, '0.1.0');
  }
});

test('missing token is 401', async (t) => {
  const response = await send(t.context, `${API}/spaces`, { token: null });
  t.is(response.status, 401);
  assertErrorBody(t, response.json, 'unauthorized');
  t.truthy(response.headers['x-request-id']);
});

test('invalid, expired and revoked tokens are 401', async (t) => {
  const { core, admin } = t.context;
  const pastClock = { now: () => Date.now() - 3_600_000 };
  const expired = await new TokenService(core.store, pastClock).create(admin.id, { ttlSeconds: 60 });
  const revoked = await core.tokens.create(admin.id);
  await core.tokens.revoke(revoked.tokenId);

  const cases = { garbage: 'not-a-token', tampered: `${t.context.token}x`, expired: expired.token, revoked: revoked.token };
  for (const [name, token] of Object.entries(cases)) {
    const response = await send(t.context, `${API}/spaces`, { token });
    t.is(response.status, 401, name);
    assertErrorBody(t, response.json, 'unauthorized');
  }
});

test('bearer header authenticates', async (t) => {
  const response = await send(t.context, `${API}/spaces`, {
    token: null,
    headers: { Authorization: `Bearer ${t.context.token}` },
  });
  t.is(response.status, 200);
  t.deepEqual(response.json, [{ spaceId: t.context.space.spaceId, name: 'default' }]);
});

test('space details', async (t) => {
  const { space } = t.context;
  const response = await send(t.context, `${API}/spaces/${space.spaceId}`);
  t.is(response.status, 200);
  t.is(response.json.dirId, space.dirId);
  t.is(response.json.name, 'default');
  t.deepEqual(response.json.providers, [{ providerId: 'test-provider', providerName: 'test' }]);

  const missing = await send(t.context, `${API}/spaces/nope`);
  t.is(missing.status, 404);
});

test('create, lookup and download file', async (t) => {
  const { space } = t.context;
  const created = await send(t.context, `${API}/data/${space.dirId}/children?name=hello.txt&mode=420`, {
    method: 'POST',
    body: 'hello world',
  });
  t.is(created.status, 201);
  t.regex(created.headers.location ?? '', new RegExp(`^http://127\\.0\\.0\\.1:\\d+${API}/data/${created.json.fileId}$`));

  const lookup = await send(t.context, `${API}/lookup-file-id/default/hello.txt`, { method: 'POST' });
  t.is(lookup.status, 200);
  t.is(lookup.json.fileId, created.json.fileId);

  const content = await send(t.context, `${API}/data/${created.json.fileId}/content`);
  t.is(content.status, 200);
  t.is(content.text, 'hello world');
  t.is(content.headers['content-length'], '11');

  const attributes = await send(t.context, `${API}/data/${created.json.fileId}`);
  t.is(attributes.json.posixPermissions, '644');
  t.is(attributes.json.size, 11);
  t.is(attributes.json.type, 'REG');
  t.is(attributes.json.parentFileId, space.dirId);
  t.is(attributes.json.path, '/default/hello.txt');
});

test('existing name is rejected', async (t) => {
  await createFile(t.context, 'twice', 'a');
  const again = await send(t.context, `${API}/data/${t.context.space.dirId}/children?name=twice`, { method: 'POST', body: 'b' });
  t.is(again.status, 400);
  assertErrorBody(t, again.json, 'posix');
  t.is(again.json.error.details.errno, 'eexist');
});

test('bad file id CRC is 400', async (t) => {
  const fileId = await createFile(t.context, 'crc.txt', 'x');
  const response = await send(t.context, `${API}/data/${withBadCrc(fileId)}/content`);
  t.is(response.status, 400);
  assertErrorBody(t, response.json, 'badValueIdentifier');

  const notHex = await send(t.context, `${API}/data/xyz/content`);
  t.is(notHex.status, 400);
  assertErrorBody(t, notHex.json, 'badValueIdentifier');
});

test('missing file is 404', async (t) => {
  const fileId = await createFile(t.context, 'gone.txt', 'x');
  t.is((await send(t.context, `${API}/data/${fileId}`, { method: 'DELETE' })).status, 204);

  const response = await send(t.context, `${API}/data/${fileId}/content`);
  t.is(response.status, 404);
  t.is(typeof response.json.error.id, 'string');

  const lookup = await send(t.context, `${API}/lookup-file-id/default/gone.txt`, { method: 'POST' });
  t.is(lookup.status, 404);
});

test('single range is 206', async (t) => {
  const fileId = await createFile(t.context, 'range.txt', '0123456789');
  const response = await send(t.context, `${API}/data/${fileId}/content`, { headers: { Range: 'bytes=2-5' } });
  t.is(response.status, 206);
  t.is(response.text, '2345');
  t.is(response.headers['content-range'], 'bytes 2-5/10');

  const suffix = await send(t.context, `${API}/data/${fileId}/content`, { headers: { Range: 'bytes=-3' } });
  t.is(suffix.status, 206);
  t.is(suffix.text, '789');
  t.is(suffix.headers['content-range'], 'bytes 7-9/10');
});

test('several ranges are multipart', async (t) => {
  const fileId = await createFile(t.context, 'multi.txt', 'File content!');
  const response = await send(t.context, `${API}/data/${fileId}/content`, { headers: { Range: 'bytes=1-3,5-5,-3' } });
  t.is(response.status, 206);

  const boundary = /boundary=(\S+)/.exec(response.headers['content-type'] ?? '')?.[1];
  t.truthy(boundary);
  t.is(Number(response.headers['content-length']), response.body.length);
  const parts = response.text.split(`--${boundary}`).slice(1, -1);
  t.is(parts.length, 3);
  const expected = [
    ['bytes 1-3/13', 'ile'],
    ['bytes 5-5/13', 'c'],
    ['bytes 10-12/13', 'nt!'],
  ];
  parts.forEach((part, index) => {
    const [head = '', body = ''] = part.split('\r\n\r\n');
    t.true(head.includes(`Content-Range: ${expected[index]?.[0]}`), `part ${index} range`);
    t.is(body.replace(/\r\n$/, ''), expected[index]?.[1] ?? '');
  });
});

test('unsatisfiable range is 416', async (t) => {
  const fileId = await createFile(t.context, 'short.txt', '0123456789');
  for (const range of ['bytes=100-150', 'bytes=10-5', 'unicorns', 'bytes=5=10']) {
    const response = await send(t.context, `${API}/data/${fileId}/content`, { headers: { Range: range } });
    t.is(response.status, 416, range);
    t.is(response.headers['content-range'], 'bytes */10', range);
    assertErrorBody(t, response.json, 'rangeNotSatisfiable');
  }

  const empty = await createFile(t.context, 'empty.txt', '');
  const response = await send(t.context, `${API}/data/${empty}/content`, { headers: { Range: 'bytes=10-15' } });
  t.is(response.status, 416);
  t.is(response.headers['content-range'], 'bytes */0');
});

test('content replace and offset write', async (t) => {
  const fileId = await createFile(t.context, 'edit.txt', 'File content!');

  const atOffset = await send(t.context, `${API}/data/${fileId}/content?offset=5`, { method: 'PUT', body: 'CONT' });
  t.is(atOffset.status, 204);
  t.is((await send(t.context, `${API}/data/${fileId}/content`)).text, 'File CONTent!');

  const pastEnd = await send(t.context, `${API}/data/${fileId}/content?offset=15`, { method: 'PUT', body: 'X' });
  t.is(pastEnd.status, 204);
  const grown = await send(t.context, `${API}/data/${fileId}/content`);
  t.deepEqual(grown.body, Buffer.concat([Buffer.from('File CONTent!'), Buffer.alloc(2), Buffer.from('X')]));

  const replaced = await send(t.context, `${API}/data/${fileId}/content`, { method: 'PUT', body: 'new' });
  t.is(replaced.status, 204);
  t.is((await send(t.context, `${API}/data/${fileId}/content`)).text, 'new');
  t.is((await send(t.context, `${API}/data/${fileId}`)).json.size, 3);
});

test('path routes create, read and delete', async (t) => {
  const { space } = t.context;
  const withoutParents = await send(t.context, `${API}/data/${space.dirId}/path/a/b/c.txt`, { method: 'PUT', body: 'abc' });
  t.is(withoutParents.status, 404);

  const created = await send(t.context, `${API}/data/${space.dirId}/path/a/b/c.txt?create_parents=true`, { method: 'PUT', body: 'abc' });
  t.is(created.status, 201);
  const read = await send(t.context, `${API}/data/${space.dirId}/path/a/b/c.txt`);
  t.is(read.text, 'abc');

  const encoded = await send(t.context, `${API}/data/${space.dirId}/path/a/b/with%20space.txt?create_parents=true`, { method: 'PUT', body: 's' });
  t.is(encoded.status, 201);
  const lookup = await send(t.context, `${API}/lookup-file-id/default/a/b/with%20space.txt`, { method: 'POST' });
  t.is(lookup.json.fileId, encoded.json.fileId);

  const removed = await send(t.context, `${API}/data/${space.dirId}/path/a`, { method: 'DELETE' });
  t.is(removed.status, 204);
  t.is((await send(t.context, `${API}/lookup-file-id/default/a/b/c.txt`, { method: 'POST' })).status, 404);
});

test('traversal in paths is 400', async (t) => {
  const { space, dataDir, root } = t.context;
  const before = await readdir(root);
  const attempts = [
    `${API}/data/${space.dirId}/path/../../escape.txt?create_parents=true`,
    `${API}/data/${space.dirId}/path/%2e%2e%2f%2e%2e%2fescape.txt?create_parents=true`,
    `${API}/data/${space.dirId}/path/%2e%2e/escape.txt?create_parents=true`,
    `${API}/data/${space.dirId}/path/x/..%2f..%2f..%2fescape.txt?create_parents=true`,
    `${API}/data/${space.dirId}/path/%252e%252e%252fescape.txt?create_parents=true`,
    `${API}/data/${space.dirId}/path/a%00b?create_parents=true`,
  ];
  for (const attempt of attempts) {
    const response = await send(t.context, attempt, { method: 'PUT', body: 'evil' });
    t.is(response.status, 400, attempt);
    t.is(typeof response.json?.error?.description, 'string', attempt);
  }

  const lookups = [`${API}/lookup-file-id/default/../etc/passwd`, `${API}/lookup-file-id/%2e%2e%2fetc%2fpasswd`];
  for (const attempt of lookups) {
    t.is((await send(t.context, attempt, { method: 'POST' })).status, 400, attempt);
  }

  t.deepEqual(await readdir(root), before);
  t.deepEqual(await readdir(path.dirname(path.join(dataDir, 'storage'))), (await readdir(dataDir)));
  const spaceEntries = await readdir(path.join(dataDir, 'storage', space.spaceId)).catch(() => []);
  t.deepEqual(spaceEntries, []);
});

test('listing pages with tokens', async (t) => {
  const names = Array.from({ length: 25 }, (_, index) => `file-${String(index).padStart(2, '0')}`);
  for (const name of names) await createFile(t.context, name, name);

  const seen: string[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const query: string = token === null ? 'limit=10&attributes=name,size' : `limit=10&attributes=name&token=${encodeURIComponent(token)}`;
    const response = await send(t.context, `${API}/data/${t.context.space.dirId}/children?${query}`);
    t.is(response.status, 200, response.text);
    for (const child of response.json.children) seen.push(child.name);
    token = response.json.isLast ? null : response.json.nextPageToken;
    pages += 1;
  } while (token !== null && pages < 10);

  t.deepEqual(seen, names);
  t.is(pages, 3);
});

test('listing options in JSON body', async (t) => {
  for (const name of ['a', 'b', 'c']) await createFile(t.context, name, name);
  const response = await send(t.context, `${API}/data/${t.context.space.dirId}/children`, {
    body: JSON.stringify({ limit: 2, attributes: ['name', 'xattr.color'] }),
    headers: { 'Content-Type': 'application/json' },
  });
  t.is(response.status, 200);
  t.deepEqual(response.json.children, [
    { name: 'a', 'xattr.color': null },
    { name: 'b', 'xattr.color': null },
  ]);
  t.false(response.json.isLast);
});

test('invalid parameters name the parameter', async (t) => {
  const dir = t.context.space.dirId;
  const cases: Array<[string, string, string]> = [
    [`${API}/data/${dir}/children?limit=abc`, 'GET', 'limit'],
    [`${API}/data/${dir}/children?limit=5000`, 'GET', 'limit'],
    [`${API}/data/${dir}/children?bogus=1`, 'GET', 'bogus'],
    [`${API}/data/${dir}/children?type=REG`, 'POST', 'name'],
    [`${API}/data/${dir}/children?name=x&type=LINK`, 'POST', 'type'],
    [`${API}/data/${dir}/children?attributes=nonsense`, 'GET', 'attributes'],
  ];
  for (const [url, method, key] of cases) {
    const response = await send(t.context, url, { method });
    t.is(response.status, 400, url);
    t.is(response.json.error.details.key, key, url);
    t.true(response.json.error.description.includes(key), url);
  }
});

test('set mode and delete', async (t) => {
  const fileId = await createFile(t.context, 'mode.txt', 'x');
  t.is((await send(t.context, `${API}/data/${fileId}`, { method: 'PUT', body: '{"mode":"0600"}' })).status, 204);
  t.is((await send(t.context, `${API}/data/${fileId}`)).json.posixPermissions, '600');

  const bad = await send(t.context, `${API}/data/${fileId}`, { method: 'PUT', body: '{"mode":"999"}' });
  t.is(bad.status, 400);
  t.is(bad.json.error.details.key, 'mode');

  t.is((await send(t.context, `${API}/data/${fileId}`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${API}/data/${fileId}`)).status, 404);
});

test('xattrs and JSON metadata', async (t) => {
  const fileId = await createFile(t.context, 'meta.txt', 'x');
  const base = `${API}/data/${fileId}/metadata`;

  t.is((await send(t.context, `${base}/xattrs`, { method: 'PUT', body: '{"color":"blue","size":"L"}' })).status, 204);
  t.deepEqual((await send(t.context, `${base}/xattrs`)).json, { color: 'blue', size: 'L' });
  t.deepEqual((await send(t.context, `${base}/xattrs?attribute=color`)).json, { color: 'blue' });
  t.is((await send(t.context, `${base}/xattrs`, { method: 'DELETE', body: '{"keys":["size"]}' })).status, 204);
  t.deepEqual((await send(t.context, `${base}/xattrs`)).json, { color: 'blue' });

  const selected = await send(t.context, `${API}/data/${fileId}`, { body: '{"attributes":["name","xattr.color"]}' });
  t.deepEqual(selected.json, { name: 'meta.txt', 'xattr.color': 'blue' });

  t.is((await send(t.context, `${base}/json`)).status, 404);
  t.is((await send(t.context, `${base}/json`, { method: 'PUT', body: '{"a":{"b":[1,{"c":"deep"}]}}' })).status, 204);
  t.deepEqual((await send(t.context, `${base}/json`)).json, { a: { b: [1, { c: 'deep' }] } });
  t.is((await send(t.context, `${base}/json?filter_type=keypath&filter=a.b.[1].c`)).json, 'deep');
  t.is((await send(t.context, `${base}/json`, { method: 'DELETE' })).status, 204);
  t.is((await send(t.context, `${base}/json`)).status, 404);

  const notJson = await send(t.context, `${base}/json`, { method: 'PUT', body: '{oops' });
  t.is(notJson.status, 400);
});

test('body shorter than Content-Length leaves no false size', async (t) => {
  const fileId = await createFile(t.context, 'short-body.txt', 'original');
  const request =
    `PUT ${API}/data/${fileId}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${t.context.token}\r\n` +
    'Content-Length: 100\r\n\r\n' + 'x'.repeat(40);
  await sendRaw(t.context, request, { halfClose: true, waitMs: 1000 });

  const attributes = await send(t.context, `${API}/data/${fileId}`);
  const content = await send(t.context, `${API}/data/${fileId}/content`);
  t.is(attributes.status, 200);
  t.is(content.body.length, attributes.json.size);
  t.true(content.text === 'original', `content after the failed upload: ${content.text.slice(0, 20)}`);
});

test('body longer than Content-Length is cut', async (t) => {
  const fileId = await createFile(t.context, 'long-body.txt', 'original');
  const request =
    `PUT ${API}/data/${fileId}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${t.context.token}\r\n` +
    'Content-Length: 5\r\n\r\n' + 'abcdefghij';
  const reply = await sendRaw(t.context, request, { halfClose: false, waitMs: 1000 });

  // Node's HTTP parser reads the 5 declared bytes as the body and rejects the rest as a malformed next request.
  t.regex(reply, /HTTP\/1\.1 400/);
  const attributes = await send(t.context, `${API}/data/${fileId}`);
  const content = await send(t.context, `${API}/data/${fileId}/content`);
  t.true(['original', 'abcde'].includes(content.text), `content after the upload: ${content.text}`);
  t.is(attributes.json.size, content.body.length);
  t.is((await send(t.context, '/health', { token: null })).status, 200);
});

test('unknown route is 404 error body', async (t) => {
  const response = await send(t.context, `${API}/nothing-here`);
  t.is(response.status, 404);
  assertErrorBody(t, response.json, 'notFound');
});
