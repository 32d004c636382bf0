import {
  systemClock,
  type ChangeInput,
  type ChangeRecord,
  type ChildEntry,
  type Clock,
  type Lease,
  type ListChildrenOptions,
  type MetadataStore,
  type ReadChangesOptions,
  type ScanOptions,
  type ScanPage,
  type StoredDocument,
} from '@op-worker/core';
import { auth, Client, policies } from 'cassandra-driver';
import type { Logger } from 'pino';

import { ChangeFeed } from './change-feed.js';
import { ChildrenTable } from './children.js';
import { consistencyCode, redactConfig, resolveConfig, type CassandraStoreConfig, type ResolvedCassandraStoreConfig } from './config.js';
import { DocumentTable } from './documents.js';
import { toOpError } from './errors.js';
import { LeaseTable } from './leases.js';
import { LATEST_SCHEMA_VERSION, migrate } from './schema.js';
import { CqlSession } from './session.js';

export interface CassandraMetadataStoreOptions extends CassandraStoreConfig {
  /** Source of the time for lease expiry and change timestamps. */
  clock?: Clock;
  logger?: Logger;
}

/** Delays between reconnection attempts to a node that went down, in milliseconds. */
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 10_000;

/**
 * The metadata store on Apache Cassandra, for workers on several hosts sharing one
 * namespace. Conditional writes are lightweight transactions (Paxos) on the partition
 * of the row they change; nothing needs a multi-partition transaction.
 */
export class CassandraMetadataStore implements MetadataStore {
  readonly config: ResolvedCassandraStoreConfig;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly session: CqlSession;

  private client: Client | undefined;
  private readonly documents: DocumentTable;
  private readonly children: ChildrenTable;
  private readonly changes: ChangeFeed;
  private readonly leases: LeaseTable;

  constructor(options: CassandraMetadataStoreOptions) {
    this.config = resolveConfig(options);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.session = new CqlSession(this.config.keyspace, this.config.contactPoints);
    this.documents = new DocumentTable(this.session, this.logger);
    this.children = new ChildrenTable(this.session);
    this.changes = new ChangeFeed(this.session, this.clock, this.logger);
    this.leases = new LeaseTable(this.session, this.clock);
  }

  /** Connects, creates the keyspace and tables when missing, and applies pending migrations. */
  async open(): Promise<void> {
    if (this.client !== undefined) {
      return;
    }

    const client = new Client(this.clientOptions());
    client.on('hostRemove', (host: unknown) => this.shutDownRemovedHost(host));
    try {
      await client.connect();
      const previousVersion = await migrate(client, this.config.keyspace, this.config.replication, this.logger);
      this.logger?.info(
        { ...redactConfig(this.config), previousVersion, schemaVersion: LATEST_SCHEMA_VERSION },
        'opened Cassandra metadata store',
      );
    } catch (error) {
      await client.shutdown().catch(() => undefined);
      throw toOpError(error, { operation: 'open', contactPoints: this.config.contactPoints, keyspace: this.config.keyspace });
    }

    this.client = client;
    this.session.attach(client);
  }

  async close(): Promise<void> {
    const client = this.client;
    if (client === undefined) {
      return;
    }

    this.client = undefined;
    this.session.attach(undefined);
    await client.shutdown();
    this.logger?.info({ keyspace: this.config.keyspace }, 'closed Cassandra metadata store');
  }

