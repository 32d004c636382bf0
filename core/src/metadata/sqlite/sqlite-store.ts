import Database from 'better-sqlite3';
import type { Logger } from 'pino';

import { OpError } from '../../errors.js';
import { systemClock, type Clock } from '../../tokens.js';
import type {
  ChangeInput,
  ChangeRecord,
  ChildEntry,
  Lease,
  ListChildrenOptions,
  MetadataStore,
  ReadChangesOptions,
  ScanOptions,
  ScanPage,
  StoredDocument,
} from '../store.js';
import { LATEST_SCHEMA_VERSION, migrate } from './schema.js';

export interface SqliteMetadataStoreOptions {
  /** Database file, created when missing, or `':memory:'` for a private in-memory database. */
  path: string;
  /**
   * SQLite `synchronous` setting. With WAL, `NORMAL` (the default) never corrupts the
   * database but may lose the last commits on power loss. `FULL` syncs every commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a write waits for another connection's lock before failing, in milliseconds. Defaults to 5000. */
  busyTimeoutMs?: number;
  /** Source of the time for lease expiry and change timestamps. */
  clock?: Clock;
  logger?: Logger;
}

interface DocumentRow {
  key: string;
  version: number;
  value: string;
}

interface ChildRow {
  name: string;
  child_id: string;
}

interface ChangeRow {
  seq: number;
  collection: string;
  key: string;
  deleted: number;
  data: string | null;
  time_ms: number;
}

