import { Readable, Writable } from 'node:stream';
import test from 'ava';
import { pino, type Logger } from 'pino';
import { StorageError } from '../src/errors.js';
import { NO_CAPABILITIES, type Capabilities } from '../src/storage/capabilities.js';
import { createDispatchedHelper, type DispatcherOptions } from '../src/storage/dispatcher.js';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  StorageHelper,
  StorageStat,
  WriteOptions,
  WriteResult,
} from '../src/storage/helper.js';

const ALL_CAPABILITIES: Capabilities = {
  ...NO_CAPABILITIES,
  stat: true,
  list: true,
  list_with_start_after: true,
  read: true,
  read_with_range: true,
  write: true,
  write_at_offset: true,
  truncate: true,
  delete: true,
  mkdir: true,
  directories: true,
  rename: true,
  copy: true,
  chmod: true,
  durable_write: true,
};

const FILE_STAT: StorageStat = { type: 'file', size: 3, mtimeMs: 0 };

/**
 * A helper that implements the plugin interface in memory and records each call.
 * `failures` contains what the next calls throw, in order, and a call with no failure
 * left succeeds.
 */
class RecordingHelper implements StorageHelper {
  readonly calls: string[] = [];
  failures: unknown[] = [];
  /** What the next `write` calls throw before they read their input. */
  failuresBeforeReading: unknown[] = [];
  hang = false;
  lateStreams: Readable[] = [];

  constructor(readonly capabilities: Capabilities) {}

  private async enter(operation: string): Promise<void> {
    this.calls.push(operation);
    if (this.hang) await new Promise((resolve) => setTimeout(resolve, 200));
    if (this.failures.length > 0) throw this.failures.shift();
  }

  async stat(): Promise<StorageStat> {
    await this.enter('stat');
    return FILE_STAT;
  }

  async read(_path: string, _range?: ByteRange): Promise<Readable> {
    await this.enter('read');
    const stream = Readable.from([Buffer.from('abc')]);
    this.lateStreams.push(stream);
    return stream;
  }

  async write(_path: string, data: Readable, _options?: WriteOptions): Promise<WriteResult> {
    this.calls.push('write');
    if (this.failuresBeforeReading.length > 0) throw this.failuresBeforeReading.shift();

    let written = 0;
    for await (const chunk of data) {
      written += (chunk as Buffer).length;
      if (this.failures.length > 0) throw this.failures.shift();
    }
    return { written, size: written };
  }

  async truncate(): Promise<void> {
    await this.enter('truncate');
  }

  async mkdir(): Promise<void> {
    await this.enter('mkdir');
  }

  async list(_path: string, _options?: ListOptions): Promise<ListPage> {
    await this.enter('list');
    return { entries: [], isLast: true };
  }

  async delete(): Promise<void> {
    await this.enter('delete');
  }

  async rmdir(): Promise<void> {
    await this.enter('rmdir');
  }

  async rename(): Promise<void> {
    await this.enter('rename');
  }

  async copy(): Promise<void> {
    await this.enter('copy');
  }

  async chmod(): Promise<void> {
    await this.enter('chmod');
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

interface LogLine {
  level: number;
  msg: string;
  operation?: string;
  durationMs?: number;
  storageId?: string;
}

/** A pino logger at debug level whose lines are parsed into `lines`. */
function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, destination), lines };
}

function dispatch(helper: StorageHelper, options: Partial<DispatcherOptions> = {}): StorageHelper {
  return createDispatchedHelper(helper, {
    storageId: 'storage-1',
    type: 'memory',
    logger: pino({ level: 'silent' }),
    backoff: { initialDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
}

function temporary(message = 'server busy'): StorageError {
  return new StorageError('Unavailable', message);
}

async function expectStorageError(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    if (StorageError.is(error)) return error;
    throw new Error(`expected a StorageError, got ${String(error)}`);
  }
  throw new Error('expected the call to fail, but it succeeded');
}

test('capability false rejects without calling plugin', async (t) => {
  const plugin = new RecordingHelper({ ...ALL_CAPABILITIES, truncate: false });
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.truncate('a/b', 0));

  t.is(error.kind, 'Unsupported');
  t.is(error.retry, 'permanent');
  t.regex(error.message, /"memory"/);
  t.regex(error.message, /truncate/);
  t.regex(error.message, /capability truncate is false/);
  t.is(error.context.capability, 'truncate');
  t.deepEqual(plugin.calls, []);
});

test('argument-dependent capabilities are checked', async (t) => {
  const plugin = new RecordingHelper({
    ...ALL_CAPABILITIES,
    read_with_range: false,
    write_at_offset: false,
    list_with_start_after: false,
    durable_write: false,
  });
  const helper = dispatch(plugin);
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['ranged read', () => helper.read('f', { offset: 1, length: 2 }), 'read_with_range'],
    ['read with length only', () => helper.read('f', { offset: 0, length: 2 }), 'read_with_range'],
    ['offset write', () => helper.write('f', Readable.from([]), { offset: 0 }), 'write_at_offset'],
    ['durable write', () => helper.write('f', Readable.from([]), { durable: true }), 'durable_write'],
    ['list after a name', () => helper.list('d', { startAfter: 'x' }), 'list_with_start_after'],
  ];

  for (const [label, call, capability] of cases) {
    const error = await expectStorageError(call());
    t.is(error.kind, 'Unsupported', label);
    t.is(error.context.capability, capability, label);
  }
  t.deepEqual(plugin.calls, []);
});

test('plain calls pass without optional capabilities', async (t) => {
  const plugin = new RecordingHelper({
    ...ALL_CAPABILITIES,
    read_with_range: false,
    write_at_offset: false,
    list_with_start_after: false,
  });
  const helper = dispatch(plugin);

  await helper.read('f');
  await helper.read('f', { offset: 0 });
  await helper.write('f', Readable.from([Buffer.from('xy')]));
  await helper.list('d', { limit: 5 });

  t.deepEqual(plugin.calls, ['read', 'read', 'write', 'list']);
});

