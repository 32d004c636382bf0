import { Ajv, type ErrorObject } from 'ajv';

/**
 * Selection and options of the worker's metadata store (`metadataStore` in the
 * configuration file, `OP_WORKER_METADATA_STORE` and `OP_WORKER_CASSANDRA_*` in the
 * environment). SQLite in the data folder is the default. Cassandra lets workers on
 * several hosts share one namespace.
 */
export type MetadataStoreConfig = SqliteStoreConfig | CassandraStoreConfig;

/** The embedded store, `<dataDir>/metadata.db`. */
export interface SqliteStoreConfig {
  type: 'sqlite';
}

/**
 * The options of `@op-worker/metadata-cassandra`, except that TLS takes file paths
 * (read at start) rather than PEM text, so that a JSON file can hold them.
 */
export interface CassandraStoreConfig {
  type: 'cassandra';
  /** `host` or `host:port`. */
  contactPoints: string[];
  /** CQL port for contact points without one; the plugin's default is 9042. */
  port?: number;
  localDataCenter?: string;
  keyspace: string;
  username?: string;
  /** A secret, masked by `redactStoreConfig`; the worker never logs it. */
  password?: string;
  consistency?: (typeof CONSISTENCIES)[number];
  serialConsistency?: 'SERIAL' | 'LOCAL_SERIAL';
  replication?: { class: 'SimpleStrategy'; replicationFactor: number } | { class: 'NetworkTopologyStrategy'; dataCenters: Record<string, number> };
  tls?: CassandraTlsFiles;
  /** Client-side timeout of one request, in milliseconds. */
  requestTimeoutMs?: number;
  /** Timeout of opening a connection, in milliseconds. */
  connectTimeoutMs?: number;
}

/** TLS settings by file: PEM files for the CA, the client certificate and its key. */
export interface CassandraTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  servername?: string;
  /** Defaults to true. False accepts any server certificate. */
  rejectUnauthorized?: boolean;
}

export const DEFAULT_METADATA_STORE: MetadataStoreConfig = { type: 'sqlite' };

/** Environment variable that selects the store type. */
export const METADATA_STORE_VARIABLE = 'OP_WORKER_METADATA_STORE';

/** Environment variables of the Cassandra options; replication and TLS are set in the file only. */
export const CASSANDRA_VARIABLES = {
  contactPoints: 'OP_WORKER_CASSANDRA_CONTACT_POINTS',
  port: 'OP_WORKER_CASSANDRA_PORT',
  localDataCenter: 'OP_WORKER_CASSANDRA_LOCAL_DATA_CENTER',
  keyspace: 'OP_WORKER_CASSANDRA_KEYSPACE',
  username: 'OP_WORKER_CASSANDRA_USERNAME',
  password: 'OP_WORKER_CASSANDRA_PASSWORD',
  consistency: 'OP_WORKER_CASSANDRA_CONSISTENCY',
  serialConsistency: 'OP_WORKER_CASSANDRA_SERIAL_CONSISTENCY',
  requestTimeoutMs: 'OP_WORKER_CASSANDRA_REQUEST_TIMEOUT_MS',
  connectTimeoutMs: 'OP_WORKER_CASSANDRA_CONNECT_TIMEOUT_MS',
} as const satisfies Partial<Record<keyof CassandraStoreConfig, string>>;

const STORE_TYPES = ['sqlite', 'cassandra'] as const;
const CONSISTENCIES = ['ANY', 'ONE', 'TWO', 'THREE', 'QUORUM', 'ALL', 'LOCAL_QUORUM', 'EACH_QUORUM', 'LOCAL_ONE'] as const;

const SQLITE_SCHEMA = {
  type: 'object',
  properties: { type: { type: 'string', const: 'sqlite' } },
  required: ['type'],
  additionalProperties: false,
} as const;

const CASSANDRA_SCHEMA = {
  type: 'object',
  properties: {
    type: { type: 'string', const: 'cassandra' },
    contactPoints: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    localDataCenter: { type: 'string', minLength: 1 },
    // The plugin puts the keyspace into CQL text, so only unquoted identifiers pass.
    keyspace: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$' },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    consistency: { type: 'string', enum: CONSISTENCIES },
    serialConsistency: { type: 'string', enum: ['SERIAL', 'LOCAL_SERIAL'] },
    replication: {
      type: 'object',
      properties: {
        class: { type: 'string', enum: ['SimpleStrategy', 'NetworkTopologyStrategy'] },
        replicationFactor: { type: 'integer', minimum: 1 },
        dataCenters: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 }, minProperties: 1 },
      },
      required: ['class'],
      additionalProperties: false,
    },
    tls: {
      type: 'object',
      properties: {
        caFile: { type: 'string', minLength: 1 },
        certFile: { type: 'string', minLength: 1 },
        keyFile: { type: 'string', minLength: 1 },
        servername: { type: 'string', minLength: 1 },
        rejectUnauthorized: { type: 'boolean' },
      },
      additionalProperties: false,
    },
    requestTimeoutMs: { type: 'integer', minimum: 1 },
    connectTimeoutMs: { type: 'integer', minimum: 1 },
  },
  required: ['type', 'contactPoints', 'keyspace'],
  additionalProperties: false,
} as const;

