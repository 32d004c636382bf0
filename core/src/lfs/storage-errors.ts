import { OpError, StorageError, type Errno, type StorageErrorKind } from '../errors.js';

const POSIX_KINDS: Partial<Record<StorageErrorKind, Errno>> = {
  AlreadyExists: 'eexist',
  PermissionDenied: 'eacces',
  IsADirectory: 'eisdir',
  NotADirectory: 'enotdir',
  NotEmpty: 'enotempty',
};

/**
 * Translate a storage failure into the logical file system's error, keeping the
 * storage error as the cause. Anything that is not a `StorageError` passes unchanged.
 */
export function toOpError(error: unknown): unknown {
  if (!StorageError.is(error)) return error;

  const details = { storageErrorKind: error.kind, storageId: error.context.storageId };
  const errno = POSIX_KINDS[error.kind];
  if (errno) return new OpError('posix', error.message, { errno, ...details }, error);

  switch (error.kind) {
    case 'NotFound':
      return new OpError('notFound', `file data is missing on the storage: ${error.message}`, details, error);
    case 'ConditionNotMatch':
      return new OpError('badValue', error.message, { key: 'content', ...details }, error);
    case 'RangeNotSatisfiable':
      return new OpError('rangeNotSatisfiable', error.message, details, error);
    case 'RateLimited':
    case 'Unavailable':
      return new OpError('unavailable', `storage is unavailable, retry later: ${error.message}`, details, error);
    case 'Unsupported':
      return new OpError('notImplemented', error.message, details, error);
    default:
      return new OpError('internal', `storage operation failed: ${error.message}`, details, error);
  }
}

/** Run a storage call and translate its failure with `toOpError`. */
export async function onStorage<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toOpError(error);
  }
}
