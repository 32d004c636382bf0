import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Capabilities } from './capabilities.js';

/**
 * The storage helper contract. A helper addresses objects by a storage path: a
 * normalised, relative POSIX-style path with no leading slash, no `.` or `..` segments
 * and no NUL bytes (see `paths.ts`). The empty string is the storage root. Helpers
 * resolve it below their own root and must never reach outside it.
 *
 * Every method may throw only `StorageError`.
 */
export interface StorageHelper {
  readonly capabilities: Capabilities;

  /** Stat one entry. Throws NotFound when it does not exist. */
  stat(path: string): Promise<StorageStat>;

  /**
   * Open a stream of bytes `[offset, offset + length)`. A range that extends past the
   * end yields the bytes up to the end. Throws NotFound, IsADirectory.
   */
  read(path: string, range?: ByteRange): Promise<Readable>;

  /**
   * Write `data` to `path`, creating the object and, on storages with directories, its
   * missing parents. Without `offset` the object is replaced as a whole and the new
   * content becomes visible only when the stream has been consumed completely: a failed
   * stream leaves the previous content. With `offset` the bytes at `[offset, offset +
   * written)` are replaced, a gap past the end is filled with zero bytes, and the rest
   * is kept. When `size` is given and the stream yields a different number of bytes,
   * the write fails with ConditionNotMatch and, for whole writes, nothing changes.
   */
  write(path: string, data: Readable, options?: WriteOptions): Promise<WriteResult>;

  /** Set the object size, cutting or zero-extending. Throws NotFound. */
  truncate(path: string, size: number): Promise<void>;

  /** Create a directory and its missing parents; an existing directory is not an error. */
  mkdir(path: string, mode?: number): Promise<void>;

  /**
   * List the direct children of a directory (or of a prefix on object stores) in byte
   * order of their names. `startAfter` resumes after that name. Listing an empty or
   * missing directory returns no entries; it does not throw.
   */
  list(path: string, options?: ListOptions): Promise<ListPage>;

  /** Remove an object. Removing a missing object is not an error. */
  delete(path: string): Promise<void>;

  /** Remove an empty directory. A missing directory is not an error; throws NotEmpty. */
  rmdir(path: string): Promise<void>;

  /** Move an object, replacing an existing target object. Needs `rename`. */
  rename?(from: string, to: string): Promise<void>;

  /** Copy an object, replacing an existing target object. Needs `copy`. */
  copy?(from: string, to: string): Promise<void>;

  /** Extended attributes. Need `xattrs`. `getXattr` returns undefined when absent. */
  getXattr?(path: string, name: string): Promise<Buffer | undefined>;
  setXattr?(path: string, name: string, value: Buffer): Promise<void>;
  removeXattr?(path: string, name: string): Promise<void>;
  listXattrs?(path: string): Promise<string[]>;

  /** Change permission bits. Needs `chmod`. */
  chmod?(path: string, mode: number): Promise<void>;

  /** Release connections and handles. Calls after `close` are not allowed. */
  close(): Promise<void>;
}

export interface ByteRange {
  /** First byte, from 0. */
  offset: number;
  /** Number of bytes; undefined means to the end. */
  length?: number;
}

export interface WriteOptions {
  /** Write in place from this byte; undefined replaces the whole object. */
  offset?: number;
  /** Expected number of bytes in the stream, when the caller knows it. */
  size?: number;
  /** Make the data durable (fsync or equivalent) before returning. Needs `durable_write`. */
  durable?: boolean;
}

export interface WriteResult {
  /** Bytes taken from the stream. */
  written: number;
  /** Object size after the write. */
  size: number;
}

export interface StorageStat {
  type: 'file' | 'directory' | 'symlink' | 'other';
  /** Bytes; 0 for directories. */
  size: number;
  /** Permission bits (e.g. 0o644), when the storage has them. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Milliseconds since the epoch. */
  mtimeMs: number;
  atimeMs?: number;
  ctimeMs?: number;
  /** Opaque change tag (ETag, inode+mtime) when the storage has one. */
  etag?: string;
}

export interface ListOptions {
  startAfter?: string;
  /** Maximum entries in one page; the helper may return fewer. */
  limit?: number;
}

export interface ListEntry {
  name: string;
  stat: StorageStat;
}

export interface ListPage {
  entries: ListEntry[];
  /** True when no entries follow the last one returned. */
  isLast: boolean;
}

/** One option of a plugin's configuration. */
export interface ConfigOption {
  type: 'string' | 'integer' | 'boolean' | 'enum';
  help: string;
  required?: boolean;
  default?: string | number | boolean;
  /** Allowed values of an `enum`. */
  values?: readonly string[];
  /** A credential: never logged, shown as `*****` when read back. */
  secret?: boolean;
  minimum?: number;
  maximum?: number;
}

/** A plugin's typed configuration schema: option name to description. */
export type ConfigSchema = Readonly<Record<string, ConfigOption>>;

/** Parsed configuration values keyed by option name. */
export type StorageConfig = Record<string, string | number | boolean>;

export interface StorageHelperContext {
  /** Id of the storage this helper serves, for logs and error context. */
  storageId: string;
  /** Logger already bound to `storageId` and the storage type, so log lines need not repeat them. */
  logger: Logger;
}

/**
 * What a plugin package exports. `create` receives a configuration already validated
 * against `configSchema` with defaults applied.
 */
export interface StoragePluginManifest {
  /** Helper type, as in Onedata: `posix`, `s3`, `sftp`, `azure`, ... */
  type: string;
  /** Human-readable name for listings and docs. */
  displayName: string;
  configSchema: ConfigSchema;
  /** Capabilities of a helper created from `config`. */
  capabilities(config: StorageConfig): Capabilities;
  /** Default storage path layout for this helper type. */
  defaultPathType: 'canonical' | 'flat';
  create(config: StorageConfig, context: StorageHelperContext): Promise<StorageHelper>;
}
