import {
  OpError,
  StorageError,
  type RetryClass,
  type StorageErrorContext,
  type StorageErrorKind,
} from '@op-worker/core';

/** What an errno code means to callers: its error kind, retry class and a short reason. */
interface ErrnoMapping {
  kind: StorageErrorKind;
  retry?: RetryClass;
  reason: string;
}

/**
 * Errno codes of Linux file system calls. Codes not listed become `Unexpected`. ELOOP
 * comes from opening a symbolic link with O_NOFOLLOW, which this helper refuses to follow.
 */
const ERRNO_MAPPINGS: Readonly<Record<string, ErrnoMapping>> = {
  ENOENT: { kind: 'NotFound', reason: 'no such file or directory' },
  EEXIST: { kind: 'AlreadyExists', reason: 'file exists' },
  EACCES: { kind: 'PermissionDenied', reason: 'permission denied' },
  EPERM: { kind: 'PermissionDenied', reason: 'operation not permitted' },
  EROFS: { kind: 'PermissionDenied', reason: 'read-only file system' },
  ELOOP: { kind: 'PermissionDenied', reason: 'symbolic link not followed' },
  EISDIR: { kind: 'IsADirectory', reason: 'is a directory' },
  ENOTDIR: { kind: 'NotADirectory', reason: 'not a directory' },
  ENOTEMPTY: { kind: 'NotEmpty', reason: 'directory not empty' },
  ENOSPC: { kind: 'Unavailable', retry: 'permanent', reason: 'no space left on device' },
  EDQUOT: { kind: 'Unavailable', retry: 'permanent', reason: 'disk quota exceeded' },
  EMFILE: { kind: 'Unavailable', retry: 'temporary', reason: 'too many open files in this process' },
  ENFILE: { kind: 'Unavailable', retry: 'temporary', reason: 'too many open files in the system' },
  EAGAIN: { kind: 'Unavailable', retry: 'temporary', reason: 'resource temporarily unavailable' },
  EBUSY: { kind: 'Unavailable', retry: 'temporary', reason: 'device or resource busy' },
  EINTR: { kind: 'Unavailable', retry: 'temporary', reason: 'interrupted system call' },
  ETIMEDOUT: { kind: 'Unavailable', retry: 'temporary', reason: 'operation timed out' },
  ESTALE: { kind: 'Unavailable', retry: 'temporary', reason: 'stale file handle' },
  EIO: { kind: 'Unavailable', retry: 'temporary', reason: 'input/output error' },
  ENOTSUP: { kind: 'Unsupported', reason: 'operation not supported by the file system' },
  EOPNOTSUPP: { kind: 'Unsupported', reason: 'operation not supported by the file system' },
  EXDEV: { kind: 'Unsupported', reason: 'rename across file systems' },
};

/**
 * Map any error thrown by a file system call (or by path validation) to a StorageError.
 * This is the plugin's only translation of native errors. A path that `resolveInsideRoot`
 * rejects becomes PermissionDenied, because the contract has no kind for invalid input
 * and the request must not reach the file system.
 */
export function toStorageError(error: unknown, context: StorageErrorContext = {}): StorageError {
  if (StorageError.is(error)) return error;

  if (OpError.is(error)) {
    return new StorageError('PermissionDenied', `path rejected: ${error.message}`, { cause: error, context });
  }

  const code = errnoCode(error);
  const mapping = code === undefined ? undefined : ERRNO_MAPPINGS[code];
  if (code !== undefined && mapping !== undefined) {
    const where = context.path === undefined ? '' : ` for "${context.path}"`;
    return new StorageError(mapping.kind, `${mapping.reason} (${code})${where}`, {
      cause: error,
      retry: mapping.retry,
      context: { ...context, errno: code },
    });
  }

  const message = error instanceof Error ? error.message : String(error);
  return new StorageError('Unexpected', `file system call failed: ${message}`, {
    cause: error,
    context: code === undefined ? context : { ...context, errno: code },
  });
}

/** The errno name (`ENOENT`) of a Node system error, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
