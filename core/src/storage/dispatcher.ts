import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { StorageError, type StorageErrorContext } from '../errors.js';
import type { Capabilities, CapabilityName } from './capabilities.js';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  StorageHelper,
  StorageStat,
  WriteOptions,
  WriteResult,
} from './helper.js';
import { backoffDelayMs, DEFAULT_BACKOFF, sleep, withTimeout, type BackoffOptions } from './retry.js';

export interface DispatcherOptions {
  /** Id of the storage, added to every error and log line. */
  storageId: string;
  /** Helper type (`posix`, `s3`, ...), named in `Unsupported` errors. */
  type: string;
  logger: Logger;
  /** Limit of one attempt of a non-streaming call, in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Retries after the first attempt for temporary errors (default 2, so 3 attempts). */
  retries?: number;
  backoff?: BackoffOptions;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 2;

/**
 * Wrap a plugin's helper so that every call passes the same steps, in this order:
 *
 * 1. Capability check: a call that needs a capability the helper declares false, or an
 *    optional method the helper lacks, fails with `Unsupported` without reaching the
 *    plugin. Arguments count too: a range needs `read_with_range`, an offset
 *    `write_at_offset`, `startAfter` `list_with_start_after`, `durable` `durable_write`,
 *    and a known size above `write_multi_max_size` is rejected.
 * 2. Retry: an attempt that fails with a temporary error is repeated after an
 *    exponential, jittered delay. A `write` is repeated only while its input stream is
 *    untouched, and a `read` only while opening; a stream that fails later is not.
 * 3. Timeout: each attempt of a non-streaming call fails with temporary `Unavailable`
 *    after `timeoutMs`. `write` and `copy` have none, because their duration grows with
 *    the object size; `read` has one for opening the stream only.
 * 4. Error context: every error leaves as a `StorageError` whose context names the
 *    storage id, operation and path. Anything else a plugin throws becomes `Unexpected`
 *    with the original error as its cause.
 * 5. Logging: every call at debug with its duration, expected failures and retries at
 *    warn, `Unexpected` failures at error.
 */
export function createDispatchedHelper(helper: StorageHelper, options: DispatcherOptions): StorageHelper {
  return new DispatchedHelper(helper, options);
}

type Operation =
  | 'stat'
  | 'read'
  | 'write'
  | 'truncate'
  | 'mkdir'
  | 'list'
  | 'delete'
  | 'rmdir'
  | 'rename'
  | 'copy'
  | 'getXattr'
  | 'setXattr'
  | 'removeXattr'
  | 'listXattrs'
  | 'chmod';

/** One dispatched call: what it needs and how the plugin is invoked. */
interface Call<T> {
  operation: Operation;
  path: string;
  /** Extra context for errors and logs, such as a rename target. */
  details?: StorageErrorContext;
  /** Capabilities that must be true, each with the words naming what needs it. */
  needs: Array<[CapabilityName, string]>;
  /** False when the plugin lacks the optional method this call uses. */
  implemented?: boolean;
  /** A capability limit that depends on the arguments; throws `Unsupported`. */
  checkLimits?: () => void;
  invoke: () => Promise<T>;
  /** Whether a failed attempt may be repeated; temporary errors only. */
  canRetry?: () => boolean;
  /** True when a failure came from the caller's input stream rather than the storage. */
  sourceFailed?: () => boolean;
  timeout: boolean;
  /** Release a result that arrived after the attempt timed out. */
  releaseLate?: (value: T) => void;
}

class DispatchedHelper implements StorageHelper {
  readonly capabilities: Capabilities;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: Required<BackoffOptions>;
  private readonly logger: Logger;

  constructor(
    private readonly helper: StorageHelper,
    private readonly options: DispatcherOptions,
  ) {
    this.capabilities = helper.capabilities;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = options.retries ?? DEFAULT_RETRIES;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.logger = options.logger.child({ storageId: options.storageId, storageType: options.type });
  }

  stat(path: string): Promise<StorageStat> {
    return this.run({
      operation: 'stat',
      path,
      needs: [['stat', 'stat']],
      invoke: () => this.helper.stat(path),
      timeout: true,
    });
  }

