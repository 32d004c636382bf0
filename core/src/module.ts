import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import pino, { type Logger } from 'pino';
import { TokenService } from './auth/tokens.js';
import { UserService } from './auth/users.js';
import { StorageImporterImpl } from './import/importer.js';
import { ShareService } from './shares/share-service.js';
import type { LogicalFileSystem } from './lfs/api.js';
import { LogicalFileSystemImpl, type CoreOptions } from './lfs/file-system.js';
import type { MetadataStore } from './metadata/store.js';
import type { SpaceService, StorageImporter, StorageRegistry } from './spaces/api.js';
import { SpaceServiceImpl } from './spaces/space-service.js';
import { StorageRegistryImpl } from './spaces/storage-registry.js';
import type { StoragePluginManifest } from './storage/helper.js';
import { systemClock, TYPES, type Clock } from './tokens.js';
import { EventBus } from './events/bus.js';
import { JobRunner, type JobRunnerOptions } from './jobs/runner.js';
import { QosService } from './qos/service.js';
import { RuleEngine } from './rules/engine.js';
import { ReplicaEngine } from './transfers/replicas.js';
import { TransferService } from './transfers/service.js';

/**
 * Binds the core services. The composition root binds, before loading it:
 * `TYPES.MetadataStore`, `TYPES.StoragePluginManifests`, `TYPES.Logger`, `TYPES.Clock`
 * and `TYPES.CoreOptions`.
 */
export const coreModule = new ContainerModule(({ bind }) => {
  bind(TYPES.StorageRegistry).to(StorageRegistryImpl).inSingletonScope();
  bind(TYPES.SpaceService).to(SpaceServiceImpl).inSingletonScope();
  bind(TYPES.LogicalFileSystem).to(LogicalFileSystemImpl).inSingletonScope();
  bind(TYPES.StorageImporter).to(StorageImporterImpl).inSingletonScope();
  bind(TYPES.ShareService).to(ShareService).inSingletonScope();
  bind(TYPES.UserService).to(UserService).inSingletonScope();
  bind(TYPES.TokenService).to(TokenService).inSingletonScope();
});

export interface CoreBootstrapOptions {
  /** An opened metadata store; `Core.close` closes it. */
  store: MetadataStore;
  /** Storage plugins to load, by manifest. */
  plugins: StoragePluginManifest[];
  logger?: Logger;
  clock?: Clock;
  /** Defaults to `local-provider`. */
  providerId?: string;
  /** Lease time, poll interval and concurrency of background jobs (transfers, QoS). */
  jobs?: Partial<JobRunnerOptions>;
  /** Bytes copied per step of a replication, recorded as one block when it lands. Default 8 MiB. */
  replicationChunkSize?: number;
}

/** The core services of one worker or embedding program. */
export interface Core {
  container: Container;
  store: MetadataStore;
  lfs: LogicalFileSystem;
  spaces: SpaceService;
  storages: StorageRegistry;
  importer: StorageImporter;
  shares: ShareService;
  users: UserService;
  tokens: TokenService;
  /** The one dispatch point of data events (file changes, QoS, storages). */
  events: EventBus;
  /** Background jobs; `jobs.start()` makes this process run them. */
  jobs: JobRunner;
  transfers: TransferService;
  qos: QosService;
  /** Administrator rules: match files of a space and act on them. */
  rules: RuleEngine;
  logger: Logger;
  /** Stop running jobs, close storage helpers, then the metadata store. */
  close(): Promise<void>;
}

/**
 * Build the core services around an opened store: the composition root for programs
 * that embed `@op-worker/core` without the server.
 */
export function bootstrapCore(options: CoreBootstrapOptions): Core {
  const logger = options.logger ?? pino({ level: process.env['OP_WORKER_LOG_LEVEL'] ?? 'warn' });
  const coreOptions: CoreOptions = { providerId: options.providerId ?? 'local-provider' };
  const container = new Container();

  container.bind(TYPES.MetadataStore).toConstantValue(options.store);
  container.bind(TYPES.StoragePluginManifests).toConstantValue(options.plugins);
  container.bind(TYPES.Logger).toConstantValue(logger);
  container.bind(TYPES.Clock).toConstantValue(options.clock ?? systemClock);
  container.bind(TYPES.CoreOptions).toConstantValue(coreOptions);
  container.load(coreModule);

  const storages = container.get<StorageRegistry>(TYPES.StorageRegistry);
  const lfs = container.get<LogicalFileSystemImpl>(TYPES.LogicalFileSystem);
  const clock = options.clock ?? systemClock;
  const dataManagement = createDataManagement(options, lfs, storages, clock, logger, coreOptions.providerId);
  container.get<StorageRegistryImpl>(TYPES.StorageRegistry).events = dataManagement.events;
  container.get<SpaceServiceImpl>(TYPES.SpaceService).events = dataManagement.events;
  return {
    container,
    store: options.store,
    lfs: container.get<LogicalFileSystem>(TYPES.LogicalFileSystem),
    spaces: container.get<SpaceService>(TYPES.SpaceService),
    storages,
    importer: container.get<StorageImporter>(TYPES.StorageImporter),
    shares: container.get<ShareService>(TYPES.ShareService),
    users: container.get<UserService>(TYPES.UserService),
    tokens: container.get<TokenService>(TYPES.TokenService),
    ...dataManagement,
    logger,
    async close() {
      await dataManagement.jobs.stop();
      await storages.close();
      await options.store.close();
    },
  };
}

/** Wire the event bus, job runner, transfers and QoS around the file system. */
function createDataManagement(
  options: CoreBootstrapOptions,
  lfs: LogicalFileSystemImpl,
  storages: StorageRegistry,
  clock: Clock,
  logger: Logger,
  providerId: string,
): Pick<Core, 'events' | 'jobs' | 'transfers' | 'qos' | 'rules'> {
  const events = new EventBus(logger);
  lfs.events = events;
  const jobs = new JobRunner(options.store, clock, logger, options.jobs);
  const replicas = new ReplicaEngine(options.store, lfs, logger, { providerId, chunkSize: options.replicationChunkSize ?? 8 * 1024 * 1024 });
  const transfers = new TransferService(options.store, lfs, jobs, replicas, clock, logger, providerId);
  const qos = new QosService(options.store, lfs, storages, jobs, replicas, events, clock, logger, providerId);
  transfers.setProtection((doc, storageId) => qos.isProtected(doc, storageId));
  const rules = new RuleEngine(options.store, lfs, jobs, replicas, qos, events, clock, logger);
  return { events, jobs, transfers, qos, rules };
}