interface LeaseRow {
  name: string;
  holder: string;
  expires_at_ms: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

const SYNCHRONOUS_MODES: ReadonlySet<string> = new Set(['NORMAL', 'FULL']);

/**
 * The embedded metadata store: one SQLite file in WAL mode, shareable by several
 * processes on one host. Every write is a single statement, so the conditional writes
 * are atomic across connections. The methods return promises to match the contract,
 * but the work runs synchronously inside the call.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly path: string;
  private readonly synchronous: 'NORMAL' | 'FULL';
  private readonly busyTimeoutMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;

  private db: Database.Database | undefined;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(options: SqliteMetadataStoreOptions) {
    this.path = options.path;
    this.synchronous = options.synchronous ?? 'NORMAL';
    if (!SYNCHRONOUS_MODES.has(this.synchronous)) {
      throw OpError.badValue('synchronous', `synchronous must be 'NORMAL' or 'FULL', got '${this.synchronous}'`);
    }
    this.busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
  }

  async open(): Promise<void> {
    if (this.db !== undefined) {
      return;
    }

    const db = new Database(this.path, { timeout: this.busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.synchronous}`);
      const previousVersion = migrate(db, this.path, this.logger);
      this.logger?.info(
        { path: this.path, previousVersion, schemaVersion: LATEST_SCHEMA_VERSION, synchronous: this.synchronous },
        'opened SQLite metadata store',
      );
    } catch (error) {
      db.close();
      throw translateError(error, 'open', this.path);
    }

    this.db = db;
  }

  async close(): Promise<void> {
    if (this.db === undefined) {
      return;
    }

    this.statements.clear();
    this.db.close();
    this.db = undefined;
    this.logger?.info({ path: this.path }, 'closed SQLite metadata store');
  }

  async get<T>(collection: string, key: string): Promise<StoredDocument<T> | undefined> {
    const row = this.run('get', () =>
      this.statement('SELECT key, version, value FROM documents WHERE collection = ? AND key = ?').get(collection, key),
    ) as DocumentRow | undefined;
    return row === undefined ? undefined : toDocument<T>(row);
  }

  async getMany<T>(collection: string, keys: readonly string[]): Promise<Map<string, StoredDocument<T>>> {
    const result = new Map<string, StoredDocument<T>>();
    if (keys.length === 0) {
      return result;
    }

    // The keys travel as one JSON array parameter, so one prepared statement serves any count.
    const rows = this.run('getMany', () =>
      this.statement(
        'SELECT key, version, value FROM documents WHERE collection = ? AND key IN (SELECT value FROM json_each(?))',
      ).all(collection, JSON.stringify(keys)),
    ) as DocumentRow[];

    for (const row of rows) {
      result.set(row.key, toDocument<T>(row));
    }
    return result;
  }

  async create<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    const json = serializeValue(value, collection, key);
    const inserted = this.run('create', () =>
      this.statement(
        'INSERT INTO documents (collection, key, version, value) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING',
      ).run(collection, key, json),
    );

    if (inserted.changes === 0) {
      throw new OpError('alreadyExists', `document ${collection}/${key} already exists`, { collection, key });
    }
    return { key, version: 1, value: parseJson<T>(json) };
  }

  async update<T>(collection: string, key: string, value: T, expectedVersion: number): Promise<StoredDocument<T>> {
    const json = serializeValue(value, collection, key);
    const updated = this.run('update', () =>
      this.statement(
        'UPDATE documents SET value = ?, version = version + 1 WHERE collection = ? AND key = ? AND version = ?',
      ).run(json, collection, key, expectedVersion),
    );

    if (updated.changes === 0) {
      throw await this.versionMismatch(collection, key, expectedVersion);
    }
    return { key, version: expectedVersion + 1, value: parseJson<T>(json) };
  }

  async put<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    const json = serializeValue(value, collection, key);
    const row = this.run('put', () =>
      this.statement(
        `INSERT INTO documents (collection, key, version, value) VALUES (?, ?, 1, ?)
         ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, version = documents.version + 1
         RETURNING version`,
      ).get(collection, key, json),
    ) as { version: number };

    return { key, version: row.version, value: parseJson<T>(json) };
  }

  async delete(collection: string, key: string, expectedVersion?: number): Promise<boolean> {
    if (expectedVersion === undefined) {
      const deleted = this.run('delete', () =>
        this.statement('DELETE FROM documents WHERE collection = ? AND key = ?').run(collection, key),
      );
      return deleted.changes > 0;
    }

    const deleted = this.run('delete', () =>
      this.statement('DELETE FROM documents WHERE collection = ? AND key = ? AND version = ?').run(
        collection,
        key,
        expectedVersion,
      ),
    );
    if (deleted.changes > 0) {
      return true;
    }

    const error = await this.versionMismatch(collection, key, expectedVersion);
    if (error.kind === 'notFound') {
      return false;
    }
    throw error;
  }

  async scan<T>(collection: string, options: ScanOptions): Promise<ScanPage<T>> {
    const limit = checkLimit(options.limit, 'scan');
    const afterKey = options.cursor === undefined ? undefined : decodeScanCursor(options.cursor);

    // One row more than the page shows whether another page follows.
    const rows = this.run('scan', () =>
      afterKey === undefined
        ? this.statement('SELECT key, version, value FROM documents WHERE collection = ? ORDER BY key LIMIT ?').all(
            collection,
            limit + 1,
          )
        : this.statement(
            'SELECT key, version, value FROM documents WHERE collection = ? AND key > ? ORDER BY key LIMIT ?',
          ).all(collection, afterKey, limit + 1),
    ) as DocumentRow[];

    const documents = rows.slice(0, limit).map((row) => toDocument<T>(row));
    const last = documents.at(-1);
    if (rows.length <= limit || last === undefined) {
      return { documents };
    }
    return { documents, nextCursor: encodeScanCursor(last.key) };
  }

  async addChild(parentId: string, name: string, childId: string): Promise<void> {
    const inserted = this.run('addChild', () =>
      this.statement('INSERT INTO children (parent_id, name, child_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(
        parentId,
        name,
        childId,
      ),
    );

    if (inserted.changes === 0) {
      throw new OpError('alreadyExists', `child name '${name}' already exists under parent ${parentId}`, {
        parentId,
        name,
      });
    }
  }

  async getChild(parentId: string, name: string): Promise<string | undefined> {
    return this.run('getChild', () =>
      this.statement('SELECT child_id FROM children WHERE parent_id = ? AND name = ?').pluck().get(parentId, name),
    ) as string | undefined;
  }

  async removeChild(parentId: string, name: string, expectedChildId?: string): Promise<boolean> {
    const removed = this.run('removeChild', () =>
      expectedChildId === undefined
        ? this.statement('DELETE FROM children WHERE parent_id = ? AND name = ?').run(parentId, name)
        : this.statement('DELETE FROM children WHERE parent_id = ? AND name = ? AND child_id = ?').run(
            parentId,
            name,
            expectedChildId,
          ),
    );
    return removed.changes > 0;
  }

  async listChildren(parentId: string, options: ListChildrenOptions): Promise<ChildEntry[]> {
    const limit = checkLimit(options.limit, 'listChildren');
    const { startAfter } = options;

    // Both forms are range reads on the (parent_id, name) primary key.
    const rows = this.run('listChildren', () =>
      startAfter === undefined
        ? this.statement('SELECT name, child_id FROM children WHERE parent_id = ? ORDER BY name LIMIT ?').all(
            parentId,
            limit,
          )
        : this.statement(
            'SELECT name, child_id FROM children WHERE parent_id = ? AND name > ? ORDER BY name LIMIT ?',
          ).all(parentId, startAfter, limit),
    ) as ChildRow[];

    return rows.map((row) => ({ name: row.name, childId: row.child_id }));
  }

  async appendChange(spaceId: string, change: ChangeInput): Promise<number> {
    const data = change.data === undefined ? null : JSON.stringify(change.data);
    const timeMs = this.clock.now();

    // One statement reads the space's newest seq and inserts the next one, so it is
    // atomic even when several processes append to the same space.
    // NOTE: the next seq follows the newest remaining row, so pruning the feed must
    // keep each space's newest change or numbers would be reused.
    const row = this.run('appendChange', () =>
      this.statement(
        `INSERT INTO changes (space_id, seq, collection, key, deleted, data, time_ms)
         SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM changes WHERE space_id = ?
         RETURNING seq`,
      ).get(spaceId, change.collection, change.key, change.deleted ? 1 : 0, data, timeMs, spaceId),
    ) as { seq: number };

    return row.seq;
  }

  async readChanges(spaceId: string, options: ReadChangesOptions): Promise<ChangeRecord[]> {
    const limit = checkLimit(options.limit, 'readChanges');
    const rows = this.run('readChanges', () =>
      this.statement(
        `SELECT seq, collection, key, deleted, data, time_ms FROM changes
         WHERE space_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ).all(spaceId, options.afterSeq, limit),
    ) as ChangeRow[];

    return rows.map(toChangeRecord);
  }

  async lastChangeSeq(spaceId: string): Promise<number> {
    const seq = this.run('lastChangeSeq', () =>
      this.statement('SELECT MAX(seq) FROM changes WHERE space_id = ?').pluck().get(spaceId),
    ) as number | null;
    return seq ?? 0;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    checkTtl(ttlMs);
    const now = this.clock.now();

    // The upsert takes the row only when it is expired or already ours. Otherwise it
    // changes nothing and RETURNING yields no row.
    const row = this.run('acquireLease', () =>
      this.statement(
        `INSERT INTO leases (name, holder, expires_at_ms) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
         WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= ?
         RETURNING name, holder, expires_at_ms`,
      ).get(name, holder, now + ttlMs, now),
    ) as LeaseRow | undefined;

    return row === undefined ? undefined : toLease(row);
  }

  async renewLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    checkTtl(ttlMs);
    const now = this.clock.now();

    // An expired lease counts as lost even before another holder takes it, because
    // getLease already reports it free and others may have acted on that.
    const row = this.run('renewLease', () =>
      this.statement(
        `UPDATE leases SET expires_at_ms = ? WHERE name = ? AND holder = ? AND expires_at_ms > ?
         RETURNING name, holder, expires_at_ms`,
      ).get(now + ttlMs, name, holder, now),
    ) as LeaseRow | undefined;

    return row === undefined ? undefined : toLease(row);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.run('releaseLease', () =>
      this.statement('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder),
    );
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const row = this.run('getLease', () =>
      this.statement('SELECT name, holder, expires_at_ms FROM leases WHERE name = ? AND expires_at_ms > ?').get(
        name,
        this.clock.now(),
      ),
    ) as LeaseRow | undefined;

    return row === undefined ? undefined : toLease(row);
  }

  /** Builds the error for a conditional write that matched no row: `notFound` or `conflict`. */
  private async versionMismatch(collection: string, key: string, expectedVersion: number): Promise<OpError> {
    const current = await this.get(collection, key);
    if (current === undefined) {
      return OpError.notFound(`document ${collection}/${key}`, { collection, key });
    }

    return new OpError(
      'conflict',
      `document ${collection}/${key} is at version ${current.version}, not the expected ${expectedVersion}`,
      { collection, key, expectedVersion, actualVersion: current.version },
    );
  }

