import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';

/**
 * The worker side of `op-cluster-manager`. A worker forked by the manager (a `node:cluster`
 * worker) sends heartbeats with its load over IPC, serves the same application on a
 * private port for the manager's health checks, returns the cluster's state from
 * `/health`, and drains its requests when the manager requests a stop. A worker started on
 * its own is not affected: `joinClusterIfManaged` then returns undefined.
 */

/** Environment variables the manager sets on each worker it forks. */
export const CLUSTER_ENVIRONMENT = {
  nodeId: 'OP_CLUSTER_NODE_ID',
  heartbeatIntervalMs: 'OP_CLUSTER_HEARTBEAT_MS',
} as const;

const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;

/** Load of one worker, sent with every heartbeat. */
export interface WorkerLoad {
  /** Requests received and not yet responded to. */
  inFlightRequests: number;
  /** Fraction of time, 0 to 1, the event loop was busy since the previous heartbeat. */
  eventLoopUtilization: number;
  rssBytes: number;
}

/** Cluster state the manager sends to each worker on every change. */
export interface ClusterView {
  /** `healthy` when every worker the cluster expects is ready, else `degraded`. */
  status: 'healthy' | 'degraded';
  managerId: string;
  /** Manager holding the leader lease, when one does. */
  leaderId?: string;
  workers: { expected: number; ready: number };
  /**
   * Worker that runs the cluster's singleton work (transfers, QoS reconciliation, import
   * scans), chosen by the leader; undefined while no leader is known.
   */
  singletonWorkerId?: string;
}

export type WorkerToManagerMessage =
  | { type: 'op-cluster:ready'; nodeId: string; url: string; healthUrl: string }
  | { type: 'op-cluster:heartbeat'; nodeId: string; load: WorkerLoad }
  | { type: 'op-cluster:draining'; nodeId: string; inFlightRequests: number };

export type ManagerToWorkerMessage =
  | { type: 'op-cluster:view'; view: ClusterView }
  | { type: 'op-cluster:shutdown'; deadlineMs: number };

/** Handle of a worker that runs under the cluster manager. */
export interface ClusterWorker {
  readonly nodeId: string;
  /** Wrap the application's request listener: `/health` from the cluster view, no keep-alive while draining. */
  wrap(listener: RequestListener): RequestListener;
  /** Start heartbeats and the health port once `server` listens; `close` stops the worker's services. */
  attach(server: Server, url: string, close: () => Promise<void>): Promise<void>;
  /** Latest cluster view, undefined until the manager sent one. */
  view(): ClusterView | undefined;
  /** Call `listener` with each new view; returns a function that removes it. */
  onView(listener: (view: ClusterView) => void): () => void;
  /** True when the cluster's leader chose this worker for singleton work. */
  runsSingletonWork(): boolean;
}

/** Requests on one connection of the shared port; times in milliseconds since the epoch. */
interface ConnectionUse {
  acceptedAtMs: number;
  requests: number;
  active: number;
}

/** How long a draining worker waits for the first request of a new connection, in milliseconds. */
const FIRST_REQUEST_GRACE_MS = 2000;

const HEALTH_PATHS = new Set(['/health', '/api/v3/oneprovider/health']);

