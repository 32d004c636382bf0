export { azureManifest } from './manifest.js';
export { azureConfigSchema, parseAzureSettings, type AzureCredential, type AzureSettings } from './config.js';
export { AzureStorageHelper, azureCapabilities, createAzureHelper } from './plugin.js';
export { toStorageError, type ErrorTarget } from './errors.js';
