export { webdavPlugin, webdavPlugin as default } from './manifest.js';
export { webdavConfigSchema, parseWebdavSettings, type WebdavSettings, type RangeWriteSupport, type CredentialsType } from './config.js';
export { WebdavHelper, createWebdavHelper, webdavCapabilities } from './plugin.js';
export { toStorageError, HttpStatusError, type RequestDescription } from './errors.js';
export { parseMultistatus, type DavEntry } from './lister.js';
