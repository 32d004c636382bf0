import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { MetadataStore } from '@op-worker/core';
import type { ClusterView } from '@op-worker/server';
import type { Logger } from 'pino';
import { Membership, type MembershipView, type NodeRecord } from './membership.js';
import { DEFAULT_RESTART_POLICY, type RestartPolicyOptions } from './restart-policy.js';
import { startStatusServer, type StatusServer } from './status-server.js';
import { createClusterStore } from './store.js';
import { DEFAULT_TIMINGS, Supervisor, type SupervisorTimings, type WorkerStatus } from './supervisor.js';

export interface ManagerOptions {
  /** Node id of this manager, unique in the cluster. */
  managerId: string;
  /** Data folder of the workers. With the SQLite store, its `metadata.db` also contains the membership records. */
  dataDir: string;
  host: string;
  /** Shared port of the workers; 0 picks a free one. */
  port: number;
  workerCount: number;
  /** Port of the status endpoint on `host`; 0 picks a free one. */
  statusPort: number;
  /** Configuration file of the workers (`op-worker start --config FILE`); it may select the Cassandra store. */
  workerConfigFile?: string;
  /** Extra arguments for `op-worker start`. */
  workerArgs?: string[];
  workerEnv?: Record<string, string>;
  timings?: Partial<SupervisorTimings>;
  restartPolicy?: Partial<RestartPolicyOptions>;
  /** Lifetime of membership records and of the leader lease, in milliseconds. */
  leaseTtlMs?: number;
  /**
   * Store for membership. By default the store the workers' configuration selects
   * (`workerConfigFile`, `OP_WORKER_*` in the environment and `workerEnv`), opened by the manager.
   */
  store?: MetadataStore;
  logger: Logger;
}

export const DEFAULT_LEASE_TTL_MS = 5_000;

/** Body of `GET /status`. Times are milliseconds since the epoch. */
export interface StatusReport {
  managerId: string;
  pid: number;
  url?: string;
  statusUrl?: string;
  leader: { managerId: string; expiresAtMs?: number } | null;
  isLeader: boolean;
  singletonWorkerId?: string;
  cluster: { status: 'healthy' | 'degraded'; expectedWorkers: number; readyWorkers: number };
  managers: Array<NodeRecord & { live: boolean }>;
  /** This manager's workers first, with full detail, then the others' from the store. */
  workers: Array<WorkerStatus & { managerId: string; live: boolean }>;
}

