import type { ConnectionOptions } from 'node:tls';

import { OpError } from '@op-worker/core';
import { types } from 'cassandra-driver';

/** Consistency level names accepted in the configuration, as CQL spells them. */
export type ConsistencyName =
  | 'ANY'
  | 'ONE'
  | 'TWO'
  | 'THREE'
  | 'QUORUM'
  | 'ALL'
  | 'LOCAL_QUORUM'
  | 'EACH_QUORUM'
  | 'LOCAL_ONE';

/** Serial consistency names for the Paxos phase of lightweight transactions. */
export type SerialConsistencyName = 'SERIAL' | 'LOCAL_SERIAL';

/** Keyspace replication, used only when the store creates the keyspace. */
export type ReplicationConfig =
  | { class: 'SimpleStrategy'; replicationFactor: number }
  | { class: 'NetworkTopologyStrategy'; dataCenters: Record<string, number> };

/** TLS for the client connections; the fields are those of Node's `tls.connect`. */
export type TlsConfig = Pick<
  ConnectionOptions,
  'ca' | 'cert' | 'key' | 'passphrase' | 'rejectUnauthorized' | 'servername' | 'minVersion'
>;

export interface CassandraStoreConfig {
  /** Hosts of the cluster, `host` or `host:port`; the port defaults to `port`. */
  contactPoints: string[];
  /** CQL native port used for contact points without one. Defaults to 9042. */
  port?: number;
  /** Data center whose nodes the driver prefers. Defaults to `datacenter1`. */
  localDataCenter?: string;
  /** Keyspace of the store, created on first `open()` when missing. */
  keyspace: string;
  /** Credentials for PasswordAuthenticator; leave both out when the cluster has no authentication. */
  username?: string;
  /** Secret: never logged and never included in `toJSON`. */
  password?: string;
  /** Enables TLS with these options; leave out for plain TCP. */
  tls?: TlsConfig;
  /** Consistency of reads and writes. Defaults to `LOCAL_QUORUM`. */
  consistency?: ConsistencyName;
  /** Consistency of the Paxos phase of conditional writes. Defaults to `LOCAL_SERIAL`. */
  serialConsistency?: SerialConsistencyName;
  /** Replication of a keyspace that the store creates. Defaults to SimpleStrategy with one replica. */
  replication?: ReplicationConfig;
  /** Per-request timeout on the client side, in milliseconds. Defaults to 12000. */
  requestTimeoutMs?: number;
  /** Timeout of opening a connection, in milliseconds. Defaults to 5000. */
  connectTimeoutMs?: number;
}

/** The configuration with every default filled in. */
export interface ResolvedCassandraStoreConfig {
  contactPoints: string[];
  port: number;
  localDataCenter: string;
  keyspace: string;
  username: string | undefined;
  password: string | undefined;
  tls: TlsConfig | undefined;
  consistency: ConsistencyName;
  serialConsistency: SerialConsistencyName;
  replication: ReplicationConfig;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
}

const CONSISTENCY_NAMES: readonly ConsistencyName[] = [
  'ANY',
  'ONE',
  'TWO',
  'THREE',
  'QUORUM',
  'ALL',
  'LOCAL_QUORUM',
  'EACH_QUORUM',
  'LOCAL_ONE',
];

const SERIAL_CONSISTENCY_NAMES: readonly SerialConsistencyName[] = ['SERIAL', 'LOCAL_SERIAL'];

/** Unquoted CQL identifiers; the store puts the keyspace name into CQL text, so nothing else is allowed. */
const KEYSPACE_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

