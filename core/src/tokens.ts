/**
 * Dependency-injection tokens. Each Symbol shares its name with the interface it
 * stands for. Only composition roots (the worker's main, tests) touch the container.
 */
export const TYPES = {
  Logger: Symbol.for('Logger'),
  Clock: Symbol.for('Clock'),
  MetadataStore: Symbol.for('MetadataStore'),
  StorageRegistry: Symbol.for('StorageRegistry'),
  StoragePluginManifests: Symbol.for('StoragePluginManifests'),
  LogicalFileSystem: Symbol.for('LogicalFileSystem'),
  SpaceService: Symbol.for('SpaceService'),
  UserService: Symbol.for('UserService'),
  TokenService: Symbol.for('TokenService'),
  StorageImporter: Symbol.for('StorageImporter'),
  ShareService: Symbol.for('ShareService'),
  CoreOptions: Symbol.for('CoreOptions'),
} as const;

/** Source of the current time, replaceable in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
