import type { StoragePluginManifest } from '@op-worker/core';
import { azureConfigSchema } from './config.js';
import { azureCapabilities, createAzureHelper } from './plugin.js';

/** The Azure Blob plugin as the worker's plugin list names it (`type: 'azure'`). */
export const azureManifest: StoragePluginManifest = {
  type: 'azure',
  displayName: 'Azure Blob Storage',
  configSchema: azureConfigSchema,
  capabilities: azureCapabilities,
  defaultPathType: 'flat',
  create: createAzureHelper,
};