/** Validates `config` and fills in the defaults. Throws `badValue` naming the option and the fix. */
export function resolveConfig(config: CassandraStoreConfig): ResolvedCassandraStoreConfig {
  if (!Array.isArray(config.contactPoints) || config.contactPoints.length === 0) {
    throw OpError.badValue('contactPoints', 'contactPoints must list at least one Cassandra host, such as "127.0.0.1:9042"');
  }
  if (typeof config.keyspace !== 'string' || !KEYSPACE_PATTERN.test(config.keyspace)) {
    throw OpError.badValue(
      'keyspace',
      `keyspace '${String(config.keyspace)}' is invalid: use a letter, then up to 47 letters, digits or underscores`,
    );
  }
  if ((config.username === undefined) !== (config.password === undefined)) {
    throw OpError.badValue('username', 'username and password must be given together, or both left out');
  }

  const consistency = config.consistency ?? 'LOCAL_QUORUM';
  if (!CONSISTENCY_NAMES.includes(consistency)) {
    throw OpError.badValue('consistency', `consistency '${consistency}' is invalid; use one of ${CONSISTENCY_NAMES.join(', ')}`);
  }
  const serialConsistency = config.serialConsistency ?? 'LOCAL_SERIAL';
  if (!SERIAL_CONSISTENCY_NAMES.includes(serialConsistency)) {
    throw OpError.badValue('serialConsistency', `serialConsistency '${serialConsistency}' is invalid; use SERIAL or LOCAL_SERIAL`);
  }

  const replication = config.replication ?? { class: 'SimpleStrategy', replicationFactor: 1 };
  checkReplication(replication);

  return {
    contactPoints: [...config.contactPoints],
    port: positiveInteger(config.port ?? 9042, 'port'),
    localDataCenter: config.localDataCenter ?? 'datacenter1',
    keyspace: config.keyspace,
    username: config.username,
    password: config.password,
    tls: config.tls,
    consistency,
    serialConsistency,
    replication,
    requestTimeoutMs: positiveInteger(config.requestTimeoutMs ?? 12_000, 'requestTimeoutMs'),
    connectTimeoutMs: positiveInteger(config.connectTimeoutMs ?? 5_000, 'connectTimeoutMs'),
  };
}

/** Returns the configuration for logs, with the password masked and the TLS keys left out. */
export function redactConfig(config: ResolvedCassandraStoreConfig): Record<string, unknown> {
  return {
    contactPoints: config.contactPoints,
    port: config.port,
    localDataCenter: config.localDataCenter,
    keyspace: config.keyspace,
    username: config.username,
    password: config.password === undefined ? undefined : '***',
    tls: config.tls !== undefined,
    consistency: config.consistency,
    serialConsistency: config.serialConsistency,
    replication: config.replication,
  };
}

/** Formats the `replication` map of `CREATE KEYSPACE` as CQL text. */
export function replicationCql(replication: ReplicationConfig): string {
  if (replication.class === 'SimpleStrategy') {
    return `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`;
  }

  const dataCenters = Object.entries(replication.dataCenters).map(([name, factor]) => `'${name}': ${factor}`);
  return `{'class': 'NetworkTopologyStrategy', ${dataCenters.join(', ')}}`;
}

export function consistencyCode(name: ConsistencyName | SerialConsistencyName): number {
  const code = (types.consistencies as unknown as Record<string, number | undefined>)[camelCaseOf(name)];
  if (code === undefined) {
    throw OpError.badValue('consistency', `consistency '${name}' is not known to cassandra-driver`);
  }
  return code;
}

/** `LOCAL_QUORUM` to `localQuorum`, the key cassandra-driver uses in `types.consistencies`. */
function camelCaseOf(name: string): string {
  return name.toLowerCase().replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function checkReplication(replication: ReplicationConfig): void {
  if (replication.class === 'SimpleStrategy') {
    positiveInteger(replication.replicationFactor, 'replication.replicationFactor');
    return;
  }
  if (replication.class !== 'NetworkTopologyStrategy') {
    throw OpError.badValue(
      'replication.class',
      `replication class '${String((replication as { class?: unknown }).class)}' is invalid; use SimpleStrategy or NetworkTopologyStrategy`,
    );
  }

  const entries = Object.entries(replication.dataCenters ?? {});
  if (entries.length === 0) {
    throw OpError.badValue('replication.dataCenters', 'NetworkTopologyStrategy needs at least one data center with a replica count');
  }
  for (const [name, factor] of entries) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw OpError.badValue('replication.dataCenters', `data center name '${name}' is invalid: use letters, digits, '_', '.' or '-'`);
    }
    positiveInteger(factor, `replication.dataCenters.${name}`);
  }
}

function positiveInteger(value: number, key: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw OpError.badValue(key, `${key} must be a positive integer, got ${String(value)}`);
  }
  return value;
}
