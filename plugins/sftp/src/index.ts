export { sftpPlugin, sftpPlugin as default } from './manifest.js';
export { sftpConfigSchema, parseSftpSettings, MAX_POOL_SIZE, type SftpSettings } from './config.js';
export { SFTP_CAPABILITIES, SftpHelper, createSftpHelper } from './plugin.js';
export { fingerprintOf } from './client.js';
export { toStorageError, SFTP_STATUS } from './errors.js';
