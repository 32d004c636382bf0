import 'reflect-metadata';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { bootstrapCore, SqliteMetadataStore, type Core, type MetadataStore } from '@op-worker/core';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import { loadPlugins } from './plugins.js';
import type { CassandraStoreConfig } from './store-config.js';

/** File name of the SQLite metadata store inside the data folder. */
export const METADATA_FILE = 'metadata.db';

/** Package of the Cassandra store, imported only when the configuration selects it. */
export const CASSANDRA_STORE_PACKAGE = '@op-worker/metadata-cassandra';

/**
 * Open the configured metadata store and build the core services with the configured
 * plugins. The worker and the admin commands share this, so an admin command may run
 * beside a running worker (SQLite in WAL mode allows it, and Cassandra serves any
 * number of clients).
 */
export async function openCore(config: WorkerConfig, logger: Logger): Promise<Core> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const plugins = await loadPlugins(config.plugins);

  const store = await createMetadataStore(config, logger);
  await store.open();
  const jobs = { leaseTtlMs: config.jobLeaseTtlMs, pollIntervalMs: config.jobPollIntervalMs };
  return bootstrapCore({ store, plugins, logger, providerId: config.providerId, jobs });
}

/** Create, but do not open, the store that `config.metadataStore` selects. */
export async function createMetadataStore(config: WorkerConfig, logger: Logger): Promise<MetadataStore> {
  const selected = config.metadataStore;
  if (selected.type === 'sqlite') {
    return new SqliteMetadataStore({ path: path.join(config.dataDir, METADATA_FILE), logger });
  }
  return createCassandraStore(selected, logger);
}

/** The part of `@op-worker/metadata-cassandra` the worker uses; the package is typed there. */
interface CassandraStoreModule {
  CassandraMetadataStore: new (options: Record<string, unknown>) => MetadataStore;
}

async function createCassandraStore(settings: CassandraStoreConfig, logger: Logger): Promise<MetadataStore> {
  let loaded: CassandraStoreModule;
  try {
    // A name in a variable keeps TypeScript and bundlers from linking the package into SQLite-only workers.
    const packageName: string = CASSANDRA_STORE_PACKAGE;
    loaded = (await import(packageName)) as CassandraStoreModule;
  } catch (error) {
    throw new Error(
      `cannot load ${CASSANDRA_STORE_PACKAGE} for "metadataStore": {"type": "cassandra"}: ${(error as Error).message}; install it next to @op-worker/server`,
      { cause: error },
    );
  }

  const { type: _type, tls, ...options } = settings;
  return new loaded.CassandraMetadataStore({ ...options, ...(tls === undefined ? {} : { tls: await readTlsFiles(tls) }), logger });
}

/**
 * Read the PEM files named by the TLS settings into the options of `tls.connect`.
 * NOTE: no test runs the Cassandra store over TLS; the test node listens on plain TCP.
 */
async function readTlsFiles(tls: NonNullable<CassandraStoreConfig['tls']>): Promise<Record<string, unknown>> {
  const read = async (file: string | undefined, option: string): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new Error(`cannot read "metadataStore.tls.${option}" file "${file}": ${(error as Error).message}`, { cause: error });
    }
  };

  const options: Record<string, unknown> = {
    ca: await read(tls.caFile, 'caFile'),
    cert: await read(tls.certFile, 'certFile'),
    key: await read(tls.keyFile, 'keyFile'),
    servername: tls.servername,
    rejectUnauthorized: tls.rejectUnauthorized,
  };
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
