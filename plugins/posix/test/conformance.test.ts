import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { registerStorageHelperSuite } from '@op-worker/core/testkit';
import { parseStorageConfig } from '@op-worker/core';
import { posixPlugin } from '../src/index.js';

await registerStorageHelperSuite(test, {
  name: 'posix',
  async create() {
    const mountPoint = await mkdtemp(path.join(tmpdir(), 'posix-conformance-'));
    const config = parseStorageConfig(posixPlugin.configSchema, { mountPoint });
    const helper = await posixPlugin.create(config, { storageId: 'posix-conformance', logger: pino({ level: 'silent' }) });
    return { helper, cleanup: () => rm(mountPoint, { recursive: true, force: true }) };
  },
});
