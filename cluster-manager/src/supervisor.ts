import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ClusterView, ManagerToWorkerMessage, WorkerLoad, WorkerToManagerMessage } from '@op-worker/server';
import { RestartPolicy, type RestartPolicyOptions } from './restart-policy.js';

/**
 * Runs N op-worker processes on this host as `node:cluster` workers that share one
 * listening port, and keeps them alive. A worker that exits, stops sending heartbeats or
 * fails its health checks is killed and restarted with backoff. A crash loop gives the
 * slot up. `rollingRestart` replaces workers one at a time, starting each replacement
 * before draining the worker it replaces. Only one Supervisor may exist per process,
 * because node:cluster's primary settings are process-wide.
 */
export interface SupervisorOptions {
  workerCount: number;
  /** Path of the `op-worker` entry script. */
  workerBin: string;
  /** Arguments of the entry script, e.g. `start --data-dir D --port 8080`. */
  workerArgs: string[];
  /** Extra environment of the workers, on top of this process's environment. */
  workerEnv?: Record<string, string>;
  /** Worker node ids are `<nodeIdPrefix>/worker-<slot>`. */
  nodeIdPrefix: string;
  timings: SupervisorTimings;
  restartPolicy: RestartPolicyOptions;
  logger: Logger;
}

/** All durations in milliseconds. */
export interface SupervisorTimings {
  /** How often a worker sends a heartbeat. */
  heartbeatIntervalMs: number;
  /** A ready worker silent for this long is taken as hung and killed. */
  heartbeatTimeoutMs: number;
  healthCheckIntervalMs: number;
  healthCheckTimeoutMs: number;
  /** Failed health checks in a row before the worker is killed. */
  healthCheckFailures: number;
  /** A worker not ready this long after its start is killed. */
  startTimeoutMs: number;
  /** How long a stopping worker may finish running requests. */
  shutdownDeadlineMs: number;
}

export const DEFAULT_TIMINGS: SupervisorTimings = {
  heartbeatIntervalMs: 500,
  heartbeatTimeoutMs: 5_000,
  healthCheckIntervalMs: 2_000,
  healthCheckTimeoutMs: 2_000,
  healthCheckFailures: 3,
  startTimeoutMs: 30_000,
  shutdownDeadlineMs: 10_000,
};

export type WorkerState = 'starting' | 'ready' | 'draining' | 'backoff' | 'failed' | 'stopped';

export interface WorkerExit {
  code: number | null;
  signal: string | null;
  /** Reason the manager killed it, or how it exited on its own. */
  reason: string;
  atMs: number;
}

/** A worker slot as `status` reports it. Times are milliseconds since the epoch. */
export interface WorkerStatus {
  nodeId: string;
  state: WorkerState;
  pid?: number;
  /** Restarts after failures; replacements by a rolling restart are not counted. */
  restarts: number;
  url?: string;
  /** Private URL of this worker alone, used by health checks. */
  healthUrl?: string;
  load?: WorkerLoad;
  startedAtMs?: number;
  readyAtMs?: number;
  lastHeartbeatAtMs?: number;
  lastExit?: WorkerExit;
}

/** One running worker process. */
interface WorkerProcess {
  worker: Worker;
  pid: number;
  startedAtMs: number;
  readyAtMs?: number;
  lastHeartbeatAtMs?: number;
  load?: WorkerLoad;
  url?: string;
  healthUrl?: string;
  draining: boolean;
  /** Set before the manager stops or kills it on purpose. */
  expectedExit: boolean;
  killReason?: string;
  healthFailures: number;
  exited: Promise<WorkerExit>;
  ready: Promise<void>;
}

interface Slot {
  index: number;
  nodeId: string;
  current?: WorkerProcess;
  /** A replacement being started by a rolling restart. */
  incoming?: WorkerProcess;
  state: WorkerState;
  restarts: number;
  policy: RestartPolicy;
  lastExit?: WorkerExit;
  restartTimer?: NodeJS.Timeout;
}

/** Raised when a worker fails to start; `nodeId` names the slot. */
export class WorkerStartError extends Error {
  override readonly name = 'WorkerStartError';
  constructor(
    readonly nodeId: string,
    message: string,
  ) {
    super(message);
  }
}

