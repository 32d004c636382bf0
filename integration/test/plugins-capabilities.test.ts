import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  NO_CAPABILITIES,
  parseStorageConfig,
  type CapabilityName,
  type StorageHelper,
  type StoragePluginManifest,
} from '@op-worker/core';
import { azureManifest } from '@op-worker/plugin-azure';
import { posixPlugin } from '@op-worker/plugin-posix';
import { s3Plugin } from '@op-worker/plugin-s3';
import { sftpPlugin } from '@op-worker/plugin-sftp';
import { pino } from 'pino';

/**
 * Capabilities are declared truthfully by every first-party plugin: each declared
 * capability has the helper method it gates, and each optional method the helper has
 * is announced by its capability. Helpers are created without a server: creating one
 * opens no connection, and the options point at a closed port of 127.0.0.1.
 */

/** Helper methods gated by each capability, as the storage helper contract pairs them. */
const METHODS: Partial<Record<CapabilityName, Array<keyof StorageHelper>>> = {
  stat: ['stat'],
  list: ['list'],
  read: ['read'],
  write: ['write'],
  truncate: ['truncate'],
  delete: ['delete', 'rmdir'],
  mkdir: ['mkdir'],
  rename: ['rename'],
  copy: ['copy'],
  xattrs: ['getXattr', 'setXattr', 'removeXattr', 'listXattrs'],
  chmod: ['chmod'],
  // The contract has no symlink or hardlink method, so no helper may declare them.
  symlink: [],
  hardlink: [],
};

/** Methods a helper may leave out; each must come with its capability. */
const OPTIONAL_METHODS: Array<keyof StorageHelper> = ['rename', 'copy', 'getXattr', 'setXattr', 'removeXattr', 'listXattrs', 'chmod'];

/** Capabilities that qualify another operation (ranges, offsets, limits) and gate no method of their own. */
const QUALIFIERS: CapabilityName[] = ['list_with_start_after', 'read_with_range', 'write_at_offset', 'write_at_offset_rewrites_object', 'write_multi_max_size', 'directories', 'durable_write'];

const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

let mountPoint: string;

test.before(async () => {
  mountPoint = await mkdtemp(path.join(tmpdir(), 'op-it-capabilities-'));
});

test.after.always(async () => {
  await rm(mountPoint, { recursive: true, force: true });
});

/** Valid options of each plugin; the remote ones name port 9 of 127.0.0.1, where nothing listens. */
function optionsFor(type: string): Record<string, unknown> {
  switch (type) {
    case 'posix':
      return { mountPoint };
    case 's3':
      return { hostname: 'http://127.0.0.1:9', bucketName: 'capabilities', accessKey: 'key', secretKey: 'secret' };
    case 'sftp':
      return { hostname: '127.0.0.1', port: 9, username: 'nobody', password: 'unused', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}`, rootPath: '/srv' };
    case 'azure':
      return { endpoint: 'http://127.0.0.1:9/devstoreaccount1', accountName: 'devstoreaccount1', accountKey: AZURITE_KEY, containerName: 'capabilities' };
    default:
      throw new Error(`no test options for plugin type ${type}`);
  }
}

const manifests: StoragePluginManifest[] = [posixPlugin, s3Plugin, sftpPlugin, azureManifest];

for (const manifest of manifests) {
  test(`${manifest.type}: capabilities match methods`, async (t) => {
    const config = parseStorageConfig(manifest.configSchema, optionsFor(manifest.type));
    const helper = await manifest.create(config, { storageId: `capabilities-${manifest.type}`, logger: pino({ level: 'silent' }) });
    t.teardown(() => helper.close());
    const declared = manifest.capabilities(config);

    t.deepEqual(helper.capabilities, declared, 'the helper declares what its manifest declares');
    t.deepEqual(Object.keys(declared).sort(), Object.keys(NO_CAPABILITIES).sort(), 'every capability is declared, and no unknown one');

    for (const [capability, value] of Object.entries(declared) as Array<[CapabilityName, boolean | number]>) {
      if (QUALIFIERS.includes(capability)) continue;
      const methods = METHODS[capability];
      t.truthy(methods, `capability ${capability} has an entry in the method table`);
      if (value !== true) continue;
      t.true(methods!.length > 0, `${capability} is declared but the helper contract has no method for it`);
      for (const method of methods!) t.is(typeof helper[method], 'function', `${capability} is declared, so ${method}() must exist`);
    }

    for (const method of OPTIONAL_METHODS) {
      if (typeof helper[method] !== 'function') continue;
      const capability = (Object.keys(METHODS) as CapabilityName[]).find((name) => METHODS[name]!.includes(method));
      t.true(capability !== undefined && declared[capability] === true, `${method}() exists, so capability ${capability} must be declared`);
    }
  });
}