/** The `op-cluster-manager start` process: supervisor, membership and status endpoint. */
export class ClusterManager {
  private readonly supervisor: Supervisor;
  /** Set by `start`, because opening the configured store is asynchronous. */
  private membership: Membership | undefined;
  private store: MetadataStore | undefined;
  private readonly ownsStore: boolean;
  private readonly leaseTtlMs: number;
  private statusServer: StatusServer | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: ManagerOptions) {
    this.logger = options.logger.child({ managerId: options.managerId });
    const timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;

    this.supervisor = new Supervisor({
      workerCount: options.workerCount,
      workerBin: workerBinPath(),
      workerArgs: ['start', '--data-dir', options.dataDir, '--port', String(options.port), '--host', options.host, ...configArgs(options.workerConfigFile), ...(options.workerArgs ?? [])],
      workerEnv: options.workerEnv,
      nodeIdPrefix: options.managerId,
      timings,
      restartPolicy: { ...DEFAULT_RESTART_POLICY, ...options.restartPolicy },
      logger: this.logger,
    });

    this.ownsStore = options.store === undefined;
    this.store = options.store;
    this.supervisor.on('change', () => void this.membership?.refresh());
  }

  get url(): string | undefined {
    return this.supervisor.url;
  }

  get statusUrl(): string | undefined {
    return this.statusServer?.url;
  }

  /** Open the store, register, start the workers and the status endpoint. */
  async start(): Promise<void> {
    this.logger.info({ dataDir: this.options.dataDir, workers: this.options.workerCount, port: this.options.port }, 'cluster manager starting');
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o700 });
    const membership = await this.openMembership();

    this.statusServer = await startStatusServer({
      host: this.options.host,
      port: this.options.statusPort,
      status: () => this.status(),
      rollingRestart: () => this.supervisor.rollingRestart(),
      logger: this.logger,
    });
    await membership.start();
    await this.supervisor.start();
    await membership.refresh();
    this.logger.info({ url: this.url, statusUrl: this.statusUrl }, 'cluster manager ready');
  }

  rollingRestart(): Promise<string[]> {
    return this.supervisor.rollingRestart();
  }

  /** Drain the workers, leave the cluster and close the store. */
  async stop(): Promise<void> {
    this.logger.info('cluster manager stopping');
    await this.supervisor.stop();
    await this.membership?.stop();
    await this.statusServer?.close();
    if (this.ownsStore) await this.store?.close();
    this.logger.info('cluster manager stopped');
  }

  status(): StatusReport {
    const view = this.membership?.view() ?? { isLeader: false, nodes: [] };
    const local = this.supervisor.status().map((worker) => ({ ...worker, managerId: this.options.managerId, live: isAlive(worker) }));
    const remote = view.nodes
      .filter((node) => node.role === 'worker' && node.managerId !== this.options.managerId)
      .map((node) => ({ ...node, state: node.live ? node.state : 'down', restarts: node.restarts ?? 0 }) as unknown as WorkerStatus & { managerId: string; live: boolean });
    const managers = view.nodes.filter((node) => node.role === 'manager');

    return {
      managerId: this.options.managerId,
      pid: process.pid,
      url: this.url,
      statusUrl: this.statusUrl,
      leader: view.leaderId === undefined ? null : { managerId: view.leaderId, expiresAtMs: view.leaderExpiresAtMs },
      isLeader: this.membership?.isLeader ?? false,
      singletonWorkerId: view.singleton?.workerId,
      cluster: clusterHealth(managers, this.options.managerId, this.describeSelf().workers),
      managers,
      workers: [...local, ...remote],
    };
  }

  /** Open the membership store (the workers' configured one unless `store` was given) and build the membership on it. */
  private async openMembership(): Promise<Membership> {
    if (this.store === undefined) {
      const { dataDir, workerConfigFile, workerEnv } = this.options;
      this.store = await createClusterStore({ dataDir, workerConfigFile, env: { ...process.env, ...workerEnv }, logger: this.logger });
      await this.store.open();
    }

    const membership = new Membership({
      store: this.store,
      managerId: this.options.managerId,
      ttlMs: this.leaseTtlMs,
      intervalMs: Math.max(50, Math.floor(this.leaseTtlMs / 3)),
      logger: this.logger,
      describeSelf: () => this.describeSelf(),
      localWorkers: () => this.supervisor.status(),
    });
    membership.on('view', (view) => this.supervisor.broadcast(this.clusterView(view)));
    this.membership = membership;
    return membership;
  }

  private describeSelf(): { host: string; pid: number; url?: string; statusUrl?: string; workers: { expected: number; ready: number } } {
    const ready = this.supervisor.status().filter((worker) => worker.state === 'ready').length;
    return { host: hostname(), pid: process.pid, url: this.url, statusUrl: this.statusUrl, workers: { expected: this.options.workerCount, ready } };
  }

  private clusterView(view: MembershipView): ClusterView {
    const managers = view.nodes.filter((node) => node.role === 'manager');
    const health = clusterHealth(managers, this.options.managerId, this.describeSelf().workers);
    return {
      status: health.status,
      managerId: this.options.managerId,
      leaderId: view.leaderId,
      workers: { expected: health.expectedWorkers, ready: health.readyWorkers },
      singletonWorkerId: view.singleton?.workerId,
    };
  }
}

/**
 * Compute the cluster's health: healthy when every live manager has all its workers
 * ready. This manager's own counts are fresher than its stored record, so they replace it.
 */
function clusterHealth(
  managers: Array<NodeRecord & { live: boolean }>,
  selfId: string,
  selfWorkers: { expected: number; ready: number },
): StatusReport['cluster'] {
  let expectedWorkers = selfWorkers.expected;
  let readyWorkers = selfWorkers.ready;
  for (const manager of managers) {
    if (manager.nodeId === selfId || !manager.live || manager.workers === undefined) continue;
    expectedWorkers += manager.workers.expected;
    readyWorkers += manager.workers.ready;
  }
  return { status: readyWorkers >= expectedWorkers ? 'healthy' : 'degraded', expectedWorkers, readyWorkers };
}

function configArgs(file: string | undefined): string[] {
  return file === undefined ? [] : ['--config', file];
}

function isAlive(worker: WorkerStatus): boolean {
  return worker.state === 'ready' || worker.state === 'starting' || worker.state === 'draining';
}

/** Path of the `op-worker` entry script of the installed `@op-worker/server` package. */
export function workerBinPath(): string {
  const entry = createRequire(import.meta.url).resolve('@op-worker/server');
  // The package's main is dist/src/index.js; its bin folder sits beside dist.
  return path.resolve(path.dirname(entry), '..', '..', 'bin', 'op-worker.js');
}