export class Supervisor extends EventEmitter<{ change: [] }> {
  private readonly slots: Slot[];
  private stopping = false;
  private rolling: Promise<string[]> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private latestView: ClusterView | undefined;
  private sharedUrl: string | undefined;

  constructor(private readonly options: SupervisorOptions) {
    super();
    if (!Number.isInteger(options.workerCount) || options.workerCount < 1) {
      throw new RangeError(`worker count must be a positive integer, got ${options.workerCount}`);
    }
    this.slots = Array.from({ length: options.workerCount }, (_, index) => ({
      index,
      nodeId: `${options.nodeIdPrefix}/worker-${index}`,
      state: 'stopped' as WorkerState,
      restarts: 0,
      policy: new RestartPolicy(options.restartPolicy),
    }));
  }

  /** URL of the shared listening port, known once a worker is ready. */
  get url(): string | undefined {
    return this.sharedUrl;
  }

  /**
   * Start the workers: the first alone, so that it creates or migrates the metadata
   * schema and the embedded defaults, then the others together. Rejects when one does
   * not become ready.
   */
  async start(): Promise<void> {
    cluster.setupPrimary({ exec: this.options.workerBin, args: this.options.workerArgs, silent: true });
    const [first, ...others] = this.slots;
    if (first !== undefined) await this.launchCurrent(first).ready;
    await Promise.all(others.map((slot) => this.launchCurrent(slot).ready));

    const { heartbeatIntervalMs, healthCheckIntervalMs } = this.options.timings;
    this.timers.push(setInterval(() => this.checkHeartbeats(), heartbeatIntervalMs));
    this.timers.push(setInterval(() => void this.checkHealth(), healthCheckIntervalMs));
  }

  status(): WorkerStatus[] {
    return this.slots.map((slot) => slotStatus(slot));
  }

  /** Send the cluster view to every worker now, and to later ones when they become ready. */
  broadcast(view: ClusterView): void {
    this.latestView = view;
    for (const slot of this.slots) {
      for (const child of [slot.current, slot.incoming]) {
        if (child?.readyAtMs !== undefined && !child.draining) sendTo(child, { type: 'op-cluster:view', view });
      }
    }
  }

  /**
   * Replace every worker, one at a time: start the replacement, wait until it is ready,
   * then drain the old one. Returns the node ids replaced. A second call while one runs
   * joins the running one.
   */
  rollingRestart(): Promise<string[]> {
    this.rolling ??= this.replaceAll().finally(() => (this.rolling = undefined));
    return this.rolling;
  }

  /** Drain every worker within the shutdown deadline, then kill what is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const slot of this.slots) clearTimeout(slot.restartTimer);

    const processes = this.slots.flatMap((slot) => [slot.current, slot.incoming]).filter((child) => child !== undefined);
    await Promise.all(processes.map((child) => this.drain(child)));
    for (const slot of this.slots) slot.state = slot.state === 'failed' ? 'failed' : 'stopped';
    this.options.logger.info('all workers stopped');
  }

  private async replaceAll(): Promise<string[]> {
    const replaced: string[] = [];
    for (const slot of this.slots) {
      const old = slot.current;
      if (this.stopping || old === undefined || old.readyAtMs === undefined) continue;

      const incoming = this.launch(slot, 'replacement');
      slot.incoming = incoming;
      try {
        await incoming.ready;
      } catch (error) {
        slot.incoming = undefined;
        throw error;
      }
      slot.incoming = undefined;
      slot.current = incoming;
      this.options.logger.info({ nodeId: slot.nodeId, oldWorkerPid: old.pid, workerPid: incoming.pid }, 'rolling restart: replacement ready, draining the old worker');
      await this.drain(old);
      replaced.push(slot.nodeId);
      this.emit('change');
    }
    this.options.logger.info({ replaced }, 'rolling restart finished');
    return replaced;
  }

  private launchCurrent(slot: Slot): WorkerProcess {
    const child = this.launch(slot, 'start');
    slot.current = child;
    slot.state = 'starting';
    return child;
  }

  /** Fork one worker child for `slot`; the caller decides whether it is the slot's current one. */
  private launch(slot: Slot, purpose: 'start' | 'restart' | 'replacement'): WorkerProcess {
    const env = { ...this.options.workerEnv, OP_CLUSTER_NODE_ID: slot.nodeId, OP_CLUSTER_HEARTBEAT_MS: String(this.options.timings.heartbeatIntervalMs) };
    const worker = cluster.fork(env);
    const pid = worker.process.pid ?? -1;
    forwardOutput(worker);

    let markReady: () => void = () => undefined;
    let failStart: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    ready.catch(() => undefined);
    const exited = new Promise<WorkerExit>((resolve) => {
      worker.once('exit', (code, signal) => {
        const exit = { code, signal, reason: child.killReason ?? describeExit(code, signal), atMs: Date.now() };
        failStart(new WorkerStartError(slot.nodeId, `worker ${slot.nodeId} (pid ${pid}) exited before it was ready: ${exit.reason}`));
        resolve(exit);
        this.onExit(slot, child, exit);
      });
    });

    const child: WorkerProcess = { worker, pid, startedAtMs: Date.now(), draining: false, expectedExit: false, healthFailures: 0, exited, ready };
    worker.on('message', (message: WorkerToManagerMessage) => this.onMessage(slot, child, message, markReady));
    this.options.logger.info({ nodeId: slot.nodeId, workerPid: pid, purpose }, 'worker starting');
    return child;
  }

