export { posixPlugin, posixConfigSchema } from './manifest.js';
export { PosixHelper, posixCapabilities, createPosixHelper, type PosixSettings } from './plugin.js';
export { toStorageError } from './errors.js';
