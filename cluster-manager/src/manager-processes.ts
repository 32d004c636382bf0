import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { DEFAULT_RESTART_POLICY, RestartPolicy, type RestartPolicyOptions } from './restart-policy.js';

/**
 * Runs several managers of one environment description as child processes
 * (`op-cluster-manager up <file> --only <id> --no-setup`), the way `up` runs a
 * description with more than one manager. Each child's stdout is printed prefixed with
 * `[<id>] `. A child that exits without a stop request is logged at once and started
 * again with the backoff and crash-loop limit that the supervisor uses for workers.
 * After a crash loop its slot is given up. SIGTERM and SIGINT are passed on to every
 * child, and `run` resolves once all have exited or been given up.
 */
export interface ManagerProcessesOptions {
  file: string;
  dataDir: string;
  managerIds: string[];
  /** Further arguments of each child, e.g. `--free-ports`. */
  args: string[];
  restartPolicy?: RestartPolicyOptions;
  logger: Logger;
}

interface ManagerSlot {
  managerId: string;
  child?: ChildProcess;
  startedAtMs: number;
  /** Time the child printed its status URL, which it does once started. */
  readyAtMs?: number;
  restarts: number;
  policy: RestartPolicy;
  restartTimer?: NodeJS.Timeout;
  /** Set once the slot is done: stopped on request, or failed (a crash loop, or a non-zero exit on stop). */
  outcome?: 'stopped' | 'failed';
}

const BIN = fileURLToPath(new URL('../../bin/op-cluster-manager.js', import.meta.url));

export class ManagerProcesses {
  private readonly slots: ManagerSlot[];
  private stopping = false;
  private finish: () => void = () => undefined;
  private readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly options: ManagerProcessesOptions) {
    const policy = options.restartPolicy ?? DEFAULT_RESTART_POLICY;
    this.slots = options.managerIds.map((managerId) => ({ managerId, startedAtMs: 0, restarts: 0, policy: new RestartPolicy(policy) }));
  }

  /** Start every manager, pass SIGTERM and SIGINT on, and return when all are gone: `failed` when one was given up. */
  async run(): Promise<'stopped' | 'failed'> {
    for (const slot of this.slots) this.launch(slot);

    const stop = (signal: NodeJS.Signals): void => this.stop(signal);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    try {
      await this.finished;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }

    const failed = this.slots.some((slot) => slot.outcome === 'failed');
    this.options.logger.info({ managers: this.slots.map((slot) => ({ managerId: slot.managerId, outcome: slot.outcome, restarts: slot.restarts })) }, 'manager processes exited');
    return failed ? 'failed' : 'stopped';
  }

  /** Stop restarting and pass `signal` to every running child. */
  stop(signal: NodeJS.Signals): void {
    this.stopping = true;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      if (slot.child === undefined) slot.outcome ??= 'stopped';
      else slot.child.kill(signal);
    }
    this.checkFinished();
  }

  private launch(slot: ManagerSlot): void {
    const { file, dataDir, args, logger } = this.options;
    const child = spawn(process.execPath, [BIN, 'up', file, '--data-dir', dataDir, '--only', slot.managerId, '--no-setup', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    slot.child = child;
    slot.startedAtMs = Date.now();
    slot.readyAtMs = undefined;

    child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        if (line.startsWith('status on ')) slot.readyAtMs ??= Date.now();
        process.stdout.write(`[${slot.managerId}] ${line}\n`);
      }
    });
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
    logger.info({ managerId: slot.managerId, managerPid: child.pid, restarts: slot.restarts }, 'manager process started');
  }

  private onExit(slot: ManagerSlot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const { logger } = this.options;
    slot.child = undefined;
    const exit = { managerId: slot.managerId, managerPid: child.pid, code, signal };

    if (this.stopping) {
      slot.outcome = code === 0 ? 'stopped' : 'failed';
      logger.info(exit, 'manager process exited');
      this.checkFinished();
      return;
    }

    const now = Date.now();
    const decision = slot.policy.onFailure(now, slot.readyAtMs === undefined ? 0 : now - slot.readyAtMs);
    if (!decision.restart) {
      slot.outcome = 'failed';
      logger.error({ ...exit, cause: decision.reason }, 'manager process failed and will not be restarted; run "up --only" for it after fixing the cause');
      this.checkFinished();
      return;
    }

    logger.warn({ ...exit, delayMs: decision.delayMs }, 'manager process exited unexpectedly; restarting');
    slot.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      slot.restarts += 1;
      this.launch(slot);
    }, decision.delayMs);
  }

  /** Resolve `run` when no child runs and none waits for a restart. */
  private checkFinished(): void {
    if (this.slots.every((slot) => slot.outcome !== undefined && slot.child === undefined)) this.finish();
  }
}
