/**
 * The metadata store contract. It is shaped after Cassandra's model so that the
 * embedded SQLite store and the Cassandra store behave alike: documents by key, a
 * children index partitioned by parent and clustered by name, conditional writes
 * instead of multi-key transactions, a per-space change feed, and leases.
 *
 * Failures use `OpError`: `alreadyExists` when a create-if-absent finds the key taken,
 * `conflict` when a compare-and-set finds another version, `unavailable` when the
 * store cannot be reached (callers may retry those).
 */
export interface MetadataStore {
  /** Create the schema or apply migrations; call once before any other method. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** Read one document, or undefined when absent. */
  get<T>(collection: string, key: string): Promise<StoredDocument<T> | undefined>;

  /** Read several documents; absent keys are missing from the result. */
  getMany<T>(collection: string, keys: readonly string[]): Promise<Map<string, StoredDocument<T>>>;

  /** Create a document at version 1; throws `alreadyExists` when the key is taken. */
  create<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>>;

  /**
   * Replace a document only when its stored version equals `expectedVersion`; the new
   * version is `expectedVersion + 1`. Throws `conflict` on another version and
   * `notFound` when the document is absent.
   */
  update<T>(collection: string, key: string, value: T, expectedVersion: number): Promise<StoredDocument<T>>;

  /** Create or replace a document unconditionally; the version goes up by one. */
  put<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>>;

  /**
   * Delete a document. With `expectedVersion` the delete happens only at that version
   * (else `conflict`). Returns false when the document was already absent.
   */
  delete(collection: string, key: string, expectedVersion?: number): Promise<boolean>;

  /**
   * Page through all documents of a small collection (spaces, storages, users) in an
   * order that is stable between calls. `cursor` is the `nextCursor` of the previous
   * page. Not for hot paths or large collections.
   */
  scan<T>(collection: string, options: ScanOptions): Promise<ScanPage<T>>;

  /**
   * Add `name -> childId` under `parentId`; throws `alreadyExists` when the name is
   * taken (create-if-absent, so two racing creates cannot both win).
   */
  addChild(parentId: string, name: string, childId: string): Promise<void>;

  /** Look up one child id by name. */
  getChild(parentId: string, name: string): Promise<string | undefined>;

  /**
   * Remove a child entry. With `expectedChildId` the entry is removed only when it
   * still points at that id. Returns false when nothing was removed.
   */
  removeChild(parentId: string, name: string, expectedChildId?: string): Promise<boolean>;

  /**
   * List children in byte order of their UTF-8 names, after `startAfter` (keyset
   * pagination: the cost of a page does not grow with its position).
   */
  listChildren(parentId: string, options: ListChildrenOptions): Promise<ChildEntry[]>;

  /** Append a change to a space's feed; returns its sequence number. */
  appendChange(spaceId: string, change: ChangeInput): Promise<number>;

  /** Changes of a space with `seq > afterSeq`, in sequence order. */
  readChanges(spaceId: string, options: ReadChangesOptions): Promise<ChangeRecord[]>;

  /** Sequence number of the newest change of a space, or 0 when it has none. */
  lastChangeSeq(spaceId: string): Promise<number>;

  /**
   * Take the lease `name` for `holder` for `ttlMs` milliseconds. It succeeds when the
   * lease is free, expired, or already held by `holder` (then it is extended). Returns
   * the lease, or undefined when another holder has it.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;

  /** Extend a lease still held by `holder`; undefined when it was lost. */
  renewLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;

  /** Give up a lease held by `holder`; does nothing when another holder has it. */
  releaseLease(name: string, holder: string): Promise<void>;

  /** Current holder of a lease, or undefined when free or expired. */
  getLease(name: string): Promise<Lease | undefined>;
}

export interface StoredDocument<T> {
  key: string;
  /** Starts at 1 and goes up by one on every write. */
  version: number;
  value: T;
}

export interface ScanOptions {
  cursor?: string;
  limit: number;
}

export interface ScanPage<T> {
  documents: StoredDocument<T>[];
  /** Undefined when this was the last page. */
  nextCursor?: string;
}

export interface ListChildrenOptions {
  startAfter?: string;
  limit: number;
}

export interface ChildEntry {
  name: string;
  childId: string;
}

export interface ChangeInput {
  /** Collection of the changed document (`file`, `xattrs`, `location`, ...). */
  collection: string;
  /** Key of the changed document. */
  key: string;
  /** True when the document was deleted. */
  deleted: boolean;
  /** Optional payload for consumers of the feed; must be JSON-serialisable. */
  data?: unknown;
}

export interface ChangeRecord extends ChangeInput {
  /** Unique and increasing within a space; numbers may be skipped. */
  seq: number;
  /** Milliseconds since the epoch when the change was appended. */
  timeMs: number;
}

export interface ReadChangesOptions {
  afterSeq: number;
  limit: number;
}

export interface Lease {
  name: string;
  holder: string;
  /** Milliseconds since the epoch. */
  expiresAtMs: number;
}