  read(path: string, range?: ByteRange): Promise<Readable> {
    const needs: Call<Readable>['needs'] = [['read', 'read']];
    if (range !== undefined && (range.offset !== 0 || range.length !== undefined)) {
      needs.push(['read_with_range', 'read with a byte range']);
    }

    return this.run({
      operation: 'read',
      path,
      details: range === undefined ? undefined : { range },
      needs,
      invoke: () => this.helper.read(path, range),
      timeout: true,
      releaseLate: (stream) => stream.destroy(),
    });
  }

  write(path: string, data: Readable, options?: WriteOptions): Promise<WriteResult> {
    const needs: Call<WriteResult>['needs'] = [['write', 'write']];
    if (options?.offset !== undefined) needs.push(['write_at_offset', 'write at an offset']);
    if (options?.durable) needs.push(['durable_write', 'durable write']);

    return this.run({
      operation: 'write',
      path,
      details: options?.offset === undefined ? undefined : { offset: options.offset },
      needs,
      checkLimits: () => this.checkWriteSize(options?.size),
      invoke: () => this.helper.write(path, data, options),
      canRetry: () => !data.readableDidRead && !data.destroyed,
      sourceFailed: () => Boolean(data.errored),
      timeout: false,
    });
  }

  truncate(path: string, size: number): Promise<void> {
    return this.run({
      operation: 'truncate',
      path,
      details: { size },
      needs: [['truncate', 'truncate']],
      invoke: () => this.helper.truncate(path, size),
      timeout: true,
    });
  }

  mkdir(path: string, mode?: number): Promise<void> {
    return this.run({
      operation: 'mkdir',
      path,
      needs: [['mkdir', 'mkdir']],
      invoke: () => this.helper.mkdir(path, mode),
      timeout: true,
    });
  }

  list(path: string, options?: ListOptions): Promise<ListPage> {
    const needs: Call<ListPage>['needs'] = [['list', 'list']];
    if (options?.startAfter !== undefined) needs.push(['list_with_start_after', 'list after a given name']);

    return this.run({
      operation: 'list',
      path,
      needs,
      invoke: () => this.helper.list(path, options),
      timeout: true,
    });
  }

  delete(path: string): Promise<void> {
    return this.run({
      operation: 'delete',
      path,
      needs: [['delete', 'delete']],
      invoke: () => this.helper.delete(path),
      timeout: true,
    });
  }

