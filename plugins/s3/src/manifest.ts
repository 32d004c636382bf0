import type { StoragePluginManifest } from '@op-worker/core';
import { s3ConfigSchema } from './config.js';
import { createS3Helper, s3Capabilities } from './plugin.js';

/** The S3 storage plugin: AWS S3 and S3-compatible servers, one object per file. */
export const s3Plugin: StoragePluginManifest = {
  type: 's3',
  displayName: 'Amazon S3 and S3-compatible object storage',
  configSchema: s3ConfigSchema,
  capabilities: s3Capabilities,
  defaultPathType: 'flat',
  create: (config, context) => createS3Helper(config, context),
};
