export { s3Plugin } from './manifest.js';
export { s3ConfigSchema, resolveS3Settings, type S3Settings } from './config.js';
export { s3Capabilities, createS3Helper } from './plugin.js';
export { S3StorageHelper } from './helper.js';
export { toStorageError, type S3ErrorScope } from './errors.js';
export { S3_LIMITS, choosePartSize, type PartLimits } from './assembler.js';