test('missing optional method is unsupported', async (t) => {
  const plugin = new RecordingHelper({ ...ALL_CAPABILITIES, xattrs: true });
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.getXattr!('f', 'user.a'));

  t.is(error.kind, 'Unsupported');
  t.regex(error.message, /no getXattr method/);
  t.is(error.context.capability, 'xattrs');
});

test('write above write_multi_max_size is rejected', async (t) => {
  const plugin = new RecordingHelper({ ...ALL_CAPABILITIES, write_multi_max_size: 10 });
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.write('f', Readable.from([]), { size: 11 }));
  await helper.write('f', Readable.from([Buffer.alloc(10)]), { size: 10 });

  t.is(error.kind, 'Unsupported');
  t.is(error.context.capability, 'write_multi_max_size');
  t.deepEqual(plugin.calls, ['write']);
});

test('temporary errors are retried until success', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failures = [temporary(), new StorageError('RateLimited', 'slow down')];
  const helper = dispatch(plugin);

  const stat = await helper.stat('f');

  t.deepEqual(stat, FILE_STAT);
  t.deepEqual(plugin.calls, ['stat', 'stat', 'stat']);
});

test('retries stop after the configured count', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failures = [temporary('1'), temporary('2'), temporary('3'), temporary('4')];
  const helper = dispatch(plugin, { retries: 2 });

  const error = await expectStorageError(helper.mkdir('d'));

  t.is(error.kind, 'Unavailable');
  t.is(error.message, '3');
  t.deepEqual(plugin.calls, ['mkdir', 'mkdir', 'mkdir']);
});

test('permanent errors are not retried', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failures = [new StorageError('NotFound', 'no such object')];
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.stat('f'));

  t.is(error.kind, 'NotFound');
  t.deepEqual(plugin.calls, ['stat']);
});

test('write is not retried after reading input', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failures = [temporary()];
  const helper = dispatch(plugin);

  const data = Readable.from([Buffer.from('first'), Buffer.from('second')]);
  const error = await expectStorageError(helper.write('f', data));

  t.is(error.kind, 'Unavailable');
  t.deepEqual(plugin.calls, ['write']);
});

test('write is retried while input is untouched', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failuresBeforeReading = [temporary('connection refused before upload')];
  const helper = dispatch(plugin);

  const result = await helper.write('f', Readable.from([Buffer.from('abcd')]));

  t.deepEqual(plugin.calls, ['write', 'write']);
  t.deepEqual(result, { written: 4, size: 4 });
});

test('slow call times out as temporary Unavailable', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.hang = true;
  const helper = dispatch(plugin, { timeoutMs: 20, retries: 1 });

  const error = await expectStorageError(helper.list('dir'));

  t.is(error.kind, 'Unavailable');
  t.is(error.retry, 'temporary');
  t.regex(error.message, /timed out after 20 ms/);
  t.deepEqual(plugin.calls, ['list', 'list']);
});

test('stream opened after timeout is destroyed', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.hang = true;
  const helper = dispatch(plugin, { timeoutMs: 20, retries: 0 });

  const error = await expectStorageError(helper.read('f'));
  await new Promise((resolve) => setTimeout(resolve, 300));

  t.is(error.kind, 'Unavailable');
  t.is(plugin.lateStreams.length, 1);
  t.true(plugin.lateStreams[0]?.destroyed);
});

test('errors carry storage id, operation and path', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  plugin.failures = [new StorageError('AlreadyExists', 'target exists', { context: { inode: 7 } })];
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.rename!('a/from', 'b/to'));

  t.is(error.context.storageId, 'storage-1');
  t.is(error.context.operation, 'rename');
  t.is(error.context.path, 'a/from');
  t.is(error.context.target, 'b/to');
  t.is(error.context.inode, 7);
});

test('non-storage errors become Unexpected', async (t) => {
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  const cause = new TypeError('cannot read properties of undefined');
  plugin.failures = [cause];
  const helper = dispatch(plugin);

  const error = await expectStorageError(helper.delete('x'));

  t.is(error.kind, 'Unexpected');
  t.is(error.retry, 'permanent');
  t.is(error.cause, cause);
  t.regex(error.message, /cannot read properties of undefined/);
  t.is(error.context.operation, 'delete');
  t.deepEqual(plugin.calls, ['delete']);
});

test('log levels follow the outcome', async (t) => {
  const { logger, lines } = recordingLogger();
  const plugin = new RecordingHelper(ALL_CAPABILITIES);
  const helper = dispatch(plugin, { logger, retries: 0 });

  await helper.stat('ok');
  plugin.failures = [new StorageError('NotFound', 'gone')];
  await expectStorageError(helper.stat('missing'));
  plugin.failures = [new RangeError('bad offset')];
  await expectStorageError(helper.stat('broken'));

  const debug = lines.filter((line) => line.level === 20);
  const warn = lines.filter((line) => line.level === 40);
  const error = lines.filter((line) => line.level === 50);
  t.is(debug.length, 1);
  t.is(debug[0]?.operation, 'stat');
  t.is(typeof debug[0]?.durationMs, 'number');
  t.is(debug[0]?.storageId, 'storage-1');
  t.is(warn.length, 1);
  t.regex(warn[0]?.msg ?? '', /gone/);
  t.is(error.length, 1);
});

test('close reaches the plugin', async (t) => {
  const plugin = new RecordingHelper(NO_CAPABILITIES);
  await dispatch(plugin).close();
  t.deepEqual(plugin.calls, ['close']);
});