  /**
   * Shuts down a host object that the driver dropped from its host map. cassandra-driver
   * 4.10 drops hosts without shutting them down in one case: when its control connection
   * finds every known host down, it reconnects through the contact points and replaces
   * each host object with a new one. The old object keeps its reconnecting connection
   * pool and a health-check interval. `Client.shutdown()` reaches only the hosts in the
   * map, so the old objects would keep the process alive after `close()` and, in a
   * long-running worker, pile up with every outage. Shutting down a host twice is
   * harmless, which covers hosts the driver removed after shutting them down itself.
   */
  private shutDownRemovedHost(host: unknown): void {
    const removed = host as { address?: string; shutdown?: (waitForPending: boolean) => Promise<void> };
    if (typeof removed.shutdown !== 'function') {
      this.logger?.warn({ host: removed.address }, 'cassandra-driver removed a host that has no shutdown(); its timers may stay armed');
      return;
    }

    this.logger?.debug({ host: removed.address }, 'shutting down a host object that cassandra-driver removed');
    // `true` drains requests in flight on the old object before its connections close.
    removed.shutdown(true).catch((error: unknown) => this.logger?.warn({ err: error, host: removed.address }, 'shutting down a removed Cassandra host failed'));
  }

  /** Returns the configuration without secrets, for logs and diagnostics. */
  toJSON(): Record<string, unknown> {
    return redactConfig(this.config);
  }

  get<T>(collection: string, key: string): Promise<StoredDocument<T> | undefined> {
    return this.documents.get<T>(collection, key);
  }

  getMany<T>(collection: string, keys: readonly string[]): Promise<Map<string, StoredDocument<T>>> {
    return this.documents.getMany<T>(collection, keys);
  }

  create<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    return this.documents.create(collection, key, value);
  }

  update<T>(collection: string, key: string, value: T, expectedVersion: number): Promise<StoredDocument<T>> {
    return this.documents.update(collection, key, value, expectedVersion);
  }

  put<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    return this.documents.put(collection, key, value);
  }

  delete(collection: string, key: string, expectedVersion?: number): Promise<boolean> {
    return this.documents.delete(collection, key, expectedVersion);
  }

  scan<T>(collection: string, options: ScanOptions): Promise<ScanPage<T>> {
    return this.documents.scan<T>(collection, options.cursor, options.limit);
  }

  addChild(parentId: string, name: string, childId: string): Promise<void> {
    return this.children.add(parentId, name, childId);
  }

  getChild(parentId: string, name: string): Promise<string | undefined> {
    return this.children.get(parentId, name);
  }

  removeChild(parentId: string, name: string, expectedChildId?: string): Promise<boolean> {
    return this.children.remove(parentId, name, expectedChildId);
  }

  listChildren(parentId: string, options: ListChildrenOptions): Promise<ChildEntry[]> {
    return this.children.list(parentId, options.startAfter, options.limit);
  }

  appendChange(spaceId: string, change: ChangeInput): Promise<number> {
    return this.changes.append(spaceId, change);
  }

  readChanges(spaceId: string, options: ReadChangesOptions): Promise<ChangeRecord[]> {
    return this.changes.read(spaceId, options.afterSeq, options.limit);
  }

  lastChangeSeq(spaceId: string): Promise<number> {
    return this.changes.lastSeq(spaceId);
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.leases.acquire(name, holder, ttlMs);
  }

  renewLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.leases.renew(name, holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.leases.release(name, holder);
  }

  getLease(name: string): Promise<Lease | undefined> {
    return this.leases.get(name);
  }

  private clientOptions(): ConstructorParameters<typeof Client>[0] {
    const config = this.config;
    return {
      contactPoints: config.contactPoints,
      localDataCenter: config.localDataCenter,
      protocolOptions: { port: config.port },
      ...(config.username === undefined || config.password === undefined
        ? {}
        : { authProvider: new auth.PlainTextAuthProvider(config.username, config.password) }),
      ...(config.tls === undefined ? {} : { sslOptions: config.tls }),
      socketOptions: { connectTimeout: config.connectTimeoutMs, readTimeout: config.requestTimeoutMs },
      queryOptions: {
        consistency: consistencyCode(config.consistency),
        serialConsistency: consistencyCode(config.serialConsistency),
        prepare: true,
      },
      policies: {
        // The driver's default waits up to ten minutes between attempts, which would keep
        // the store failing long after the cluster is back.
        reconnection: new policies.reconnection.ExponentialReconnectionPolicy(RECONNECT_BASE_MS, RECONNECT_MAX_MS, false),
      },
    };
  }
}