  private onMessage(slot: Slot, child: WorkerProcess, message: WorkerToManagerMessage, markReady: () => void): void {
    if (message?.type === 'op-cluster:heartbeat') {
      child.lastHeartbeatAtMs = Date.now();
      child.load = message.load;
    } else if (message?.type === 'op-cluster:ready') {
      child.readyAtMs = Date.now();
      child.lastHeartbeatAtMs = child.readyAtMs;
      child.url = message.url;
      child.healthUrl = message.healthUrl;
      this.sharedUrl ??= message.url;
      if (slot.current === child) slot.state = 'ready';
      if (this.latestView !== undefined) sendTo(child, { type: 'op-cluster:view', view: this.latestView });
      this.options.logger.info({ nodeId: slot.nodeId, workerPid: child.pid, healthUrl: message.healthUrl, startMs: child.readyAtMs - child.startedAtMs }, 'worker ready');
      markReady();
      this.emit('change');
    }
  }

  private onExit(slot: Slot, child: WorkerProcess, exit: WorkerExit): void {
    const { logger } = this.options;
    if (slot.current !== child) {
      // A drained old worker or a replacement that failed to start: the slot does not depend on it.
      logger.info({ nodeId: slot.nodeId, workerPid: child.pid, ...exit }, 'worker exited');
      return;
    }

    slot.current = undefined;
    slot.lastExit = exit;
    if (child.expectedExit || this.stopping) {
      slot.state = 'stopped';
      logger.info({ nodeId: slot.nodeId, workerPid: child.pid, ...exit }, 'worker exited');
      this.emit('change');
      return;
    }

    const readyForMs = child.readyAtMs === undefined ? 0 : exit.atMs - child.readyAtMs;
    const decision = slot.policy.onFailure(exit.atMs, readyForMs);
    if (!decision.restart) {
      slot.state = 'failed';
      logger.error({ nodeId: slot.nodeId, workerPid: child.pid, ...exit, cause: decision.reason }, 'worker failed and will not be restarted; restart the manager after fixing the cause');
      this.emit('change');
      return;
    }

    slot.state = 'backoff';
    logger.warn({ nodeId: slot.nodeId, workerPid: child.pid, ...exit, delayMs: decision.delayMs }, 'worker failed; restarting');
    slot.restartTimer = setTimeout(() => this.restart(slot), decision.delayMs);
    this.emit('change');
  }

  private restart(slot: Slot): void {
    if (this.stopping) return;
    slot.restarts += 1;
    const child = this.launch(slot, 'restart');
    slot.current = child;
    slot.state = 'starting';
    // A failed start ends in onExit, which schedules the next attempt.
    child.ready.catch(() => undefined);
  }