// Coercion turns environment strings into numbers and booleans.
const ajv = new Ajv({ coerceTypes: true, strict: true, allErrors: false });
const validators = {
  sqlite: ajv.compile<SqliteStoreConfig>(SQLITE_SCHEMA),
  cassandra: ajv.compile<CassandraStoreConfig>(CASSANDRA_SCHEMA),
};

/** Store options from one configuration source, with the text that names the source of each option. */
export interface StoreLayer {
  values: Record<string, unknown>;
  /** Text naming where `key` came from, e.g. `environment variable OP_WORKER_CASSANDRA_PORT`. */
  source(key: string): string;
}

/** Read the store options from environment variables; an empty variable counts as unset. */
export function storeLayerFromEnv(env: NodeJS.ProcessEnv): StoreLayer {
  const values: Record<string, unknown> = {};
  const type = env[METADATA_STORE_VARIABLE];
  if (type !== undefined && type !== '') values['type'] = type;

  for (const [key, variable] of Object.entries(CASSANDRA_VARIABLES)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    values[key] = key === 'contactPoints' ? value.split(',').map((point) => point.trim()).filter(Boolean) : value;
  }

  const variables: Record<string, string> = { type: METADATA_STORE_VARIABLE, ...CASSANDRA_VARIABLES };
  return { values, source: (key) => `environment variable ${variables[key] ?? key}` };
}

/** Wrap the `metadataStore` object of a configuration file as a layer. */
export function storeLayerFromFile(value: unknown, filePath: string): StoreLayer {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreConfigError(`"metadataStore" in configuration file ${filePath} must be an object such as {"type": "sqlite"}`);
  }
  const values = value as Record<string, unknown>;
  if (values['type'] === undefined) {
    throw new StoreConfigError(`"metadataStore" in configuration file ${filePath} has no "type"; use "sqlite" or "cassandra"`);
  }
  return { values, source: (key) => `"metadataStore.${key}" in configuration file ${filePath}` };
}

/** An invalid store option; `config.ts` rethrows it as its `ConfigError`. */
export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

/**
 * Merge store layers, later ones winning, and validate the result. A layer that
 * sets another `type` than the layers before it starts over, so that
 * `OP_WORKER_METADATA_STORE=sqlite` discards the Cassandra options of the file.
 */
export function resolveStoreConfig(layers: readonly StoreLayer[]): MetadataStoreConfig {
  let merged: Record<string, unknown> = { ...DEFAULT_METADATA_STORE };
  const sources = new Map<string, (key: string) => string>();

  for (const layer of layers) {
    const type = layer.values['type'];
    if (type !== undefined && type !== merged['type']) {
      merged = {};
      sources.clear();
    }
    for (const [key, value] of Object.entries(layer.values)) {
      merged[key] = value;
      sources.set(key, layer.source);
    }
  }

  const describeSource = (key: string): string => sources.get(key)?.(key) ?? `"metadataStore.${key}"`;
  return validateStore(merged, describeSource);
}

function validateStore(merged: Record<string, unknown>, source: (key: string) => string): MetadataStoreConfig {
  const type = merged['type'];
  if (type !== 'sqlite' && type !== 'cassandra') {
    throw new StoreConfigError(`invalid configuration: ${source('type')} is "${String(type)}"; use one of ${STORE_TYPES.join(', ')}`);
  }

  const copy = { ...merged };
  const validate = validators[type];
  if (!validate(copy)) throw new StoreConfigError(describeStoreError(type, validate.errors?.[0], source));

  if (copy.type === 'cassandra' && (copy.username === undefined) !== (copy.password === undefined)) {
    throw new StoreConfigError(
      `invalid configuration: the Cassandra username and password must be set together (${CASSANDRA_VARIABLES.username} and ${CASSANDRA_VARIABLES.password}, or "username" and "password" in "metadataStore")`,
    );
  }
  return copy;
}

function describeStoreError(type: MetadataStoreConfig['type'], error: ErrorObject | undefined, source: (key: string) => string): string {
  if (error === undefined) return 'invalid metadata store configuration';

  if (error.keyword === 'additionalProperties') {
    const name = String(error.params['additionalProperty']);
    if (type === 'sqlite') {
      return `invalid configuration: ${source(name)} is a Cassandra option, but the metadata store is "sqlite"; set ${METADATA_STORE_VARIABLE}=cassandra or "metadataStore": {"type": "cassandra", ...}`;
    }
    const known = Object.keys(CASSANDRA_SCHEMA.properties).join(', ');
    return `invalid configuration: unknown metadata store option ${source(name)}; known options: ${known}`;
  }

  if (error.keyword === 'required') {
    const name = String(error.params['missingProperty']);
    const variable = (CASSANDRA_VARIABLES as Record<string, string>)[name];
    const where = variable === undefined ? `"metadataStore.${name}"` : `"metadataStore.${name}" or ${variable}`;
    return `invalid configuration: the Cassandra metadata store needs ${where}`;
  }

  const [, key = 'type', ...rest] = error.instancePath.split('/');
  const inner = rest.length === 0 ? '' : ` (at ${rest.join('.')})`;
  return `invalid configuration: ${source(key)}${inner} ${error.message ?? 'is invalid'}`;
}

/** The store configuration with the password masked, for logs and diagnostics. */
export function redactStoreConfig(config: MetadataStoreConfig): Record<string, unknown> {
  if (config.type !== 'cassandra' || config.password === undefined) return { ...config };
  return { ...config, password: '***' };
}
