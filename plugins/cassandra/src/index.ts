export { CassandraMetadataStore, type CassandraMetadataStoreOptions } from './store.js';
export {
  resolveConfig,
  redactConfig,
  type CassandraStoreConfig,
  type ConsistencyName,
  type ReplicationConfig,
  type ResolvedCassandraStoreConfig,
  type SerialConsistencyName,
  type TlsConfig,
} from './config.js';
export { toOpError, type ErrorContext } from './errors.js';
export { LATEST_SCHEMA_VERSION as CASSANDRA_METADATA_SCHEMA_VERSION } from './schema.js';
