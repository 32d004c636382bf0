import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Attributes, FileEntryWithStats, InputAttributes, SFTPWrapper, Stats } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { StorageError } from '@op-worker/core';
import type { SftpSettings } from './config.js';
import { isConnectionLost, toStorageError, type ErrorScene } from './errors.js';

/** SFTP open flags (draft-ietf-secsh-filexfer-02, 6.3); ssh2 accepts them as a number. */
export const OPEN_FLAGS = {
  READ: 0x01,
  WRITE: 0x02,
  CREATE: 0x08,
  TRUNCATE: 0x10,
  EXCLUSIVE: 0x20,
} as const;

/** Milliseconds between SSH keepalives, and how many may go unanswered before the link counts as dead. */
const KEEPALIVE_INTERVAL_MS = 10_000;
const KEEPALIVE_COUNT_MAX = 3;

/** `SHA256:<base64 without padding>`, the form `ssh-keygen -l -E sha256` prints. */
export function fingerprintOf(hostKey: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '');
}

/**
 * One SSH connection with its SFTP channel. Methods are promise versions of ssh2's
 * SFTP requests; they reject with ssh2's native errors, which callers map once.
 * `alive` turns false as soon as the connection or channel closes, so the pool never
 * hands out a dead one.
 */
export class SftpConnection {
  alive = true;

  constructor(
    readonly id: number,
    private readonly client: SftpClient,
    private readonly sftp: SFTPWrapper,
  ) {}

  open(path: string, flags: number, attrs?: InputAttributes): Promise<Buffer> {
    return this.call<Buffer>((done) => this.sftp.open(path, flags, attrs ?? {}, done));
  }

  close(handle: Buffer): Promise<void> {
    return this.call<void>((done) => this.sftp.close(handle, done));
  }

  /** Read up to `length` bytes at `position`; fewer only at the end of the file. */
  read(handle: Buffer, length: number, position: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    return this.call<Buffer>((done) =>
      this.sftp.read(handle, buffer, 0, length, position, (error, bytesRead) =>
        done(error, buffer.subarray(0, bytesRead ?? 0)),
      ),
    );
  }

  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    return this.call<void>((done) => this.sftp.write(handle, data, 0, data.length, position, (error) => done(error)));
  }

  fstat(handle: Buffer): Promise<Stats> {
    return this.call<Stats>((done) => this.sftp.fstat(handle, done));
  }

  fsetstat(handle: Buffer, attrs: InputAttributes): Promise<void> {
    return this.call<void>((done) => this.sftp.fsetstat(handle, attrs, done));
  }

  /** fsync@openssh.com: flush the file to the server's disk. */
  fsync(handle: Buffer): Promise<void> {
    return this.call<void>((done) => this.sftp.ext_openssh_fsync(handle, (error) => done(error)));
  }

  lstat(path: string): Promise<Stats> {
    return this.call<Stats>((done) => this.sftp.lstat(path, done));
  }

  setstat(path: string, attrs: InputAttributes): Promise<void> {
    return this.call<void>((done) => this.sftp.setstat(path, attrs, done));
  }

  readdir(path: string): Promise<FileEntryWithStats[]> {
    return this.call<FileEntryWithStats[]>((done) => this.sftp.readdir(path, done));
  }

  mkdir(path: string, attrs: InputAttributes): Promise<void> {
    return this.call<void>((done) => this.sftp.mkdir(path, attrs, done));
  }

  rmdir(path: string): Promise<void> {
    return this.call<void>((done) => this.sftp.rmdir(path, done));
  }

  unlink(path: string): Promise<void> {
    return this.call<void>((done) => this.sftp.unlink(path, done));
  }

  /** posix-rename@openssh.com: rename(2) semantics, replacing an existing target file. */
  posixRename(from: string, to: string): Promise<void> {
    return this.call<void>((done) => this.sftp.ext_openssh_rename(from, to, done));
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.call<void>((done) => this.sftp.chmod(path, mode, done));
  }

  /** Close the connection; waits for the server to acknowledge. Never throws. */
  async end(): Promise<void> {
    this.alive = false;
    try {
      await this.client.end();
    } catch {
      // The connection is going away either way; a failing goodbye changes nothing.
    }
  }

  /**
   * Run one ssh2 request. A request on a closed channel is rejected here, because
   * ssh2 would queue it on a channel that never replies.
   */
  private call<T>(request: (done: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    if (!this.alive) return Promise.reject(new Error('Not connected: the SSH connection was closed'));

    return new Promise<T>((resolve, reject) => {
      try {
        request((error, value) => (error ? reject(error) : resolve(value as T)));
      } catch (error) {
        reject(error);
      }
    });
  }
}

