/**
 * Error types shared by every package. Callers branch on `kind`, never on message
 * text, and the server maps kinds to HTTP status codes in exactly one place.
 */

/** Kinds of storage failure. The set is closed: plugins map every native error to one. */
export type StorageErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'PermissionDenied'
  | 'IsADirectory'
  | 'NotADirectory'
  | 'NotEmpty'
  | 'ConditionNotMatch'
  | 'RangeNotSatisfiable'
  | 'RateLimited'
  | 'Unavailable'
  | 'Unsupported'
  | 'ConfigInvalid'
  | 'Unexpected';

/** Whether repeating the same call may succeed. */
export type RetryClass = 'permanent' | 'temporary';

const TEMPORARY_KINDS: ReadonlySet<StorageErrorKind> = new Set(['RateLimited', 'Unavailable']);

/** Where a storage error happened: filled in by the dispatcher. */
export interface StorageErrorContext {
  storageId?: string;
  operation?: string;
  path?: string;
  [key: string]: unknown;
}

export interface StorageErrorOptions {
  cause?: unknown;
  retry?: RetryClass;
  context?: StorageErrorContext;
}

/** The only error a storage helper may throw. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly kind: StorageErrorKind;
  readonly retry: RetryClass;
  context: StorageErrorContext;

  constructor(kind: StorageErrorKind, message: string, options: StorageErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.retry = options.retry ?? (TEMPORARY_KINDS.has(kind) ? 'temporary' : 'permanent');
    this.context = options.context ?? {};
  }

  static is(value: unknown): value is StorageError {
    return value instanceof Error && (value as { name?: string }).name === 'StorageError';
  }
}

/**
 * Kinds of failure of a logical operation (file system, metadata, auth, validation).
 * `posix` carries an errno name in `details.errno`, as Onedata's error body does.
 */
export type OpErrorKind =
  | 'badValue'
  | 'missingValue'
  | 'badIdentifier'
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'alreadyExists'
  | 'posix'
  | 'rangeNotSatisfiable'
  | 'conflict'
  | 'payloadTooLarge'
  | 'unavailable'
  | 'notImplemented'
  | 'internal';

/** POSIX errno names used in `posix` errors. */
export type Errno =
  | 'enoent'
  | 'eexist'
  | 'eacces'
  | 'eperm'
  | 'enotdir'
  | 'eisdir'
  | 'enotempty'
  | 'einval'
  | 'exdev'
  | 'enospc'
  | 'eio';

/** Failure of a logical operation; `details` is sent to the client, so it must hold no secret. */
export class OpError extends Error {
  override readonly name = 'OpError';
  readonly kind: OpErrorKind;
  readonly details: Record<string, unknown>;

  constructor(kind: OpErrorKind, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, { cause });
    this.kind = kind;
    this.details = details;
  }

  static is(value: unknown): value is OpError {
    return value instanceof Error && (value as { name?: string }).name === 'OpError';
  }

  static posix(errno: Errno, message: string, details: Record<string, unknown> = {}): OpError {
    return new OpError('posix', message, { errno, ...details });
  }

  static notFound(what: string, details: Record<string, unknown> = {}): OpError {
    return new OpError('notFound', `${what} not found`, details);
  }

  static badValue(key: string, message: string, details: Record<string, unknown> = {}): OpError {
    return new OpError('badValue', message, { key, ...details });
  }
}
