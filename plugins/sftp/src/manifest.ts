import type { StoragePluginManifest } from '@op-worker/core';
import { sftpConfigSchema } from './config.js';
import { SFTP_CAPABILITIES, createSftpHelper } from './plugin.js';

/** The SFTP storage plugin, as the worker's plugin list names it. */
export const sftpPlugin: StoragePluginManifest = {
  type: 'sftp',
  displayName: 'SFTP (SSH File Transfer Protocol)',
  configSchema: sftpConfigSchema,
  capabilities: () => ({ ...SFTP_CAPABILITIES }),
  defaultPathType: 'canonical',
  create: createSftpHelper,
};

export default sftpPlugin;
