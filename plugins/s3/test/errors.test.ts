import test from 'ava';
import { NoSuchBucket, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import { StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';
import { toStorageError } from '../src/index.js';

const scope = { endpointAddress: '127.0.0.1:9000', bucket: 'data', accessKeyId: 'AKIDEXAMPLE', key: 'a/b' };

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name });
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:9000`), { code });
}

const cases: Array<[string, unknown, StorageErrorKind, RetryClass, RegExp]> = [
  ['missing key', new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'gone' }), 'NotFound', 'permanent', /"a\/b"/],
  ['missing key on HEAD', serviceError('NotFound', 404), 'NotFound', 'permanent', /"a\/b"/],
  ['missing bucket', new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'gone' }), 'NotFound', 'permanent', /bucket "data" not found/],
  ['access denied', serviceError('AccessDenied', 403), 'PermissionDenied', 'permanent', /configured access key/],
  ['unknown access key', serviceError('InvalidAccessKeyId', 403), 'PermissionDenied', 'permanent', /configured access key/],
  ['wrong secret key', serviceError('SignatureDoesNotMatch', 403), 'PermissionDenied', 'permanent', /secretKey/],
  ['forbidden without code', serviceError('UnknownError', 403), 'PermissionDenied', 'permanent', /denied/],
  ['bucket already exists', serviceError('BucketAlreadyExists', 409), 'AlreadyExists', 'permanent', /already exists/],
  ['precondition failed', serviceError('PreconditionFailed', 412), 'ConditionNotMatch', 'permanent', /changed/],
  ['invalid range', serviceError('InvalidRange', 416), 'RangeNotSatisfiable', 'permanent', /range/],
  ['throttling', serviceError('SlowDown', 503), 'RateLimited', 'temporary', /throttling/],
  ['too many requests', serviceError('TooManyRequests', 429), 'RateLimited', 'temporary', /throttling/],
  ['internal error', serviceError('InternalError', 500), 'Unavailable', 'temporary', /127\.0\.0\.1:9000/],
  ['bad gateway', serviceError('UnknownError', 502), 'Unavailable', 'temporary', /127\.0\.0\.1:9000/],
  ['unreachable host', systemError('ECONNREFUSED'), 'Unavailable', 'temporary', /127\.0\.0\.1:9000 unavailable/],
  ['unknown host', systemError('ENOTFOUND'), 'Unavailable', 'temporary', /127\.0\.0\.1:9000/],
  ['dropped connection', systemError('ECONNRESET'), 'Unavailable', 'temporary', /ECONNRESET/],
  ['timed out', systemError('ETIMEDOUT'), 'Unavailable', 'temporary', /ETIMEDOUT/],
  ['refused on every address', new AggregateError([systemError('ECONNREFUSED')], 'all failed'), 'Unavailable', 'temporary', /ECONNREFUSED/],
  ['self-signed certificate', systemError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'ConfigInvalid', 'permanent', /verifyServerCertificate/],
  ['wrong region', serviceError('AuthorizationHeaderMalformed', 400), 'ConfigInvalid', 'permanent', /region/],
  ['part too small', serviceError('EntityTooSmall', 400), 'Unexpected', 'permanent', /EntityTooSmall/],
  ['plain error', new Error('boom'), 'Unexpected', 'permanent', /boom/],
];

for (const [name, native, kind, retry, message] of cases) {
  test(`maps ${name}`, (t) => {
    const mapped = toStorageError(native, scope);
    t.is(mapped.kind, kind);
    t.is(mapped.retry, retry);
    t.regex(mapped.message, message);
    t.is(mapped.cause, native);
  });
}

test('passes StorageError unchanged', (t) => {
  const original = new StorageError('ConditionNotMatch', 'size differs');
  t.is(toStorageError(original, scope), original);
});

test('never names the credentials', (t) => {
  const mapped = toStorageError(serviceError('SignatureDoesNotMatch', 403), { ...scope, accessKeyId: 'AKID' });
  t.false(mapped.message.includes('testing-secret-key'));
  t.false(mapped.message.includes('AKID'));
  t.regex(mapped.message, /configured access key/);
});
