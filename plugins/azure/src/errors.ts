import { StorageError, type StorageErrorKind } from '@op-worker/core';

/** Account, container and blob of a failed request, so that messages can name them. */
export interface ErrorTarget {
  endpoint: string;
  accountName: string;
  containerName: string;
  /** Storage path of the blob, when the request addressed one. */
  path?: string;
}

/** Fields of an Azure SDK `RestError` or a Node.js system error that the mapping reads. */
interface NativeError {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
  cause?: { code?: string };
}

/** Node.js socket errors that mean the service could not be reached or dropped the connection. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'REQUEST_SEND_ERROR',
]);

/**
 * Map any error thrown by the Azure SDK (or a stream it returned) to a StorageError.
 * This is the plugin's only error mapping; StorageErrors pass through unchanged.
 */
export function toStorageError(error: unknown, target: ErrorTarget): StorageError {
  if (StorageError.is(error)) return error;

  const native = (typeof error === 'object' && error !== null ? error : {}) as NativeError;
  const errorCode = native.details?.errorCode ?? native.code ?? native.cause?.code ?? '';
  const status = native.statusCode;
  const [kind, message] = classify(status, errorCode, native, target);

  return new StorageError(kind, message, { cause: error, context: { azureErrorCode: errorCode || undefined, httpStatus: status } });
}

function classify(status: number | undefined, errorCode: string, native: NativeError, target: ErrorTarget): [StorageErrorKind, string] {
  const blob = `blob "${target.path ?? ''}" in container "${target.containerName}"`;
  const service = `Azure Blob endpoint ${target.endpoint}`;

  if (status === undefined) {
    if (NETWORK_CODES.has(errorCode) || native.name === 'AbortError' || native.name === 'TimeoutError') {
      return ['Unavailable', `${service} is unreachable or dropped the connection (${errorCode || native.name}): ${native.message ?? ''}`];
    }
    return ['Unexpected', `Azure request on ${blob} failed: ${native.message ?? String(native)}`];
  }

  switch (status) {
    case 404:
      if (errorCode === 'ContainerNotFound') {
        return ['NotFound', `container "${target.containerName}" not found in account "${target.accountName}" at ${target.endpoint}; create it or fix containerName`];
      }
      return ['NotFound', `${blob} not found`];
    case 401:
    case 403:
      return ['PermissionDenied', `access denied to ${blob} for account "${target.accountName}" (${errorCode || 'HTTP 403'}); check the account key, connection string or SAS token and its permissions`];
    case 409:
      if (errorCode.endsWith('AlreadyExists')) return ['AlreadyExists', `${blob} already exists (${errorCode})`];
      return ['ConditionNotMatch', `${blob} is in a conflicting state (${errorCode || 'HTTP 409'})`];
    case 412:
      return ['ConditionNotMatch', `${blob} changed during the operation (${errorCode || 'HTTP 412'}); repeat it`];
    case 416:
      return ['RangeNotSatisfiable', `requested range is outside ${blob}`];
    case 400:
      if (errorCode === 'InvalidBlockList') {
        return ['ConditionNotMatch', `staged blocks of ${blob} were discarded by a concurrent write; repeat the write`];
      }
      return ['Unexpected', `Azure rejected the request on ${blob} (${errorCode || 'HTTP 400'}): ${native.message ?? ''}`];
    case 429:
      return ['RateLimited', `${service} throttled the request on ${blob} (${errorCode || 'HTTP 429'})`];
    case 503:
      if (errorCode === 'ServerBusy') return ['RateLimited', `${service} is busy and throttled the request on ${blob}`];
      return ['Unavailable', `${service} is unavailable (HTTP 503)`];
    default:
      if (status >= 500) return ['Unavailable', `${service} failed with HTTP ${status} (${errorCode || 'no error code'})`];
      return ['Unexpected', `Azure request on ${blob} failed with HTTP ${status} (${errorCode || 'no error code'})`];
  }
}
