import { NO_CAPABILITIES, type Capabilities, type StorageConfig, type StorageHelper, type StorageHelperContext } from '@op-worker/core';
import { S3_LIMITS, type PartLimits } from './assembler.js';
import { createS3Target } from './client.js';
import { resolveS3Settings } from './config.js';
import { S3StorageHelper } from './helper.js';

/** Largest S3 object, in bytes (5 TiB). */
const MAX_OBJECT_SIZE = 5 * 1024 ** 4;

/**
 * Capabilities of an S3 helper. Offset writes and truncate rebuild the object with a
 * multipart upload of server-side copies. There are no directories, xattrs, modes or
 * links, because S3 metadata cannot change without rewriting the object.
 */
export function s3Capabilities(_config?: StorageConfig): Capabilities {
  return {
    ...NO_CAPABILITIES,
    stat: true,
    list: true,
    list_with_start_after: true,
    read: true,
    read_with_range: true,
    write: true,
    write_at_offset: true,
    // An offset write copies every unchanged range of the old object into a new multipart upload.
    write_at_offset_rewrites_object: true,
    write_multi_max_size: MAX_OBJECT_SIZE,
    truncate: true,
    delete: true,
    mkdir: true,
    directories: false,
    rename: true,
    copy: true,
    // A completed PutObject or CompleteMultipartUpload is stored durably by S3 before it returns.
    durable_write: true,
  };
}

/**
 * Create a helper for a configuration validated against `s3ConfigSchema`. No request
 * is sent here; the first operation opens the connection. `limits` exists for tests.
 */
export async function createS3Helper(
  config: StorageConfig,
  context: StorageHelperContext,
  limits: PartLimits = S3_LIMITS,
): Promise<StorageHelper> {
  const settings = resolveS3Settings(config);
  const target = createS3Target(settings);
  const logger = context.logger.child({ plugin: 's3', storageId: context.storageId });

  logger.debug({ endpoint: settings.endpoint, bucket: settings.bucket }, 'S3 helper created');
  return new S3StorageHelper(
    s3Capabilities(config),
    target,
    { limits, maximumRewriteSize: settings.maximumRewriteSize, logger },
    logger,
  );
}