  private checkHeartbeats(): void {
    const now = Date.now();
    const { heartbeatTimeoutMs, startTimeoutMs } = this.options.timings;
    for (const slot of this.slots) {
      for (const child of [slot.current, slot.incoming]) {
        if (child === undefined || child.draining || child.killReason !== undefined) continue;
        if (child.readyAtMs === undefined && now - child.startedAtMs > startTimeoutMs) {
          this.kill(slot, child, `not ready within ${startTimeoutMs} ms of its start`);
        } else if (child.lastHeartbeatAtMs !== undefined && now - child.lastHeartbeatAtMs > heartbeatTimeoutMs) {
          this.kill(slot, child, `hung: no heartbeat for ${now - child.lastHeartbeatAtMs} ms (timeout ${heartbeatTimeoutMs} ms)`);
        }
      }
    }
  }

  private async checkHealth(): Promise<void> {
    const { healthCheckTimeoutMs, healthCheckFailures } = this.options.timings;
    const checks = this.slots.map(async (slot) => {
      const child = slot.current;
      if (child?.healthUrl === undefined || child.draining || child.killReason !== undefined) return;

      const problem = await probeHealth(`${child.healthUrl}/health`, healthCheckTimeoutMs);
      if (problem === undefined) {
        child.healthFailures = 0;
        return;
      }
      child.healthFailures += 1;
      this.options.logger.warn({ nodeId: slot.nodeId, workerPid: child.pid, problem, failures: child.healthFailures }, 'worker health check failed');
      if (child.healthFailures >= healthCheckFailures) this.kill(slot, child, `failed ${child.healthFailures} health checks in a row: ${problem}`);
    });
    await Promise.all(checks);
  }

  private kill(slot: Slot, child: WorkerProcess, reason: string): void {
    child.killReason = reason;
    this.options.logger.warn({ nodeId: slot.nodeId, workerPid: child.pid, reason }, 'killing worker');
    // SIGKILL also ends a stopped (SIGSTOP) child.
    child.worker.process.kill('SIGKILL');
  }

  /** Ask a worker to drain and stop; kill it when it is still there a second after the deadline. */
  private async drain(child: WorkerProcess): Promise<WorkerExit> {
    child.expectedExit = true;
    child.draining = true;
    const { shutdownDeadlineMs } = this.options.timings;
    sendTo(child, { type: 'op-cluster:shutdown', deadlineMs: shutdownDeadlineMs });

    const timer = setTimeout(() => {
      child.killReason = `did not stop within ${shutdownDeadlineMs + 1000} ms of the shutdown request`;
      child.worker.process.kill('SIGKILL');
    }, shutdownDeadlineMs + 1000);
    const exit = await child.exited;
    clearTimeout(timer);
    return exit;
  }
}

function slotStatus(slot: Slot): WorkerStatus {
  const child = slot.current;
  const state: WorkerState = child?.draining ? 'draining' : slot.state;
  return {
    nodeId: slot.nodeId,
    state,
    pid: child?.pid,
    restarts: slot.restarts,
    url: child?.url,
    healthUrl: child?.healthUrl,
    load: child?.load,
    startedAtMs: child?.startedAtMs,
    readyAtMs: child?.readyAtMs,
    lastHeartbeatAtMs: child?.lastHeartbeatAtMs,
    lastExit: slot.lastExit,
  };
}

function sendTo(child: WorkerProcess, message: ManagerToWorkerMessage): void {
  if (child.worker.isConnected()) child.worker.send(message);
}

/**
 * Pass the worker's stderr (its pino log) through, and drop its stdout, which repeats
 * the listening URL and the admin token for people starting a worker by hand.
 */
function forwardOutput(worker: Worker): void {
  worker.process.stderr?.pipe(process.stderr, { end: false });
  worker.process.stdout?.resume();
}

function describeExit(code: number | null, signal: string | null): string {
  return signal === null ? `exited with code ${code}` : `killed by ${signal}`;
}

/** GET a health URL; returns undefined when healthy, else what went wrong. */
async function probeHealth(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok ? undefined : `status ${response.status}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
