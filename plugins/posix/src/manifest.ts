import type { ConfigSchema, StoragePluginManifest } from '@op-worker/core';
import { createPosixHelper, posixCapabilities } from './plugin.js';

/** Options of a POSIX storage, named as in Onedata's POSIX helper where it has them. */
export const posixConfigSchema: ConfigSchema = {
  mountPoint: {
    type: 'string',
    required: true,
    help: 'Directory that is the root of the storage: a local directory or a mounted file system.',
  },
  fileMode: {
    type: 'string',
    default: '0664',
    help: 'Permission bits of new files, as an octal string.',
  },
  dirMode: {
    type: 'string',
    default: '0775',
    help: 'Permission bits of new directories, as an octal string; the process umask still applies.',
  },
  timeout: {
    type: 'integer',
    default: 30000,
    minimum: 1,
    help: 'Time limit of one non-streaming storage operation, in milliseconds.',
  },
  readonly: {
    type: 'boolean',
    default: false,
    help: 'Declare the storage read-only: no write, delete, rename or attribute change reaches it.',
  },
};

/** The POSIX storage plugin: a local or mounted directory. */
export const posixPlugin: StoragePluginManifest = {
  type: 'posix',
  displayName: 'POSIX directory',
  configSchema: posixConfigSchema,
  capabilities: posixCapabilities,
  defaultPathType: 'canonical',
  create: createPosixHelper,
};
