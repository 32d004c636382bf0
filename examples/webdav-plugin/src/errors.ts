import { StorageError, type RetryClass, type StorageErrorKind } from '@op-worker/core';

/** Description of a failed request, for the message of the error it becomes. */
export interface RequestDescription {
  /** HTTP method: GET, PUT, PROPFIND, MKCOL, ... */
  method: string;
  /** `host:port` of the endpoint. */
  server: string;
  /** URL path of the request, percent-encoded as sent. */
  urlPath: string;
  /** User name of basic credentials, named when the server rejects them. */
  username?: string;
}

/** A response with a status the helper did not expect. Its body has been read and dropped. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';

  constructor(
    readonly status: number,
    readonly request: RequestDescription,
  ) {
    super(`${request.method} ${request.urlPath} on ${request.server} returned HTTP ${status}`);
  }
}

interface Mapping {
  kind: StorageErrorKind;
  retry?: RetryClass;
  reason: string;
}

/**
 * HTTP statuses of WebDAV servers (RFC 4918 adds 207, 409, 412, 423, 507 to HTTP's).
 * Unlisted 5xx statuses are temporary `Unavailable`; unlisted 4xx ones `Unexpected`.
 */
const STATUS_MAPPINGS: Readonly<Record<number, Mapping>> = {
  401: { kind: 'PermissionDenied', reason: 'authentication failed; check credentialsType and credentials' },
  403: { kind: 'PermissionDenied', reason: 'access denied' },
  404: { kind: 'NotFound', reason: 'not found' },
  405: { kind: 'Unsupported', reason: 'method not allowed on this resource' },
  // RFC 4918 servers return 409 when a parent collection is missing. nginx also returns it
  // when a URL ends in a slash but names a file, or names a collection without the slash.
  409: { kind: 'NotFound', reason: 'conflict: a parent collection is missing or a file stands where a collection is expected' },
  412: { kind: 'ConditionNotMatch', reason: 'precondition failed' },
  413: { kind: 'Unsupported', reason: 'request body too large for the server; set maximumUploadSize to its limit' },
  416: { kind: 'RangeNotSatisfiable', reason: 'range not satisfiable' },
  423: { kind: 'Unavailable', retry: 'temporary', reason: 'resource locked' },
  429: { kind: 'RateLimited', reason: 'too many requests' },
  501: { kind: 'Unsupported', reason: 'not implemented by the server; check rangeWriteSupport' },
  507: { kind: 'Unavailable', retry: 'permanent', reason: 'insufficient storage on the server' },
};

/** Socket and DNS error codes of Node and undici that mean the server cannot be reached now. */
const UNREACHABLE_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
};

/** TLS verification failures: fixed by a trusted certificate or by `verifyServerCertificate`. */
const CERTIFICATE_CODE = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID)/;

/**
 * Map anything a request throws (a `HttpStatusError`, a socket, DNS or TLS error of Node or
 * undici) to a StorageError. This is the plugin's only translation of native errors; a
 * StorageError passes through unchanged.
 */
export function toStorageError(error: unknown, request: RequestDescription): StorageError {
  if (StorageError.is(error)) return error;

  const at = `${request.method} ${request.urlPath} on WebDAV server ${request.server}`;

  if (error instanceof HttpStatusError) {
    const mapping = STATUS_MAPPINGS[error.status] ?? fallbackMapping(error.status);
    const user = error.status === 401 && request.username !== undefined ? ` as user "${request.username}"` : '';
    return new StorageError(mapping.kind, `${at}${user} failed: ${mapping.reason} (HTTP ${error.status})`, {
      cause: error,
      retry: mapping.retry,
      context: { httpStatus: error.status },
    });
  }

  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);

  if (code !== undefined && code in UNREACHABLE_CODES) {
    return new StorageError('Unavailable', `${at} failed: ${UNREACHABLE_CODES[code]} (${code}); check that the server runs and endpoint is right`, {
      cause: error,
      context: { code },
    });
  }
  if (code !== undefined && CERTIFICATE_CODE.test(code)) {
    return new StorageError(
      'ConfigInvalid',
      `${at} failed: server certificate not trusted (${code}); install its CA or set verifyServerCertificate to false`,
      { cause: error, context: { code } },
    );
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new StorageError('ConditionNotMatch', `${at} failed: the stream length differs from the declared size`, { cause: error, context: { code } });
  }
  return new StorageError('Unexpected', `${at} failed: ${message}`, { cause: error, context: code === undefined ? {} : { code } });
}

function fallbackMapping(status: number): Mapping {
  if (status >= 500) return { kind: 'Unavailable', retry: 'temporary', reason: 'server error' };
  return { kind: 'Unexpected', reason: 'unexpected status' };
}

/** First `code` found along the error's `cause` chain (undici wraps socket errors). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}