  rmdir(path: string): Promise<void> {
    return this.run({
      operation: 'rmdir',
      path,
      needs: [['delete', 'rmdir']],
      invoke: () => this.helper.rmdir(path),
      timeout: true,
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run({
      operation: 'rename',
      path: from,
      details: { target: to },
      needs: [['rename', 'rename']],
      implemented: this.helper.rename !== undefined,
      invoke: () => this.helper.rename!(from, to),
      timeout: true,
    });
  }

  copy(from: string, to: string): Promise<void> {
    return this.run({
      operation: 'copy',
      path: from,
      details: { target: to },
      needs: [['copy', 'copy']],
      implemented: this.helper.copy !== undefined,
      invoke: () => this.helper.copy!(from, to),
      timeout: false,
    });
  }

  getXattr(path: string, name: string): Promise<Buffer | undefined> {
    return this.run({
      operation: 'getXattr',
      path,
      details: { xattr: name },
      needs: [['xattrs', 'extended attributes']],
      implemented: this.helper.getXattr !== undefined,
      invoke: () => this.helper.getXattr!(path, name),
      timeout: true,
    });
  }

  setXattr(path: string, name: string, value: Buffer): Promise<void> {
    return this.run({
      operation: 'setXattr',
      path,
      details: { xattr: name },
      needs: [['xattrs', 'extended attributes']],
      implemented: this.helper.setXattr !== undefined,
      invoke: () => this.helper.setXattr!(path, name, value),
      timeout: true,
    });
  }

  removeXattr(path: string, name: string): Promise<void> {
    return this.run({
      operation: 'removeXattr',
      path,
      details: { xattr: name },
      needs: [['xattrs', 'extended attributes']],
      implemented: this.helper.removeXattr !== undefined,
      invoke: () => this.helper.removeXattr!(path, name),
      timeout: true,
    });
  }

  listXattrs(path: string): Promise<string[]> {
    return this.run({
      operation: 'listXattrs',
      path,
      needs: [['xattrs', 'extended attributes']],
      implemented: this.helper.listXattrs !== undefined,
      invoke: () => this.helper.listXattrs!(path),
      timeout: true,
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.run({
      operation: 'chmod',
      path,
      details: { mode },
      needs: [['chmod', 'chmod']],
      implemented: this.helper.chmod !== undefined,
      invoke: () => this.helper.chmod!(path, mode),
      timeout: true,
    });
  }

  async close(): Promise<void> {
    await this.helper.close();
  }

  private async run<T>(call: Call<T>): Promise<T> {
    const started = performance.now();
    const fields = () => ({ operation: call.operation, path: call.path, ...call.details });

    try {
      this.checkCapabilities(call);

      const result = await this.attemptWithRetries(call);

      // Checked first so that the hot path builds no log object when debug is off.
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug({ ...fields(), durationMs: elapsedMs(started) }, 'storage operation done');
      }
      return result;
    } catch (error) {
      const storageError = this.toContextualError(error, call);
      if (call.sourceFailed?.()) {
        // The caller's stream broke (a client went away): nothing is wrong with the storage.
        this.logger.info({ ...fields(), durationMs: elapsedMs(started), reason: storageError.message }, 'storage write aborted by its input stream');
      } else {
        this.logFailure(storageError, { ...fields(), durationMs: elapsedMs(started) });
      }
      throw storageError;
    }
  }

  private checkCapabilities<T>(call: Call<T>): void {
    for (const [capability, what] of call.needs) {
      if (!this.capabilities[capability]) {
        throw new StorageError(
          'Unsupported',
          `storage type "${this.options.type}" does not support ${what} (capability ${capability} is false)`,
          { context: { capability } },
        );
      }
    }

    if (call.implemented === false) {
      const capability = call.needs[0]?.[0];
      throw new StorageError(
        'Unsupported',
        `storage type "${this.options.type}" declares ${capability} but its helper has no ${call.operation} method`,
        { context: { capability } },
      );
    }

    call.checkLimits?.();
  }

  private checkWriteSize(size: number | undefined): void {
    const limit = this.capabilities.write_multi_max_size;
    if (size !== undefined && limit > 0 && size > limit) {
      throw new StorageError(
        'Unsupported',
        `storage type "${this.options.type}" accepts writes of at most ${limit} bytes, not ${size} ` +
          '(capability write_multi_max_size)',
        { context: { capability: 'write_multi_max_size', size } },
      );
    }
  }

  private async attemptWithRetries<T>(call: Call<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(call);
      } catch (error) {
        const storageError = this.toContextualError(error, call);
        const retryable = storageError.retry === 'temporary' && (call.canRetry?.() ?? true);
        if (!retryable || attempt > this.retries) throw storageError;

        const delayMs = Math.round(backoffDelayMs(attempt, this.backoff));
        this.logger.warn(
          { operation: call.operation, path: call.path, attempt, delayMs, err: storageError },
          'storage operation failed with a temporary error; retrying',
        );
        await sleep(delayMs);
      }
    }
  }

  private attempt<T>(call: Call<T>): Promise<T> {
    const pending = Promise.resolve().then(call.invoke);
    if (!call.timeout) return pending;

    const describe = () => `${call.operation} of "${call.path}" on storage ${this.options.storageId}`;
    return withTimeout(pending, this.timeoutMs, describe, call.releaseLate);
  }

  /** Return `error` as a StorageError carrying this call's context. */
  private toContextualError<T>(error: unknown, call: Call<T>): StorageError {
    const context: StorageErrorContext = {
      storageId: this.options.storageId,
      operation: call.operation,
      path: call.path,
      ...call.details,
    };

    if (StorageError.is(error)) {
      error.context = { ...error.context, ...context };
      return error;
    }

    const message = error instanceof Error ? error.message : String(error);
    return new StorageError(
      'Unexpected',
      `storage type "${this.options.type}" failed in ${call.operation} with a non-storage error: ${message}`,
      { cause: error, context },
    );
  }

  private logFailure(error: StorageError, fields: Record<string, unknown>): void {
    if (error.kind === 'Unexpected') {
      this.logger.error({ ...fields, err: error }, 'storage operation failed unexpectedly');
    } else {
      this.logger.warn({ ...fields, kind: error.kind }, `storage operation failed: ${error.message}`);
    }
  }
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
