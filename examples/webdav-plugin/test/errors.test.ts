import test from 'ava';
import { StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';
import { HttpStatusError, toStorageError, type RequestDescription } from '../src/index.js';
import { createHelper, makeRoot, webdavTarget, type WebdavTarget } from './fixture.js';
import { freePort } from './webdav-server.js';

const REQUEST: RequestDescription = { method: 'PUT', server: 'dav.example.org:443', urlPath: '/data/a%20b', username: 'alice' };

/** Create a Node-style error with `code`, as sockets, DNS and TLS raise them. */
function codedError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

const TABLE: Array<[string, unknown, StorageErrorKind, RetryClass]> = [
  ['not found', new HttpStatusError(404, REQUEST), 'NotFound', 'permanent'],
  ['missing parent', new HttpStatusError(409, REQUEST), 'NotFound', 'permanent'],
  ['access denied', new HttpStatusError(403, REQUEST), 'PermissionDenied', 'permanent'],
  ['bad credentials', new HttpStatusError(401, REQUEST), 'PermissionDenied', 'permanent'],
  ['target exists (Overwrite: F)', new HttpStatusError(412, REQUEST), 'ConditionNotMatch', 'permanent'],
  ['throttling', new HttpStatusError(429, REQUEST), 'RateLimited', 'temporary'],
  ['locked', new HttpStatusError(423, REQUEST), 'Unavailable', 'temporary'],
  ['server busy', new HttpStatusError(503, REQUEST), 'Unavailable', 'temporary'],
  ['server error', new HttpStatusError(500, REQUEST), 'Unavailable', 'temporary'],
  ['insufficient storage', new HttpStatusError(507, REQUEST), 'Unavailable', 'permanent'],
  ['range not satisfiable', new HttpStatusError(416, REQUEST), 'RangeNotSatisfiable', 'permanent'],
  ['ranged PUT not implemented', new HttpStatusError(501, REQUEST), 'Unsupported', 'permanent'],
  ['body too large', new HttpStatusError(413, REQUEST), 'Unsupported', 'permanent'],
  ['unknown client error', new HttpStatusError(418, REQUEST), 'Unexpected', 'permanent'],
  ['connection refused', codedError('ECONNREFUSED'), 'Unavailable', 'temporary'],
  ['unreachable host', codedError('EHOSTUNREACH'), 'Unavailable', 'temporary'],
  ['unknown host', codedError('ENOTFOUND'), 'Unavailable', 'temporary'],
  ['dropped connection', codedError('UND_ERR_SOCKET', 'other side closed'), 'Unavailable', 'temporary'],
  ['reset connection', new Error('fetch failed', { cause: codedError('ECONNRESET') }), 'Unavailable', 'temporary'],
  ['stalled response', codedError('UND_ERR_HEADERS_TIMEOUT'), 'Unavailable', 'temporary'],
  ['untrusted certificate', codedError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'ConfigInvalid', 'permanent'],
  ['wrong certificate name', codedError('ERR_TLS_CERT_ALTNAME_INVALID'), 'ConfigInvalid', 'permanent'],
  ['body length mismatch', codedError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'), 'ConditionNotMatch', 'permanent'],
  ['anything else', new TypeError('boom'), 'Unexpected', 'permanent'],
];

for (const [label, error, kind, retry] of TABLE) {
  test(`maps ${label}`, (t) => {
    const mapped = toStorageError(error, REQUEST);

    t.is(mapped.kind, kind);
    t.is(mapped.retry, retry);
    t.true(mapped.message.includes('dav.example.org:443'), mapped.message);
    t.is(mapped.cause, error);
  });
}

test('storage errors pass through', (t) => {
  const original = new StorageError('NotEmpty', 'not empty');

  t.is(toStorageError(original, REQUEST), original);
});

test('401 names the user', (t) => {
  t.regex(toStorageError(new HttpStatusError(401, REQUEST), REQUEST).message, /as user "alice"/);
});

let target: WebdavTarget;

test.before(async () => {
  target = await webdavTarget();
});

test.after.always(async () => {
  await target?.dispose();
});

test('refused connection names host and port', async (t) => {
  const port = await freePort();
  const helper = await createHelper({ endpoint: `http://127.0.0.1:${port}/data/` });
  try {
    const error = await t.throwsAsync(helper.stat(''));

    t.true(StorageError.is(error));
    t.is((error as StorageError).kind, 'Unavailable');
    t.is((error as StorageError).retry, 'temporary');
    t.true(error!.message.includes(`127.0.0.1:${port}`), error!.message);
  } finally {
    await helper.close();
  }
});

test('wrong password names the user', async (t) => {
  const helper = await createHelper({ endpoint: `${target.url}/basic/`, credentialsType: 'basic', credentials: 'opworker:wrong' });
  try {
    const error = await t.throwsAsync(helper.stat(''));

    t.is((error as StorageError).kind, 'PermissionDenied');
    t.regex(error!.message, /as user "opworker"/);
    t.regex(error!.message, /HTTP 401/);
  } finally {
    await helper.close();
  }
});

test('wrong token is denied', async (t) => {
  const helper = await createHelper({ endpoint: `${target.url}/bearer/`, credentialsType: 'token', credentials: 'not-the-token' });
  try {
    const error = await t.throwsAsync(helper.stat(''));

    t.is((error as StorageError).kind, 'PermissionDenied');
  } finally {
    await helper.close();
  }
});

test('missing root collection is NotFound', async (t) => {
  const helper = await createHelper({ endpoint: `${target.url}/open/no-such-collection/` });
  try {
    const error = await t.throwsAsync(helper.stat(''));

    t.is((error as StorageError).kind, 'NotFound');
  } finally {
    await helper.close();
  }
});

test('delete of collection is IsADirectory', async (t) => {
  const root = await makeRoot(target, 'errors');
  const helper = await createHelper({ endpoint: root.endpoint });
  try {
    await helper.mkdir('kept');

    const error = await t.throwsAsync(helper.delete('kept'));

    t.is((error as StorageError).kind, 'IsADirectory');
    t.is((await helper.stat('kept')).type, 'directory');
  } finally {
    await helper.close();
    await root.remove();
  }
});
