import { StorageError, type StorageErrorKind } from '@op-worker/core';

/** Names an error message may contain: the endpoint, the bucket, the key and the access key id. */
export interface S3ErrorScope {
  endpointAddress: string;
  bucket: string;
  accessKeyId?: string;
  key?: string;
}

/** S3 error codes and the kind each one maps to. */
const KIND_BY_CODE: Readonly<Record<string, StorageErrorKind>> = {
  NoSuchKey: 'NotFound',
  NotFound: 'NotFound',
  NoSuchUpload: 'NotFound',
  NoSuchBucket: 'NotFound',
  AccessDenied: 'PermissionDenied',
  Forbidden: 'PermissionDenied',
  AllAccessDisabled: 'PermissionDenied',
  InvalidAccessKeyId: 'PermissionDenied',
  SignatureDoesNotMatch: 'PermissionDenied',
  ExpiredToken: 'PermissionDenied',
  InvalidToken: 'PermissionDenied',
  BucketAlreadyExists: 'AlreadyExists',
  BucketAlreadyOwnedByYou: 'AlreadyExists',
  PreconditionFailed: 'ConditionNotMatch',
  ConditionalRequestConflict: 'ConditionNotMatch',
  InvalidRange: 'RangeNotSatisfiable',
  SlowDown: 'RateLimited',
  Throttling: 'RateLimited',
  ThrottlingException: 'RateLimited',
  TooManyRequests: 'RateLimited',
  RequestLimitExceeded: 'RateLimited',
  InternalError: 'Unavailable',
  ServiceUnavailable: 'Unavailable',
  RequestTimeout: 'Unavailable',
  TimeoutError: 'Unavailable',
  InvalidBucketName: 'ConfigInvalid',
  AuthorizationHeaderMalformed: 'ConfigInvalid',
  PermanentRedirect: 'ConfigInvalid',
  IllegalLocationConstraintException: 'ConfigInvalid',
};

/** Node socket error codes: the endpoint could not be reached or dropped the connection. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** TLS verification failures: fixed by a trusted certificate or verifyServerCertificate. */
const TLS_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface NativeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  errors?: unknown[];
}

/**
 * Map any error thrown by the AWS SDK or a socket to a StorageError. This is the only
 * place where S3 error codes, HTTP statuses and Node error codes are interpreted. An
 * error that already is a StorageError passes unchanged.
 */
export function toStorageError(error: unknown, scope: S3ErrorScope): StorageError {
  if (StorageError.is(error)) return error;

  const native = (typeof error === 'object' && error !== null ? error : {}) as NativeError;
  const code = nativeCode(native);
  const status = native.$metadata?.httpStatusCode;
  const kind = classify(code, status);

  return new StorageError(kind, describe(kind, code, status, native, scope), { cause: error });
}

/** Pick the most specific code an error carries: a socket code, an S3 code or the class name. */
function nativeCode(native: NativeError): string {
  if (typeof native.code === 'string') return native.code;
  const inner = native.errors?.find((item): item is NativeError => typeof item === 'object' && item !== null);
  if (inner !== undefined && typeof inner.code === 'string') return inner.code;
  if (typeof native.Code === 'string') return native.Code;
  return native.name ?? 'Error';
}

function classify(code: string, status: number | undefined): StorageErrorKind {
  if (NETWORK_CODES.has(code)) return 'Unavailable';
  if (TLS_CODES.has(code)) return 'ConfigInvalid';

  const byCode = KIND_BY_CODE[code];
  if (byCode !== undefined) return byCode;

  return classifyStatus(status);
}

function classifyStatus(status: number | undefined): StorageErrorKind {
  switch (status) {
    case 401:
    case 403:
      return 'PermissionDenied';
    case 404:
      return 'NotFound';
    case 409:
      return 'AlreadyExists';
    case 412:
      return 'ConditionNotMatch';
    case 416:
      return 'RangeNotSatisfiable';
    case 429:
      return 'RateLimited';
    case 500:
    case 502:
    case 503:
    case 504:
      return 'Unavailable';
    default:
      return 'Unexpected';
  }
}

function describe(kind: StorageErrorKind, code: string, status: number | undefined, native: NativeError, scope: S3ErrorScope): string {
  const object = scope.key === undefined ? `bucket "${scope.bucket}"` : `object "${scope.key}" in bucket "${scope.bucket}"`;
  const detail = `${code}${status === undefined ? '' : ` (HTTP ${status})`}`;

  switch (kind) {
    case 'NotFound':
      return code === 'NoSuchBucket'
        ? `S3 bucket "${scope.bucket}" not found at ${scope.endpointAddress}; create it or fix bucketName`
        : `${object} not found: ${detail}`;
    case 'PermissionDenied':
      // The access key id is a secret option, so the message only says which kind of credentials were used.
      return `S3 access to ${object} denied for the ${scope.accessKeyId === undefined ? 'default credentials' : 'configured access key'}: ${detail}; check accessKey, secretKey and the bucket policy`;
    case 'Unavailable':
      return `S3 endpoint ${scope.endpointAddress} unavailable: ${detail}: ${native.message ?? ''}`.trimEnd();
    case 'RateLimited':
      return `S3 endpoint ${scope.endpointAddress} is throttling requests on ${object}: ${detail}`;
    case 'ConfigInvalid':
      return TLS_CODES.has(code)
        ? `TLS certificate of ${scope.endpointAddress} rejected (${code}); install a trusted certificate or set verifyServerCertificate to false`
        : `S3 configuration rejected by ${scope.endpointAddress} for bucket "${scope.bucket}": ${detail}; check region, hostname and bucketName`;
    case 'ConditionNotMatch':
      return `${object} changed during the operation: ${detail}`;
    case 'RangeNotSatisfiable':
      return `requested range of ${object} is not satisfiable: ${detail}`;
    case 'AlreadyExists':
      return `${object} already exists: ${detail}`;
    default:
      return `S3 request on ${object} failed: ${detail}: ${native.message ?? 'no message'}`;
  }
}
