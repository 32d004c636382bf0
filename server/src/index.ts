export { createApp, type AppDependencies } from './app.js';
export { loadConfig, ConfigError, DEFAULT_CONFIG, ENVIRONMENT_VARIABLES, type WorkerConfig } from './config.js';
export { startWorker, type RunningWorker } from './worker.js';
export { openCore } from './core.js';
export { ensureEmbeddedDefaults } from './embedded.js';
export { loadPlugins } from './plugins.js';
export { createLogger } from './logger.js';
export { toErrorResponse, ApiError } from './errors.js';
export type { ProviderInfo } from './provider.js';
