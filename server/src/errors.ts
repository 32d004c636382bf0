import { OpError, StorageError, type OpErrorKind, type StorageErrorKind } from '@op-worker/core';

/**
 * The one place where errors become HTTP statuses and Onedata error bodies
 * (`{"error":{"id","description","details"}}`).
 */

/** An error raised by the HTTP layer itself, with an Onedata error id chosen by the caller. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Response headers that belong to this error, e.g. `Content-Range` on a 416. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static badData(key: string, message: string): ApiError {
    return new ApiError(400, 'badData', message, { key });
  }

  static missingValue(key: string, message: string): ApiError {
    return new ApiError(400, 'missingRequiredValue', message, { key });
  }
}

export interface ErrorResponse {
  status: number;
  body: { error: { id: string; description: string; details?: Record<string, unknown> } };
  headers: Record<string, string>;
  /** True when the error is a server fault that an operator should see. */
  internal: boolean;
}

const OP_ERROR_STATUS: Record<OpErrorKind, { status: number; id: string }> = {
  badValue: { status: 400, id: 'badValue' },
  missingValue: { status: 400, id: 'missingRequiredValue' },
  badIdentifier: { status: 400, id: 'badValueIdentifier' },
  unauthorized: { status: 401, id: 'unauthorized' },
  forbidden: { status: 403, id: 'forbidden' },
  notFound: { status: 404, id: 'notFound' },
  alreadyExists: { status: 409, id: 'alreadyExists' },
  posix: { status: 400, id: 'posix' },
  rangeNotSatisfiable: { status: 416, id: 'rangeNotSatisfiable' },
  conflict: { status: 409, id: 'conflict' },
  payloadTooLarge: { status: 413, id: 'payloadTooLarge' },
  unavailable: { status: 503, id: 'serviceUnavailable' },
  notImplemented: { status: 501, id: 'notImplemented' },
  internal: { status: 500, id: 'internalServerError' },
};

/**
 * Our compatibility choices: a missing file is 404 and a permission denial is 403,
 * where Onedata returns 400. The body still carries the errno.
 */
const POSIX_STATUS: Record<string, number> = { enoent: 404, eacces: 403, eperm: 403 };

/** Storage errors that reached the edge unwrapped, as POSIX errors or service errors. */
const STORAGE_ERROR_STATUS: Record<StorageErrorKind, { status: number; id: string; errno?: string }> = {
  NotFound: { status: 404, id: 'posix', errno: 'enoent' },
  AlreadyExists: { status: 400, id: 'posix', errno: 'eexist' },
  PermissionDenied: { status: 403, id: 'posix', errno: 'eacces' },
  IsADirectory: { status: 400, id: 'posix', errno: 'eisdir' },
  NotADirectory: { status: 400, id: 'posix', errno: 'enotdir' },
  NotEmpty: { status: 400, id: 'posix', errno: 'enotempty' },
  ConditionNotMatch: { status: 400, id: 'badData' },
  RangeNotSatisfiable: { status: 416, id: 'rangeNotSatisfiable' },
  RateLimited: { status: 503, id: 'serviceUnavailable' },
  Unavailable: { status: 503, id: 'serviceUnavailable' },
  Unsupported: { status: 501, id: 'notImplemented' },
  ConfigInvalid: { status: 400, id: 'badValue' },
  Unexpected: { status: 500, id: 'internalServerError' },
};

/** Ids for errors that Koa or the router raise with a bare HTTP status. */
const HTTP_STATUS_ID: Record<number, string> = {
  400: 'badData',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'notFound',
  405: 'notSupported',
  406: 'notAcceptable',
  413: 'payloadTooLarge',
  415: 'unsupportedMediaType',
  501: 'notImplemented',
};

/** Build the status and body for any thrown value; the body never carries a stack or a cause. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof ApiError) {
    return { ...respond(error.status, error.id, error.message, error.details), headers: error.headers };
  }

  if (OpError.is(error)) {
    const mapped = OP_ERROR_STATUS[error.kind] ?? OP_ERROR_STATUS.internal;
    const errno = error.details['errno'];
    const status = error.kind === 'posix' && typeof errno === 'string' ? (POSIX_STATUS[errno] ?? 400) : mapped.status;
    return respond(status, mapped.id, error.message, error.details);
  }

  if (StorageError.is(error)) {
    const mapped = STORAGE_ERROR_STATUS[error.kind] ?? STORAGE_ERROR_STATUS.Unexpected;
    const details = mapped.errno === undefined ? { storageError: error.kind } : { errno: mapped.errno };
    return respond(mapped.status, mapped.id, error.message, details);
  }

  const httpStatus = exposedHttpStatus(error);
  if (httpStatus !== undefined) {
    return respond(httpStatus, HTTP_STATUS_ID[httpStatus] ?? 'badData', (error as Error).message, {});
  }

  return respond(500, 'internalServerError', 'internal server error; the worker log has the details under this request id', {});
}

/** Status of an `http-errors` style error that is safe to show (4xx with `expose`). */
function exposedHttpStatus(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const { status, expose } = error as { status?: unknown; expose?: unknown };
  if (typeof status === 'number' && status >= 400 && status < 500 && expose === true) return status;
  return undefined;
}

function respond(status: number, id: string, description: string, details: Record<string, unknown>): ErrorResponse {
  const error = Object.keys(details).length === 0 ? { id, description } : { id, description, details };
  return { status, body: { error }, headers: {}, internal: status >= 500 };
}
