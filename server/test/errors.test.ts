import test from 'ava';
import { OpError, StorageError } from '@op-worker/core';
import { ApiError, toErrorResponse } from '../src/errors.js';

test('posix errno picks the status', (t) => {
  const cases: Array<[Parameters<typeof OpError.posix>[0], number]> = [
    ['enoent', 404],
    ['eacces', 403],
    ['eperm', 403],
    ['eexist', 400],
    ['enotdir', 400],
  ];
  for (const [errno, status] of cases) {
    const response = toErrorResponse(OpError.posix(errno, `failed with ${errno}`));
    t.is(response.status, status, errno);
    t.is(response.body.error.id, 'posix', errno);
    t.is(response.body.error.details?.['errno'], errno, errno);
  }
});

test('op error kinds map once', (t) => {
  t.is(toErrorResponse(new OpError('badIdentifier', 'bad id')).body.error.id, 'badValueIdentifier');
  t.is(toErrorResponse(new OpError('unauthorized', 'no token')).status, 401);
  t.is(toErrorResponse(new OpError('notFound', 'gone')).status, 404);
  t.is(toErrorResponse(new OpError('rangeNotSatisfiable', 'range')).status, 416);
  t.is(toErrorResponse(new OpError('notImplemented', 'later')).status, 501);
});

test('storage errors reaching the edge', (t) => {
  const mismatch = toErrorResponse(new StorageError('ConditionNotMatch', 'stream had 3 bytes, expected 5'));
  t.is(mismatch.status, 400);
  t.is(mismatch.body.error.id, 'badData');

  const denied = toErrorResponse(new StorageError('PermissionDenied', 'denied'));
  t.is(denied.status, 403);
  t.is(denied.body.error.details?.['errno'], 'eacces');
});

test('unknown errors hide their message', (t) => {
  const response = toErrorResponse(new Error('secret path /etc/shadow at line 3'));
  t.is(response.status, 500);
  t.true(response.internal);
  t.is(response.body.error.id, 'internalServerError');
  t.false(JSON.stringify(response.body).includes('shadow'));
  t.false(JSON.stringify(response.body).includes('stack'));
});

test('api errors keep their headers', (t) => {
  const response = toErrorResponse(new ApiError(416, 'rangeNotSatisfiable', 'no', {}, { 'Content-Range': 'bytes */3' }));
  t.is(response.status, 416);
  t.deepEqual(response.headers, { 'Content-Range': 'bytes */3' });
  t.is(response.body.error.details, undefined);
});
