import { OpError, StorageError, type StorageErrorKind } from '@op-worker/core';

/**
 * SFTP version 3 status codes (draft-ietf-secsh-filexfer-02, section 7), as ssh2 puts
 * them in `error.code`. Version 3 has no code for "exists", "not empty" or "is a
 * directory": OpenSSH reports all of those as FAILURE, so callers that can tell them
 * apart (by a follow-up lstat) refine the kind themselves.
 */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** Context of an error message: the server, user, operation and path involved. */
export interface ErrorScene {
  /** `host:port` of the server. */
  server: string;
  username: string;
  operation: string;
  /** Absolute path on the server, when the operation has one. */
  remotePath?: string;
}

/** Thrown by the byte counter when the caller's data stream fails, not the server. */
export class SourceStreamError extends Error {
  override readonly name = 'SourceStreamError';
}

/** Socket-level codes that mean the server cannot be reached or went away. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_NOT_CONNECTED']);

/** Messages that ssh2 and ssh2-sftp-client use when a connection ends under a request. */
const DROPPED_MESSAGES = [
  'No response from server',
  'Not connected',
  'Unexpected close event',
  'Unexpected end event',
  'No SFTP connection available',
  'Channel not open',
  'connection closed',
];

interface NativeError {
  message?: string;
  code?: unknown;
  level?: unknown;
}

/**
 * Map a native error (ssh2, ssh2-sftp-client, socket, core path validation) to a
 * `StorageError`; this is the plugin's only such mapping. The message names the
 * server and path so that an operator can act on it without the stack.
 */
export function toStorageError(error: unknown, scene: ErrorScene): StorageError {
  if (StorageError.is(error)) return error;

  const native = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as NativeError;
  const [kind, reason] = classify(error, native, scene);
  const where = scene.remotePath === undefined ? '' : ` ${scene.remotePath}`;

  return new StorageError(kind, `sftp ${scene.operation}${where} on ${scene.server}: ${reason}`, {
    cause: error,
    context: { operation: scene.operation, server: scene.server },
  });
}

/** True when the error means the connection it happened on can no longer be used. */
export function isConnectionLost(error: unknown): boolean {
  if (StorageError.is(error)) return error.kind === 'Unavailable';
  const native = (typeof error === 'object' && error !== null ? error : {}) as NativeError;
  return isDropped(native) || (typeof native.code === 'string' && UNREACHABLE_CODES.has(native.code));
}

/** Return the SFTP status code of an error from an ssh2 request, if it has one. */
export function sftpStatus(error: unknown): number | undefined {
  const code = (error as NativeError | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function classify(error: unknown, native: NativeError, scene: ErrorScene): [StorageErrorKind, string] {
  const message = native.message ?? 'unknown error';

  if (error instanceof SourceStreamError) return ['Unexpected', `the data stream being written failed: ${message}`];
  if (OpError.is(error)) return ['Unexpected', `invalid storage path: ${message}`];

  const status = sftpStatus(error);
  if (status !== undefined) return classifyStatus(status, message);

  return classifyConnection(native, message, scene);
}

function classifyStatus(status: number, message: string): [StorageErrorKind, string] {
  switch (status) {
    case SFTP_STATUS.NO_SUCH_FILE:
      return ['NotFound', 'no such file or directory'];
    case SFTP_STATUS.PERMISSION_DENIED:
      return ['PermissionDenied', `permission denied (${message})`];
    case SFTP_STATUS.NO_CONNECTION:
    case SFTP_STATUS.CONNECTION_LOST:
      return ['Unavailable', `connection to the server lost (${message}); retry when it is back`];
    case SFTP_STATUS.OP_UNSUPPORTED:
      return ['Unsupported', `the server does not support this request (${message})`];
    default:
      return ['Unexpected', `the server failed the request with SFTP status ${status} (${message})`];
  }
}

function classifyConnection(native: NativeError, message: string, scene: ErrorScene): [StorageErrorKind, string] {
  const code = typeof native.code === 'string' ? native.code : undefined;

  if (native.level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    return ['PermissionDenied', `the server rejected user "${scene.username}": check privateKey or password`];
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return ['Unavailable', `cannot connect to ${scene.server} (${code}); check hostname and port, and that sshd runs`];
  }
  if (native.level === 'client-timeout' || /timed out/i.test(message)) {
    return ['Unavailable', `no SSH handshake with ${scene.server} within the timeout (${message})`];
  }
  if (isDropped(native)) {
    return ['Unavailable', `connection to the server lost (${message}); retry when it is back`];
  }
  if (/Unknown flags|handle is not a Buffer/.test(message)) {
    return ['Unexpected', `programming error in the SFTP helper: ${message}`];
  }
  return ['Unexpected', message];
}

function isDropped(native: NativeError): boolean {
  if (typeof native.code === 'string' && DROPPED_CODES.has(native.code)) return true;
  if (native.level === 'client-socket') return true;
  const message = native.message ?? '';
  return DROPPED_MESSAGES.some((text) => message.includes(text));
}

/** A StorageError raised by the helper itself, worded like the mapped ones. */
export function failure(kind: StorageErrorKind, scene: ErrorScene, reason: string): StorageError {
  const where = scene.remotePath === undefined ? '' : ` ${scene.remotePath}`;
  return new StorageError(kind, `sftp ${scene.operation}${where} on ${scene.server}: ${reason}`, {
    context: { operation: scene.operation, server: scene.server },
  });
}