/** Return the cluster handle when this process was forked by `op-cluster-manager`, else undefined. */
export function joinClusterIfManaged(logger: Logger, env: NodeJS.ProcessEnv = process.env): ClusterWorker | undefined {
  const nodeId = env[CLUSTER_ENVIRONMENT.nodeId];
  if (!cluster.isWorker || process.send === undefined || nodeId === undefined) return undefined;
  const heartbeatMs = Number(env[CLUSTER_ENVIRONMENT.heartbeatIntervalMs] ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
  return new ManagedWorker(nodeId, heartbeatMs > 0 ? heartbeatMs : DEFAULT_HEARTBEAT_INTERVAL_MS, logger.child({ nodeId }));
}

class ManagedWorker implements ClusterWorker {
  private inFlight = 0;
  private readonly connections = new Map<Socket, ConnectionUse>();
  private draining = false;
  private latestView: ClusterView | undefined;
  private readonly viewListeners = new Set<(view: ClusterView) => void>();
  private lastUtilization: EventLoopUtilization = performance.eventLoopUtilization();

  constructor(
    readonly nodeId: string,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
  ) {}

  wrap(listener: RequestListener): RequestListener {
    return (request, response) => {
      this.inFlight += 1;
      const connection = this.connections.get(request.socket);
      if (connection !== undefined) {
        connection.requests += 1;
        connection.active += 1;
      }
      response.once('close', () => {
        this.inFlight -= 1;
        if (connection !== undefined) connection.active -= 1;
      });
      if (this.draining) response.shouldKeepAlive = false;

      if (request.method === 'GET' && HEALTH_PATHS.has(pathOf(request))) {
        this.answerHealth(response);
        return;
      }
      listener(request, response);
    };
  }

  async attach(server: Server, url: string, close: () => Promise<void>): Promise<void> {
    server.on('connection', (socket: Socket) => {
      this.connections.set(socket, { acceptedAtMs: Date.now(), requests: 0, active: 0 });
      socket.once('close', () => this.connections.delete(socket));
    });
    // The server's listener is already wrapped, so health-port requests count as in flight too.
    const healthServer = createServer(server.listeners('request')[0] as RequestListener);
    const address = server.address() as AddressInfo;
    // `exclusive` keeps this port out of node:cluster's sharing, so it reaches this worker only.
    await new Promise<void>((resolve, reject) => {
      healthServer.once('error', reject);
      healthServer.listen({ port: 0, host: address.address, exclusive: true }, () => resolve());
    });
    const healthPort = (healthServer.address() as AddressInfo).port;
    const healthUrl = url.replace(/:\d+$/, `:${healthPort}`);

    const heartbeat = setInterval(() => this.send({ type: 'op-cluster:heartbeat', nodeId: this.nodeId, load: this.load() }), this.heartbeatMs);
    heartbeat.unref();

    process.on('message', (message: unknown) => {
      if (!isManagerMessage(message)) return;
      if (message.type === 'op-cluster:view') this.applyView(message.view);
      else void this.shutdown(server, healthServer, heartbeat, message.deadlineMs, close);
    });

    this.send({ type: 'op-cluster:ready', nodeId: this.nodeId, url, healthUrl });
    this.logger.info({ url, healthUrl }, 'worker joined its cluster manager');
  }

  view(): ClusterView | undefined {
    return this.latestView;
  }

  onView(listener: (view: ClusterView) => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  runsSingletonWork(): boolean {
    return this.latestView?.singletonWorkerId === this.nodeId;
  }

  private applyView(view: ClusterView): void {
    const before = this.runsSingletonWork();
    this.latestView = view;
    if (before !== this.runsSingletonWork()) {
      this.logger.info({ singletonWork: !before, leaderId: view.leaderId }, 'singleton work assignment changed');
    }
    for (const listener of this.viewListeners) listener(view);
  }

  private answerHealth(response: ServerResponse): void {
    const view = this.latestView;
    const status = this.draining ? 'draining' : (view?.status ?? 'healthy');
    response.statusCode = this.draining ? 503 : 200;
    response.setHeader('Content-Type', 'application/json');
    response.end(JSON.stringify({ status, nodeId: this.nodeId, cluster: view ?? null }));
  }

  /**
   * Stop accepting connections, let running requests finish for at most `deadlineMs`,
   * then close what is left, stop the services and exit.
   */
  private async shutdown(server: Server, healthServer: Server, heartbeat: NodeJS.Timeout, deadlineMs: number, close: () => Promise<void>): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.logger.info({ inFlightRequests: this.inFlight, deadlineMs }, 'worker draining');
    this.send({ type: 'op-cluster:draining', nodeId: this.nodeId, inFlightRequests: this.inFlight });

    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = Date.now() + deadlineMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      this.closeIdleConnections();
      await sleep(50);
    }
    if (this.connections.size > 0) this.logger.warn({ inFlightRequests: this.inFlight, connections: this.connections.size }, 'drain deadline passed; cutting off running requests');

    clearInterval(heartbeat);
    healthServer.close();
    healthServer.closeAllConnections();
    try {
      await close();
      await closed;
      process.exit(0);
    } catch (error) {
      this.logger.error({ err: error }, 'worker did not stop cleanly');
      process.exit(1);
    }
  }

  /**
   * Close connections with no request running. A connection that has not sent its first
   * request yet gets a grace period, because its request may already be on the way; Node's
   * own `closeIdleConnections` would cut it off and fail that request.
   */
  private closeIdleConnections(): void {
    const now = Date.now();
    for (const [socket, connection] of this.connections) {
      if (connection.active > 0) continue;
      if (connection.requests > 0 || now - connection.acceptedAtMs > FIRST_REQUEST_GRACE_MS) socket.destroy();
    }
  }

  private load(): WorkerLoad {
    const current = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(current, this.lastUtilization);
    this.lastUtilization = current;
    return { inFlightRequests: this.inFlight, eventLoopUtilization: delta.utilization, rssBytes: process.memoryUsage.rss() };
  }

  private send(message: WorkerToManagerMessage): void {
    // The channel is gone when the manager died; node:cluster then ends this process.
    if (process.connected) process.send?.(message);
  }
}

function isManagerMessage(message: unknown): message is ManagerToWorkerMessage {
  const type = (message as { type?: unknown } | null)?.type;
  return type === 'op-cluster:view' || type === 'op-cluster:shutdown';
}

function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
