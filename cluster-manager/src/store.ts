import { createMetadataStore, loadConfig } from '@op-worker/server';
import type { MetadataStore } from '@op-worker/core';
import type { Logger } from 'pino';

/** Sources of the worker configuration that selects the metadata store. */
export interface ClusterStoreOptions {
  /** Data folder of the workers, passed to them as `--data-dir`. It wins over the file and the environment. */
  dataDir?: string;
  /** The `--config` file of the workers, when they get one. */
  workerConfigFile?: string;
  /** The workers' environment: this process's environment plus the extra variables the manager sets. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/**
 * Create, but do not open, the metadata store the workers use, read from the same
 * sources the workers read: the configuration file, `OP_WORKER_*` variables and the
 * data folder. Membership records and the leader lease then live beside the workers'
 * metadata: in `<dataDir>/metadata.db` with SQLite, or in the shared keyspace with
 * Cassandra, where managers on several hosts see each other.
 */
export async function createClusterStore(options: ClusterStoreOptions): Promise<MetadataStore> {
  const config = await loadConfig({ file: options.workerConfigFile, env: options.env, overrides: { dataDir: options.dataDir } });
  return createMetadataStore(config, options.logger);
}
