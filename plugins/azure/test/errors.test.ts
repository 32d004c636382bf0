import test from 'ava';
import { RestError } from '@azure/storage-blob';
import { StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';
import { toStorageError, type ErrorTarget } from '../src/errors.js';

const target: ErrorTarget = {
  endpoint: 'http://127.0.0.1:10000/devstoreaccount1',
  accountName: 'devstoreaccount1',
  containerName: 'data',
  path: 'dir/file',
};

/** Build a RestError as the SDK throws it for an HTTP response carrying `x-ms-error-code`. */
function httpError(statusCode: number, errorCode?: string): RestError {
  const error = new RestError(`HTTP ${statusCode}`, { statusCode, code: errorCode });
  (error as RestError & { details?: unknown }).details = { errorCode };
  return error;
}

/** Build a RestError as the SDK throws it when the socket fails before any response. */
function networkError(code: string): RestError {
  return new RestError(`${code} 127.0.0.1:10000`, { code });
}

const cases: Array<[string, unknown, StorageErrorKind, RetryClass, string]> = [
  ['blob not found', httpError(404, 'BlobNotFound'), 'NotFound', 'permanent', 'dir/file'],
  ['container not found', httpError(404, 'ContainerNotFound'), 'NotFound', 'permanent', 'container "data"'],
  ['access denied', httpError(403, 'AuthorizationPermissionMismatch'), 'PermissionDenied', 'permanent', 'devstoreaccount1'],
  ['bad credentials', httpError(403, 'AuthenticationFailed'), 'PermissionDenied', 'permanent', 'account "devstoreaccount1"'],
  ['already exists', httpError(409, 'BlobAlreadyExists'), 'AlreadyExists', 'permanent', 'dir/file'],
  ['lease conflict', httpError(409, 'LeaseIdMissing'), 'ConditionNotMatch', 'permanent', 'LeaseIdMissing'],
  ['precondition failed', httpError(412, 'ConditionNotMet'), 'ConditionNotMatch', 'permanent', 'changed'],
  ['range outside blob', httpError(416, 'InvalidRange'), 'RangeNotSatisfiable', 'permanent', 'dir/file'],
  ['discarded staged blocks', httpError(400, 'InvalidBlockList'), 'ConditionNotMatch', 'permanent', 'concurrent'],
  ['throttled by 503', httpError(503, 'ServerBusy'), 'RateLimited', 'temporary', 'busy'],
  ['throttled by 429', httpError(429), 'RateLimited', 'temporary', 'throttled'],
  ['server error', httpError(500, 'InternalError'), 'Unavailable', 'temporary', 'HTTP 500'],
  ['unreachable host', networkError('ECONNREFUSED'), 'Unavailable', 'temporary', target.endpoint],
  ['unknown host name', networkError('ENOTFOUND'), 'Unavailable', 'temporary', target.endpoint],
  ['dropped connection', networkError('ECONNRESET'), 'Unavailable', 'temporary', target.endpoint],
  ['bad request', httpError(400, 'InvalidHeaderValue'), 'Unexpected', 'permanent', 'InvalidHeaderValue'],
  ['plain error', new Error('boom'), 'Unexpected', 'permanent', 'boom'],
];

for (const [title, error, kind, retry, mentions] of cases) {
  test(`maps ${title}`, (t) => {
    const mapped = toStorageError(error, target);
    t.is(mapped.kind, kind);
    t.is(mapped.retry, retry);
    t.true(mapped.message.includes(mentions), mapped.message);
    t.is(mapped.cause, error);
  });
}

test('passes StorageError through', (t) => {
  const original = new StorageError('NotEmpty', 'kept as is');
  t.is(toStorageError(original, target), original);
});
