import { EventEmitter } from 'node:events';
import type { MetadataStore } from '@op-worker/core';
import type { Logger } from 'pino';
import type { WorkerStatus } from './supervisor.js';

/**
 * Cluster membership kept in the metadata store, so managers on several hosts see each
 * other. Each manager writes a record for itself and one for each of its workers on
 * every tick, with an expiry of `ttlMs`. A record whose expiry passed is a node that is
 * down. The same node id writing again is a node that rejoined. Worker records are
 * written by their manager from the worker's IPC heartbeats, so a worker that stops
 * sending heartbeats stops being refreshed. One manager holds the leader lease; it
 * chooses the worker that runs singleton work and records the choice.
 */
export const NODES_COLLECTION = 'cluster_nodes';
export const ASSIGNMENTS_COLLECTION = 'cluster_assignments';
export const LEADER_LEASE = 'cluster-manager-leader';
const SINGLETON_ASSIGNMENT = 'singleton-work';

export interface MembershipOptions {
  store: MetadataStore;
  managerId: string;
  /** Lifetime of node records and of the leader lease, in milliseconds. */
  ttlMs: number;
  /** Time between ticks, in milliseconds; well below `ttlMs` (a third by default). */
  intervalMs: number;
  logger: Logger;
  /** This manager's own record fields, read on every tick. */
  describeSelf: () => ManagerDetails;
  /** This manager's workers, read on every tick. */
  localWorkers: () => WorkerStatus[];
}

export interface ManagerDetails {
  host: string;
  pid: number;
  /** Shared URL of this manager's workers. */
  url?: string;
  statusUrl?: string;
  workers: { expected: number; ready: number };
}

/** A node record as stored. Times are milliseconds since the epoch. */
export interface NodeRecord {
  nodeId: string;
  role: 'manager' | 'worker';
  /** The manager of a worker; a manager's own id for a manager. */
  managerId: string;
  state: string;
  heartbeatAtMs: number;
  expiresAtMs: number;
  startedAtMs?: number;
  pid?: number;
  host?: string;
  url?: string;
  statusUrl?: string;
  healthUrl?: string;
  restarts?: number;
  load?: unknown;
  workers?: { expected: number; ready: number };
}

export interface SingletonAssignment {
  workerId: string;
  leaderId: string;
  assignedAtMs: number;
}

/** The whole cluster as one manager saw it at its last tick. */
export interface MembershipView {
  leaderId?: string;
  leaderExpiresAtMs?: number;
  isLeader: boolean;
  /** Every record, live or expired, with `live` set on the live ones. */
  nodes: Array<NodeRecord & { live: boolean }>;
  singleton?: SingletonAssignment;
}

/** Records expired longer than this are deleted by the leader, in milliseconds. */
const PRUNE_AFTER_MS = 3600_000;

export class Membership extends EventEmitter<{ view: [MembershipView]; leadership: [boolean] }> {
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private latest: MembershipView = { isLeader: false, nodes: [] };
  private readonly startedAtMs = Date.now();
  /** Bound to `managerId` once: a second binding would repeat the key in each log line. */
  private readonly logger: Logger;

  constructor(private readonly options: MembershipOptions) {
    super();
    this.logger = 'managerId' in options.logger.bindings() ? options.logger : options.logger.child({ managerId: options.managerId });
    if (options.intervalMs <= 0 || options.intervalMs >= options.ttlMs) {
      throw new RangeError(`membership interval (${options.intervalMs} ms) must be positive and below the record lifetime (${options.ttlMs} ms)`);
    }
  }

  get isLeader(): boolean {
    return this.leader;
  }

  view(): MembershipView {
    return this.latest;
  }

  /** Register this manager and start ticking. */
  async start(): Promise<void> {
    this.running = true;
    await this.tick();
  }

  /** Run one tick now, e.g. after a worker changed state; returns when it finished. */
  refresh(): Promise<void> {
    return this.tick();
  }

