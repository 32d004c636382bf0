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
  logger: Logger;
  /** Close storage helpers, then the metadata store. */
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
    logger,
    async close() {
      await storages.close();
      await options.store.close();
    },
  };
}
