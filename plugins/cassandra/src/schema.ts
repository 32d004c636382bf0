import { OpError } from '@op-worker/core';
import type { Client } from 'cassandra-driver';
import type { Logger } from 'pino';

import { replicationCql, type ReplicationConfig } from './config.js';

/** One numbered schema step. Statements must be safe to repeat (`IF NOT EXISTS`), because a crash may interrupt a step. */
interface Migration {
  version: number;
  description: string;
  statements(keyspace: string): string[];
}

/**
 * Hash buckets of the children index per parent. A directory's children spread over
 * this many partitions, so a directory of a million entries forms partitions of about
 * 62,500 rows. Changing it needs a migration that moves every child row.
 */
export const CHILD_BUCKETS = 16;

/**
 * Hash buckets of the per-collection key index that `scan` reads. Every document has an
 * entry, so a collection of ten million documents forms partitions of about 156,000 small rows.
 */
export const KEY_INDEX_BUCKETS = 64;

/** Seconds a claimed change seq stays reserved; far longer than clocks of one cluster may differ. */
export const SEQ_CLAIM_TTL_SECONDS = 7 * 24 * 3600;

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'documents, key index, children, change feed and leases',
    statements: (ks) => [
      // One partition per document, so conditional writes on different documents never
      // contend for the same Paxos state. index_ts is the write timestamp (microseconds)
      // of the document's key-index entry, which a delete uses to remove exactly that entry.
      `CREATE TABLE IF NOT EXISTS ${ks}.documents (
         collection text, key text, version bigint, value text, index_ts bigint,
         PRIMARY KEY ((collection, key)))`,
      `CREATE TABLE IF NOT EXISTS ${ks}.collection_keys (
         collection text, bucket int, key text, index_ts bigint,
         PRIMARY KEY ((collection, bucket), key))`,
      `CREATE TABLE IF NOT EXISTS ${ks}.children (
         parent_id text, bucket int, name text, child_id text,
         PRIMARY KEY ((parent_id, bucket), name))`,
      `CREATE TABLE IF NOT EXISTS ${ks}.changes (
         space_id text, bucket bigint, seq bigint,
         collection text, key text, deleted boolean, data text, time_ms bigint,
         PRIMARY KEY ((space_id, bucket), seq)) WITH CLUSTERING ORDER BY (seq ASC)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.change_buckets (
         space_id text, bucket bigint,
         PRIMARY KEY (space_id, bucket)) WITH CLUSTERING ORDER BY (bucket ASC)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.change_seq_claims (
         space_id text, seq bigint, claimed boolean,
         PRIMARY KEY ((space_id, seq))) WITH default_time_to_live = ${SEQ_CLAIM_TTL_SECONDS}`,
      `CREATE TABLE IF NOT EXISTS ${ks}.leases (
         name text PRIMARY KEY, holder text, expires_at_ms bigint)`,
    ],
  },
];

/** Newest schema version this code can read and write. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((latest, migration) => Math.max(latest, migration.version), 0);

/** Schema statements wait this long for the node and for schema agreement, in milliseconds. */
const SCHEMA_TIMEOUT_MS = 60_000;

/**
 * Creates the keyspace when missing and applies every migration newer than the
 * recorded version, in order. Returns the version found before. Throws `internal`
 * when the keyspace was migrated by newer code, because this code would misread it.
 *
 * NOTE: two workers opening an empty keyspace at the same moment both run the same
 * `IF NOT EXISTS` statements. That is harmless on one node, but on a multi-node
 * cluster concurrent table creation can disagree, so start the first worker alone.
 */
export async function migrate(
  client: Client,
  keyspace: string,
  replication: ReplicationConfig,
  logger: Logger | undefined,
): Promise<number> {
  await runSchemaStatement(
    client,
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(replication)}`,
  );
  await runSchemaStatement(
    client,
    `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_versions (
       version int PRIMARY KEY, description text, applied_at_ms bigint)`,
  );

  const found = await readSchemaVersion(client, keyspace);
  rejectNewerSchema(found, keyspace);

  for (const migration of MIGRATIONS.filter((candidate) => candidate.version > found)) {
    for (const statement of migration.statements(keyspace)) {
      await runSchemaStatement(client, statement);
    }
    await client.execute(
      `INSERT INTO ${keyspace}.schema_versions (version, description, applied_at_ms) VALUES (?, ?, ?)`,
      [migration.version, migration.description, Date.now()],
      { prepare: true, isIdempotent: true },
    );
    logger?.info({ keyspace, version: migration.version }, `applied Cassandra schema migration: ${migration.description}`);
  }
  return found;
}

/** Highest version recorded in the keyspace's `schema_versions`, or 0 for a new keyspace. */
export async function readSchemaVersion(client: Client, keyspace: string): Promise<number> {
  const result = await client.execute(`SELECT version FROM ${keyspace}.schema_versions`, [], {
    prepare: true,
    isIdempotent: true,
  });
  return result.rows.reduce((latest, row) => Math.max(latest, Number(row['version'])), 0);
}

function rejectNewerSchema(found: number, keyspace: string): void {
  if (found <= LATEST_SCHEMA_VERSION) {
    return;
  }
  throw new OpError(
    'internal',
    `Cassandra keyspace ${keyspace} has schema version ${found}, but this op-worker knows only up to version ${LATEST_SCHEMA_VERSION}. Upgrade op-worker before starting it against this keyspace.`,
    { keyspace, schemaVersion: found, supportedVersion: LATEST_SCHEMA_VERSION },
  );
}

async function runSchemaStatement(client: Client, statement: string): Promise<void> {
  await client.execute(statement, [], { readTimeout: SCHEMA_TIMEOUT_MS, isIdempotent: true });
}
