import test from 'ava';
import { OpError, StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';
import { SFTP_STATUS, toStorageError } from '../src/index.js';
import { isConnectionLost, SourceStreamError } from '../src/errors.js';

const scene = { server: 'files.example.org:2222', username: 'alice', operation: 'write', remotePath: '/data/a.txt' };

function native(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

interface Row {
  case: string;
  error: unknown;
  kind: StorageErrorKind;
  retry: RetryClass;
  /** Text the message must contain. */
  says: string;
}

const TABLE: Row[] = [
  { case: 'not found', error: native('No such file', { code: SFTP_STATUS.NO_SUCH_FILE }), kind: 'NotFound', retry: 'permanent', says: '/data/a.txt' },
  { case: 'access denied', error: native('Permission denied', { code: SFTP_STATUS.PERMISSION_DENIED }), kind: 'PermissionDenied', retry: 'permanent', says: 'permission denied' },
  // SFTP v3 has no "exists" status: OpenSSH replies FAILURE, which the helper refines by lstat.
  { case: 'already exists', error: native('Failure', { code: SFTP_STATUS.FAILURE }), kind: 'Unexpected', retry: 'permanent', says: 'SFTP status 4' },
  // SFTP has no throttling reply; sshd's MaxStartups drops surplus connections with a reset.
  { case: 'throttling', error: native('read ECONNRESET', { code: 'ECONNRESET' }), kind: 'Unavailable', retry: 'temporary', says: 'connection to the server lost' },
  { case: 'unreachable host', error: native('connect ECONNREFUSED 127.0.0.1:2222', { code: 'ECONNREFUSED' }), kind: 'Unavailable', retry: 'temporary', says: 'cannot connect to files.example.org:2222' },
  { case: 'unknown host', error: native('getaddrinfo ENOTFOUND files.example.org', { code: 'ENOTFOUND' }), kind: 'Unavailable', retry: 'temporary', says: 'check hostname and port' },
  { case: 'bad credentials', error: native('All configured authentication methods failed', { level: 'client-authentication' }), kind: 'PermissionDenied', retry: 'permanent', says: 'rejected user "alice"' },
  { case: 'bad credentials via wrapper', error: native('getConnection: All configured authentication methods failed', {}), kind: 'PermissionDenied', retry: 'permanent', says: 'rejected user "alice"' },
  { case: 'handshake timeout', error: native('Timed out while waiting for handshake', { level: 'client-timeout' }), kind: 'Unavailable', retry: 'temporary', says: 'no SSH handshake' },
  { case: 'dropped connection', error: native('No response from server', {}), kind: 'Unavailable', retry: 'temporary', says: 'retry when it is back' },
  { case: 'connection lost status', error: native('Connection lost', { code: SFTP_STATUS.CONNECTION_LOST }), kind: 'Unavailable', retry: 'temporary', says: 'connection to the server lost' },
  { case: 'socket error', error: native('write EPIPE', { level: 'client-socket' }), kind: 'Unavailable', retry: 'temporary', says: 'EPIPE' },
  { case: 'unsupported request', error: native('Operation unsupported', { code: SFTP_STATUS.OP_UNSUPPORTED }), kind: 'Unsupported', retry: 'permanent', says: 'does not support' },
  { case: 'caller stream failure', error: new SourceStreamError('client hung up'), kind: 'Unexpected', retry: 'permanent', says: 'data stream being written failed: client hung up' },
  { case: 'invalid path', error: OpError.badValue('path', 'path "../x" must not contain ".."'), kind: 'Unexpected', retry: 'permanent', says: 'invalid storage path' },
  { case: 'plain string', error: 'boom', kind: 'Unexpected', retry: 'permanent', says: 'boom' },
];

for (const row of TABLE) {
  test(`maps ${row.case}`, (t) => {
    const mapped = toStorageError(row.error, scene);

    t.true(StorageError.is(mapped));
    t.is(mapped.kind, row.kind);
    t.is(mapped.retry, row.retry);
    t.true(mapped.message.includes(row.says), mapped.message);
    t.true(mapped.message.startsWith('sftp write /data/a.txt on files.example.org:2222: '), mapped.message);
    t.is(mapped.cause, row.error);
  });
}

test('StorageError passes through unchanged', (t) => {
  const original = new StorageError('NotEmpty', 'already mapped');

  t.is(toStorageError(original, scene), original);
});

test('connection loss is told from request failures', (t) => {
  t.true(isConnectionLost(native('No response from server', {})));
  t.true(isConnectionLost(native('connect ECONNREFUSED', { code: 'ECONNREFUSED' })));
  t.true(isConnectionLost(new StorageError('Unavailable', 'gone')));
  t.false(isConnectionLost(native('No such file', { code: SFTP_STATUS.NO_SUCH_FILE })));
  t.false(isConnectionLost(native('Failure', { code: SFTP_STATUS.FAILURE })));
  t.false(isConnectionLost(new StorageError('NotFound', 'missing')));
});
