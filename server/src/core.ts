import 'reflect-metadata';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { bootstrapCore, SqliteMetadataStore, type Core } from '@op-worker/core';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import { loadPlugins } from './plugins.js';

/** File name of the SQLite metadata store inside the data folder. */
export const METADATA_FILE = 'metadata.db';

/**
 * Open the data folder's metadata store and build the core services with the
 * configured plugins. The worker and the admin commands share this, so an admin
 * command may run beside a running worker (SQLite in WAL mode allows it).
 */
export async function openCore(config: WorkerConfig, logger: Logger): Promise<Core> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const plugins = await loadPlugins(config.plugins);

  const store = new SqliteMetadataStore({ path: path.join(config.dataDir, METADATA_FILE), logger });
  await store.open();
  return bootstrapCore({ store, plugins, logger, providerId: config.providerId });
}