  /** Stop ticking, mark this manager and its workers stopped and give up the lease. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.ticking;

    const now = Date.now();
    const { store, managerId } = this.options;
    await store.put(NODES_COLLECTION, managerId, { ...this.selfRecord(now), state: 'stopped', expiresAtMs: now });
    for (const worker of this.options.localWorkers()) {
      await store.put(NODES_COLLECTION, worker.nodeId, { ...this.workerRecord(worker, now), state: 'stopped', expiresAtMs: now });
    }
    if (this.leader) {
      await store.releaseLease(LEADER_LEASE, managerId);
      this.setLeader(false, 'released on shutdown');
    }
  }

  private tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
      this.schedule();
    });
    return this.ticking;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    let delay = this.options.intervalMs;
    // A follower tries again right after the leader's lease expires, not up to an interval later.
    const expiresAt = this.latest.leaderExpiresAtMs;
    if (!this.leader && expiresAt !== undefined) delay = Math.max(0, Math.min(delay, expiresAt - Date.now() + 5));
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async runTick(): Promise<void> {
    try {
      const now = Date.now();
      await this.writeRecords(now);
      await this.updateLeadership();
      const nodes = await this.readNodes(Date.now());
      const singleton = await this.readOrAssignSingleton(nodes);
      const lease = await this.options.store.getLease(LEADER_LEASE);
      this.latest = { leaderId: lease?.holder, leaderExpiresAtMs: lease?.expiresAtMs, isLeader: this.leader, nodes, singleton };
      this.emit('view', this.latest);
    } catch (error) {
      // The store may be unreachable for a while; the lease then expires and another manager leads.
      this.logger.warn({ err: error }, 'membership tick failed');
    }
  }

  private async writeRecords(now: number): Promise<void> {
    const { store } = this.options;
    await store.put(NODES_COLLECTION, this.options.managerId, this.selfRecord(now));
    for (const worker of this.options.localWorkers()) {
      await store.put(NODES_COLLECTION, worker.nodeId, this.workerRecord(worker, now));
    }
  }

  private selfRecord(now: number): NodeRecord {
    const self = this.options.describeSelf();
    return {
      nodeId: this.options.managerId,
      role: 'manager',
      managerId: this.options.managerId,
      state: 'up',
      heartbeatAtMs: now,
      expiresAtMs: now + this.options.ttlMs,
      startedAtMs: this.startedAtMs,
      ...self,
    };
  }

  /** Build a worker's record, which expires `ttlMs` after its last IPC heartbeat so that a hung worker expires. */
  private workerRecord(worker: WorkerStatus, now: number): NodeRecord {
    const heartbeatAtMs = worker.lastHeartbeatAtMs ?? now;
    const alive = worker.state === 'ready' || worker.state === 'starting' || worker.state === 'draining';
    return {
      nodeId: worker.nodeId,
      role: 'worker',
      managerId: this.options.managerId,
      state: worker.state,
      heartbeatAtMs,
      expiresAtMs: alive ? heartbeatAtMs + this.options.ttlMs : now,
      startedAtMs: worker.startedAtMs,
      pid: worker.pid,
      url: worker.url,
      healthUrl: worker.healthUrl,
      restarts: worker.restarts,
      load: worker.load,
    };
  }

  private async updateLeadership(): Promise<void> {
    const { store, managerId, ttlMs } = this.options;
    if (this.leader) {
      const renewed = await store.renewLease(LEADER_LEASE, managerId, ttlMs);
      if (renewed === undefined) this.setLeader(false, 'lease expired before renewal');
      return;
    }
    const acquired = await store.acquireLease(LEADER_LEASE, managerId, ttlMs);
    if (acquired !== undefined) this.setLeader(true, 'acquired the leader lease');
  }

  private setLeader(leader: boolean, reason: string): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.logger.info({ leader, reason }, leader ? 'became cluster leader' : 'no longer cluster leader');
    this.emit('leadership', leader);
  }

  private async readNodes(now: number): Promise<Array<NodeRecord & { live: boolean }>> {
    const nodes: Array<NodeRecord & { live: boolean }> = [];
    let cursor: string | undefined;
    do {
      const page = await this.options.store.scan<NodeRecord>(NODES_COLLECTION, { cursor, limit: 200 });
      for (const document of page.documents) nodes.push({ ...document.value, live: document.value.expiresAtMs > now });
      cursor = page.nextCursor;
    } while (cursor !== undefined);

    if (this.leader) await this.pruneExpired(nodes, now);
    return nodes.filter((node) => now - node.expiresAtMs < PRUNE_AFTER_MS).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  private async pruneExpired(nodes: NodeRecord[], now: number): Promise<void> {
    for (const node of nodes) {
      if (now - node.expiresAtMs >= PRUNE_AFTER_MS) await this.options.store.delete(NODES_COLLECTION, node.nodeId);
    }
  }

  /**
   * Return the singleton assignment. On the leader, first keep it on one live, ready
   * worker: the current choice while it is live, else the first ready worker by node id.
   */
  private async readOrAssignSingleton(nodes: Array<NodeRecord & { live: boolean }>): Promise<SingletonAssignment | undefined> {
    const { store, managerId } = this.options;
    const current = (await store.get<SingletonAssignment>(ASSIGNMENTS_COLLECTION, SINGLETON_ASSIGNMENT))?.value;
    if (!this.leader) return current;

    const ready = nodes.filter((node) => node.role === 'worker' && node.live && node.state === 'ready');
    if (current !== undefined && ready.some((node) => node.nodeId === current.workerId)) return current;

    const chosen = ready[0];
    if (chosen === undefined) return current;
    const assignment: SingletonAssignment = { workerId: chosen.nodeId, leaderId: managerId, assignedAtMs: Date.now() };
    await store.put(ASSIGNMENTS_COLLECTION, SINGLETON_ASSIGNMENT, assignment);
    this.logger.info({ workerId: chosen.nodeId, previousWorkerId: current?.workerId }, 'assigned singleton work');
    return assignment;
  }
}
