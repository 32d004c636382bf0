import type { StoragePluginManifest } from '@op-worker/core';
import { parseWebdavSettings, webdavConfigSchema } from './config.js';
import { createWebdavHelper, webdavCapabilities } from './plugin.js';

/** The WebDAV storage plugin; the worker finds it among the exports of this package. */
export const webdavPlugin: StoragePluginManifest = {
  type: 'webdav',
  displayName: 'WebDAV',
  configSchema: webdavConfigSchema,
  capabilities: (config) => webdavCapabilities(parseWebdavSettings(config)),
  defaultPathType: 'canonical',
  create: createWebdavHelper,
};

export default webdavPlugin;
