import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import test from 'ava';
import { pino } from 'pino';
import { createDispatchedHelper, parseStorageConfig, StorageError, type StorageHelper } from '@op-worker/core';
import { posixPlugin } from '../src/index.js';

/**
 * Small reads with a known length skip the stat of the opened file, so what that stat
 * caught (directories, FIFOs, files shorter than expected) is checked here.
 */

async function createHelper(): Promise<{ root: string; helper: StorageHelper }> {
  const root = await mkdtemp(path.join(tmpdir(), 'posix-reader-'));
  const config = parseStorageConfig(posixPlugin.configSchema, { mountPoint: root });
  const logger = pino({ level: 'silent' });
  const plugin = await posixPlugin.create(config, { storageId: 'reader', logger });
  return { root, helper: createDispatchedHelper(plugin, { storageId: 'reader', type: 'posix', logger, retries: 0 }) };
}

async function errorKind(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return StorageError.is(error) ? error.kind : `not a StorageError: ${String(error)}`;
  }
}

test('known-length read returns the range', async (t) => {
  const { root, helper } = await createHelper();
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(path.join(root, 'data'), '0123456789');

  t.is((await buffer(await helper.read('data', { offset: 2, length: 5 }))).toString(), '23456');
  t.is((await buffer(await helper.read('data', { offset: 0, length: 10 }))).toString(), '0123456789');
  t.is((await buffer(await helper.read('data', { offset: 3, length: 0 }))).length, 0);
});

test('known-length read stops at end', async (t) => {
  const { root, helper } = await createHelper();
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(path.join(root, 'short'), 'abc');

  t.is((await buffer(await helper.read('short', { offset: 1, length: 100 }))).toString(), 'bc');
  t.is((await buffer(await helper.read('short', { offset: 50, length: 10 }))).length, 0);
});

test('known-length read of directory fails', async (t) => {
  const { root, helper } = await createHelper();
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'folder'));

  t.is(await errorKind(helper.read('folder', { offset: 0, length: 16 })), 'IsADirectory');
});

test('known-length read of FIFO fails', async (t) => {
  const { root, helper } = await createHelper();
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await promisify(execFile)('mkfifo', [path.join(root, 'pipe')]);

  t.is(await errorKind(helper.read('pipe', { offset: 0, length: 16 })), 'Unsupported');
});
