import type Database from 'better-sqlite3';
import type { Logger } from 'pino';

import { OpError } from '../../errors.js';

/**
 * Schema of the SQLite metadata store, one table per part of the contract. The tables
 * mirror the Cassandra model: every read goes by primary key or by a primary-key
 * prefix, so no query needs a join or a secondary index.
 *
 * Text columns use SQLite's default BINARY collation. On UTF-8 text it compares with
 * memcmp, which is the byte order of the UTF-8 names that `listChildren` promises.
 */
interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'documents, children, changes and leases',
    sql: `
      CREATE TABLE documents (
        collection TEXT NOT NULL,
        key        TEXT NOT NULL,
        version    INTEGER NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (collection, key)
      ) WITHOUT ROWID;

      CREATE TABLE children (
        parent_id TEXT NOT NULL,
        name      TEXT NOT NULL,
        child_id  TEXT NOT NULL,
        PRIMARY KEY (parent_id, name)
      ) WITHOUT ROWID;

      CREATE TABLE changes (
        space_id   TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        collection TEXT NOT NULL,
        key        TEXT NOT NULL,
        deleted    INTEGER NOT NULL,
        data       TEXT,
        time_ms    INTEGER NOT NULL,
        PRIMARY KEY (space_id, seq)
      ) WITHOUT ROWID;

      CREATE TABLE leases (
        name          TEXT NOT NULL PRIMARY KEY,
        holder        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];

/** Newest schema version this code creates and reads. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, migration) => Math.max(max, migration.version), 0);

/** Reads the schema version recorded in the database, or 0 for a new, empty database. */
function readSchemaVersion(db: Database.Database): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version       INTEGER NOT NULL PRIMARY KEY,
    applied_at_ms INTEGER NOT NULL
  )`);

  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Brings the database to `LATEST_SCHEMA_VERSION`, applying each missing migration in
 * order inside one immediate transaction, so that two processes opening the same new
 * file cannot both apply it. Returns the version found before migrating. Throws
 * `internal` when the database was written by newer code, because this code would
 * misread tables it does not know.
 */
export function migrate(db: Database.Database, path: string, logger?: Logger): number {
  const apply = db.transaction(() => {
    const found = readSchemaVersion(db);
    rejectNewerSchema(found, path);

    const pending = MIGRATIONS.filter((migration) => migration.version > found);
    const record = db.prepare('INSERT INTO schema_version (version, applied_at_ms) VALUES (?, ?)');
    for (const migration of pending) {
      db.exec(migration.sql);
      record.run(migration.version, Date.now());
      logger?.info({ path, version: migration.version }, `applied metadata schema migration: ${migration.description}`);
    }

    return found;
  });

  return apply.immediate();
}

function rejectNewerSchema(found: number, path: string): void {
  if (found <= LATEST_SCHEMA_VERSION) {
    return;
  }

  throw new OpError(
    'internal',
    `Metadata database ${path} has schema version ${found}, but this op-worker supports versions up to ` +
      `${LATEST_SCHEMA_VERSION}. Upgrade op-worker, or point it at another database file.`,
    { path, schemaVersion: found, supportedSchemaVersion: LATEST_SCHEMA_VERSION },
  );
}