  /** Returns the prepared statement for `sql`, preparing it on first use. */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.connection().prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private connection(): Database.Database {
    if (this.db === undefined) {
      throw new OpError('unavailable', `SQLite metadata store ${this.path} is not open. Call open() first.`, {
        path: this.path,
      });
    }
    return this.db;
  }

  /** Runs one database step, translating SQLite failures into `OpError`. */
  private run<R>(operation: string, step: () => R): R {
    try {
      return step();
    } catch (error) {
      throw translateError(error, operation, this.path);
    }
  }
}

/**
 * Maps a SQLite failure to `OpError`. Busy and locked results (including extended codes
 * such as `SQLITE_BUSY_SNAPSHOT`) mean another connection held a lock past the busy
 * timeout, so they become the retryable `unavailable`.
 */
function translateError(error: unknown, operation: string, path: string): unknown {
  if (OpError.is(error) || !(error instanceof Database.SqliteError)) {
    return error;
  }

  const details = { path, operation, code: error.code };
  if (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED')) {
    return new OpError(
      'unavailable',
      `SQLite metadata store ${path} stayed locked by another connection during ${operation}. Retry, or raise busyTimeoutMs.`,
      details,
      error,
    );
  }
  return new OpError('internal', `SQLite metadata store ${path} failed during ${operation}: ${error.message}`, details, error);
}

