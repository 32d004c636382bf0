import type { StorageConfig, StorageHelper } from '../storage/helper.js';
import type { FileAttributes, Identity, JsonValue, SpaceInfo } from '../lfs/types.js';

/** A storage registered with this provider. */
export interface StorageRecord {
  storageId: string;
  name: string;
  /** Helper type, matching a plugin manifest's `type`. */
  type: string;
  /** Validated configuration; secret options are present here and redacted when shown. */
  config: StorageConfig;
  /** Storage path layout: `canonical` mirrors logical paths, `flat` derives them from file ids. */
  storagePathType: 'canonical' | 'flat';
  /** Data on this storage was there before (import); it is never deleted from under users' feet by the worker's own layout. */
  importedStorage: boolean;
  /** QoS parameters (key to value); `storageId` is always implied. */
  qosParameters: Record<string, string>;
  readonly: boolean;
}

export interface AddStorageRequest {
  name: string;
  type: string;
  config: Record<string, unknown>;
  storagePathType?: 'canonical' | 'flat';
  importedStorage?: boolean;
  qosParameters?: Record<string, string>;
  readonly?: boolean;
}

/** Changes to a registered storage; omitted fields keep their value. */
export interface UpdateStorageRequest {
  name?: string;
  /** Replaces all QoS parameters. */
  qosParameters?: Record<string, string>;
  readonly?: boolean;
  /** Helper options to change, validated against the plugin's schema together with the unchanged ones. */
  config?: Record<string, unknown>;
}

/** Registered storages and their helpers. */
export interface StorageRegistry {
  /** Validate the configuration, verify the storage is reachable, then record it. */
  add(request: AddStorageRequest): Promise<StorageRecord>;
  get(storageId: string): Promise<StorageRecord>;
  /**
   * Change a storage and verify it again with the new configuration before recording it;
   * a failed verification leaves the storage as it was. Helpers created afterwards use
   * the new configuration.
   */
  update(storageId: string, request: UpdateStorageRequest): Promise<StorageRecord>;
  list(): Promise<StorageRecord[]>;
  remove(storageId: string): Promise<void>;
  /** The dispatched helper of a storage, created on first use and then reused. */
  helper(storageId: string): Promise<StorageHelper>;
  /** Close every helper created so far. */
  close(): Promise<void>;
  /** The configuration as shown to clients, secrets replaced by `*****`. */
  redacted(record: StorageRecord): Record<string, unknown>;
}

export interface CreateSpaceRequest {
  name: string;
  ownerUserId: string;
}

export interface SupportSpaceRequest {
  spaceId: string;
  storageId: string;
  /** Support size (quota) in bytes; 0 means unlimited. */
  size?: number;
}

/** Spaces, their members and their support by storages. */
export interface SpaceService {
  create(request: CreateSpaceRequest): Promise<SpaceInfo>;
  get(spaceId: string): Promise<SpaceInfo>;
  findByName(name: string): Promise<SpaceInfo | undefined>;
  list(): Promise<SpaceInfo[]>;
  addMember(spaceId: string, userId: string): Promise<void>;
  isMember(spaceId: string, userId: string): Promise<boolean>;
  support(request: SupportSpaceRequest): Promise<SpaceInfo>;
}

/** Counters of an import scan, named as in Onedata's storage import stats. */
export interface ImportStats {
  status: 'enqueued' | 'running' | 'completed' | 'failed' | 'aborted';
  /** Milliseconds since the epoch. */
  start: number | null;
  stop: number | null;
  createdFiles: number;
  modifiedFiles: number;
  deletedFiles: number;
  unmodifiedFiles: number;
  failedFiles: number;
  totalScans: number;
}

/** One file on an imported storage to register by hand (Onedata's `POST /data/register`). Times are UNIX seconds. */
export interface RegisterFileRequest {
  spaceId: string;
  storageId: string;
  /** Path of the file on the storage, e.g. `/dir/file.txt`. */
  storageFileId: string;
  /** Absolute path in the space where the file appears, e.g. `/dir/file.txt`. */
  destinationPath: string;
  /** Bytes; needed when `autoDetectAttributes` is false. */
  size?: number;
  /** Permission bits, e.g. 0o644. */
  mode?: number;
  atime?: number;
  mtime?: number;
  ctime?: number;
  uid?: number;
  gid?: number;
  /** Extended attributes, merged into those of an already registered file. */
  xattrs?: Record<string, JsonValue>;
  json?: JsonValue;
  /** RDF metadata document. */
  rdf?: string;
  /** Stat the file on the storage, which also proves it exists; default true. */
  autoDetectAttributes?: boolean;
}

/** Registers data already present on a canonical storage as files of a space, without copying it. */
export interface StorageImporter {
  /** Scan the space's imported storage now and wait for the scan to end. */
  scan(spaceId: string): Promise<ImportStats>;
  stats(spaceId: string): Promise<ImportStats | undefined>;
  /**
   * Ask the running scan of a space to stop before its next entry; it then ends with
   * status `aborted`. Returns false when no scan of the space runs in this process.
   */
  stop(spaceId: string): boolean;
  /** Register one file of the space's imported storage, or update an already registered one. */
  registerFile(who: Identity, request: RegisterFileRequest): Promise<FileAttributes>;
}
