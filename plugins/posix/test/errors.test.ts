import test from 'ava';
import { OpError, StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';
import { toStorageError } from '../src/errors.js';

/** Create a Node system error like the ones fs calls throw. */
function systemError(code: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: simulated failure, open '/srv/x'`);
  error.code = code;
  error.syscall = 'open';
  return error;
}

const ERRNO_TABLE: Array<[string, StorageErrorKind, RetryClass]> = [
  ['ENOENT', 'NotFound', 'permanent'],
  ['EEXIST', 'AlreadyExists', 'permanent'],
  ['EACCES', 'PermissionDenied', 'permanent'],
  ['EPERM', 'PermissionDenied', 'permanent'],
  ['EROFS', 'PermissionDenied', 'permanent'],
  ['ELOOP', 'PermissionDenied', 'permanent'],
  ['EISDIR', 'IsADirectory', 'permanent'],
  ['ENOTDIR', 'NotADirectory', 'permanent'],
  ['ENOTEMPTY', 'NotEmpty', 'permanent'],
  ['ENOSPC', 'Unavailable', 'permanent'],
  ['EDQUOT', 'Unavailable', 'permanent'],
  ['EMFILE', 'Unavailable', 'temporary'],
  ['ENFILE', 'Unavailable', 'temporary'],
  ['EAGAIN', 'Unavailable', 'temporary'],
  ['EBUSY', 'Unavailable', 'temporary'],
  ['EINTR', 'Unavailable', 'temporary'],
  ['ETIMEDOUT', 'Unavailable', 'temporary'],
  ['ESTALE', 'Unavailable', 'temporary'],
  ['EIO', 'Unavailable', 'temporary'],
  ['ENOTSUP', 'Unsupported', 'permanent'],
  ['EOPNOTSUPP', 'Unsupported', 'permanent'],
  ['EXDEV', 'Unsupported', 'permanent'],
  ['EINVAL', 'Unexpected', 'permanent'],
  ['ENAMETOOLONG', 'Unexpected', 'permanent'],
];

for (const [code, kind, retry] of ERRNO_TABLE) {
  test(`${code} maps to ${kind}`, (t) => {
    const cause = systemError(code);

    const error = toStorageError(cause, { path: 'a/b' });

    t.true(StorageError.is(error));
    t.is(error.kind, kind);
    t.is(error.retry, retry);
    t.is(error.cause, cause);
    t.is(error.context.errno, code);
    t.is(error.context.path, 'a/b');
  });
}

test('mapped message names errno and path', (t) => {
  const error = toStorageError(systemError('ENOENT'), { path: 'dir/file' });
  t.is(error.message, 'no such file or directory (ENOENT) for "dir/file"');
});

test('rejected path becomes PermissionDenied', (t) => {
  const cause = OpError.badValue('path', 'path "../x" must not contain ".."');

  const error = toStorageError(cause, { path: '../x' });

  t.is(error.kind, 'PermissionDenied');
  t.is(error.cause, cause);
  t.regex(error.message, /must not contain/);
});

test('storage errors pass through unchanged', (t) => {
  const original = new StorageError('ConditionNotMatch', 'size differs');
  t.is(toStorageError(original, { path: 'x' }), original);
});

test('errors without errno become Unexpected', (t) => {
  for (const cause of [new TypeError('not a function'), 'a string', undefined]) {
    const error = toStorageError(cause);
    t.is(error.kind, 'Unexpected', String(cause));
    t.is(error.cause, cause);
    t.is(error.context.errno, undefined);
  }
});