function serializeValue(value: unknown, collection: string, key: string): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw OpError.badValue('value', `document ${collection}/${key} has a value that JSON cannot represent`, {
      collection,
      key,
    });
  }
  return json;
}

function parseJson<T>(json: string): T {
  return JSON.parse(json) as T;
}

function toDocument<T>(row: DocumentRow): StoredDocument<T> {
  return { key: row.key, version: row.version, value: parseJson<T>(row.value) };
}

function toChangeRecord(row: ChangeRow): ChangeRecord {
  const record: ChangeRecord = {
    seq: row.seq,
    collection: row.collection,
    key: row.key,
    deleted: row.deleted !== 0,
    timeMs: row.time_ms,
  };
  if (row.data !== null) {
    record.data = JSON.parse(row.data);
  }
  return record;
}

function toLease(row: LeaseRow): Lease {
  return { name: row.name, holder: row.holder, expiresAtMs: row.expires_at_ms };
}

function checkLimit(limit: number, operation: string): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw OpError.badValue('limit', `${operation} needs a limit that is a positive integer, got ${limit}`, { limit });
  }
  return limit;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw OpError.badValue('ttlMs', `lease ttlMs must be a positive integer of milliseconds, got ${ttlMs}`, { ttlMs });
  }
}

/** Scan cursors are base64url JSON, so callers treat them as opaque strings. */
function encodeScanCursor(afterKey: string): string {
  return Buffer.from(JSON.stringify({ after: afterKey }), 'utf8').toString('base64url');
}

function decodeScanCursor(cursor: string): string {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }

  const after = (decoded as { after?: unknown } | undefined)?.after;
  if (typeof after !== 'string') {
    throw OpError.badValue('cursor', `scan cursor '${cursor}' is invalid. Pass the nextCursor of a previous page.`, {
      cursor,
    });
  }
  return after;
}