interface Waiter {
  /** Hand over an idle connection, or null to let the waiter open a new one. */
  resolve(connection: SftpConnection | null): void;
  reject(error: StorageError): void;
  timer: NodeJS.Timeout;
}

/**
 * A bounded pool of SFTP connections. At most `connectionPoolSize` connections are
 * open or opening at once; further callers wait in FIFO order for up to `timeout` ms.
 * A broken connection is dropped and its slot goes to the next caller, who opens a
 * fresh one. So after a server restart the next call reconnects.
 */
export class SftpConnectionPool {
  private readonly idle: SftpConnection[] = [];
  private readonly waiters: Waiter[] = [];
  /** Connections open or being opened, busy or idle. */
  private size = 0;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly settings: SftpSettings,
    private readonly logger: Logger,
  ) {}

  /** Build the context of an error message: server, user, operation and path. */
  scene(operation: string, remotePath?: string): ErrorScene {
    return {
      server: `${this.settings.hostname}:${this.settings.port}`,
      username: this.settings.username,
      operation,
      remotePath,
    };
  }

  /**
   * Run `work` on one connection and give the connection back. A connection-level
   * failure drops the connection from the pool. Errors are mapped to StorageError.
   */
  async use<T>(operation: string, remotePath: string | undefined, work: (connection: SftpConnection) => Promise<T>): Promise<T> {
    const connection = await this.acquire(operation);
    try {
      const result = await work(connection);
      this.release(connection);
      return result;
    } catch (error) {
      this.release(connection, isConnectionLost(error));
      throw toStorageError(error, this.scene(operation, remotePath));
    }
  }

  /** Take a connection for exclusive use; give it back with `release`. */
  async acquire(operation: string): Promise<SftpConnection> {
    if (this.closed) throw new StorageError('Unexpected', 'sftp helper used after close()');

    const idle = this.takeIdle();
    if (idle) return idle;

    if (this.size < this.settings.connectionPoolSize) {
      this.size += 1;
      return this.openForSlot(operation);
    }

    const handed = await this.waitForTurn(operation);
    return handed ?? this.openForSlot(operation);
  }

  /** Return a connection; `broken` (or a dead connection) closes it and frees its slot. */
  release(connection: SftpConnection, broken = false): void {
    if (broken || !connection.alive || this.closed) {
      if (connection.alive || broken) this.logger.debug({ connection: connection.id }, 'sftp connection dropped from the pool');
      void connection.end();
      this.size -= 1;
      this.handSlotToWaiter();
      return;
    }

    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(connection);
      return;
    }
    this.idle.push(connection);
  }

  /** Close idle connections and reject new work. Busy connections close when released. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new StorageError('Unavailable', 'sftp helper closed while waiting for a connection'));
    }
    const idle = this.idle.splice(0);
    this.size -= idle.length;
    await Promise.all(idle.map((connection) => connection.end()));
  }

  private takeIdle(): SftpConnection | undefined {
    while (this.idle.length > 0) {
      const connection = this.idle.pop() as SftpConnection;
      if (connection.alive) return connection;
      this.size -= 1;
    }
    return undefined;
  }

  private async openForSlot(operation: string): Promise<SftpConnection> {
    try {
      return await this.connect(operation);
    } catch (error) {
      this.size -= 1;
      this.handSlotToWaiter();
      throw error;
    }
  }

  private waitForTurn(operation: string): Promise<SftpConnection | null> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          const busy = `all ${this.settings.connectionPoolSize} connections to ${this.scene(operation).server} stayed busy`;
          reject(new StorageError('Unavailable', `sftp ${operation}: ${busy} for ${this.settings.timeout} ms; raise connectionPoolSize or timeout`));
        }, this.settings.timeout),
      };
      this.waiters.push(waiter);
    });
  }

  private handSlotToWaiter(): void {
    if (this.closed || this.size >= this.settings.connectionPoolSize) return;
    const waiter = this.waiters.shift();
    if (!waiter) return;

    clearTimeout(waiter.timer);
    this.size += 1;
    waiter.resolve(null);
  }

  private async connect(operation: string): Promise<SftpConnection> {
    const id = this.nextId++;
    const scene = this.scene(operation);
    let connection: SftpConnection | undefined;
    let socketError: unknown;
    let presentedFingerprint: string | undefined;

    const client = new SftpClient(`op-worker-sftp-${id}`, {
      error: (error: unknown) => this.onConnectionGone(connection, 'error', error as Error),
      end: () => this.onConnectionGone(connection, 'end'),
      close: () => this.onConnectionGone(connection, 'close'),
    });
    // ssh2-sftp-client rewrites connect errors into plain text and drops ssh2's
    // `level`; keep the original to tell authentication from network failures.
    client.on('error', (error: unknown) => {
      socketError ??= error;
    });

    try {
      const sftp = await client.connect({
        host: this.settings.hostname,
        port: this.settings.port,
        username: this.settings.username,
        privateKey: this.settings.privateKey,
        passphrase: this.settings.privateKeyPassphrase,
        password: this.settings.password,
        readyTimeout: this.settings.timeout,
        keepaliveInterval: KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          presentedFingerprint = fingerprintOf(key);
          return this.settings.hostKeyFingerprint === undefined || presentedFingerprint === this.settings.hostKeyFingerprint;
        },
      });
      connection = new SftpConnection(id, client, sftp);
      sftp.on('error', (error: Error) => this.onConnectionGone(connection, 'sftp channel error', error));
      sftp.on('close', () => this.onConnectionGone(connection, 'sftp channel close'));
    } catch (error) {
      await client.end().catch(() => undefined);
      throw this.connectError(socketError ?? error, presentedFingerprint, scene);
    }

    this.logger.debug({ connection: id, server: scene.server }, 'sftp connection opened');
    return connection;
  }

  private connectError(error: unknown, presentedFingerprint: string | undefined, scene: ErrorScene): StorageError {
    const expected = this.settings.hostKeyFingerprint;
    const hostKeyRejected = /Host denied \(verification failed\)/.test(String((error as Error | undefined)?.message));

    if (hostKeyRejected && expected !== undefined) {
      this.logger.warn({ server: scene.server, expected, presented: presentedFingerprint }, 'sftp host key mismatch');
      return new StorageError(
        'PermissionDenied',
        `sftp ${scene.operation} (connect) on ${scene.server}: host key fingerprint ${presentedFingerprint ?? '(none)'} does not match ` +
          `the configured hostKeyFingerprint ${expected}; if the server key changed on purpose, set hostKeyFingerprint to the new value`,
        { cause: error, context: { operation: 'connect', server: scene.server } },
      );
    }

    const mapped = toStorageError(error, { ...scene, operation: `${scene.operation} (connect)` });
    this.logger.warn({ server: scene.server, kind: mapped.kind, err: mapped.message }, 'sftp connection failed');
    return mapped;
  }

  private onConnectionGone(connection: SftpConnection | undefined, event: string, error?: Error): void {
    if (!connection || !connection.alive) return;
    connection.alive = false;
    this.logger.warn({ connection: connection.id, event, err: error?.message }, 'sftp connection lost');

    const index = this.idle.indexOf(connection);
    if (index >= 0) {
      this.idle.splice(index, 1);
      this.size -= 1;
      this.handSlotToWaiter();
    }
  }
}

export type { Attributes, Stats };
