import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Clock } from '../tokens.js';

/** Collection of job documents and the children-index partition of queued jobs. */
export const JOB_COLLECTION = 'job';
const QUEUE_PARENT = 'jobs_queue';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A background job, persisted so that any worker can run or resume it. */
export interface JobDoc<P = unknown, R = unknown> {
  jobId: string;
  /** Name of the registered handler that runs it. */
  kind: string;
  state: JobState;
  params: P;
  /** Progress the handler recorded so far; a resumed run starts from it. */
  progress?: R;
  cancelRequested: boolean;
  /** How many times a worker started it; above 1 after a resume. */
  attempts: number;
  error?: string;
  /** Milliseconds since the epoch. */
  createdMs: number;
  finishedMs?: number;
}

/** Arguments of a handler for one run of a job. */
export interface JobContext<P, R> {
  job: JobDoc<P, R>;
  /** Aborted when a cancel is requested or this worker lost the lease. */
  signal: AbortSignal;
  /** Persist progress; a resumed run reads it from `job.progress`. */
  saveProgress(progress: R): Promise<void>;
  logger: Logger;
}

/**
 * Runs one kind of job. Throwing fails the job; a handler whose `signal` is aborted
 * should stop soon, and the job then ends `cancelled` (or stays queued when the lease
 * was lost, for another worker to resume).
 */
export type JobHandler<P = unknown, R = unknown> = (context: JobContext<P, R>) => Promise<void>;

export interface JobRunnerOptions {
  /** How long a worker owns a job without renewing; a crashed worker's jobs resume after it. Milliseconds. */
  leaseTtlMs: number;
  /** How often idle workers look for queued jobs. Milliseconds. */
  pollIntervalMs: number;
  /** Jobs run at the same time by one worker. */
  concurrency: number;
}

export const DEFAULT_JOB_RUNNER_OPTIONS: JobRunnerOptions = { leaseTtlMs: 15_000, pollIntervalMs: 1_000, concurrency: 2 };

/** Called on each poll, for periodic work such as re-evaluating QoS requirements. */
export type TimerListener = () => Promise<void>;

/**
 * Persistent jobs run exactly once across workers. A job is a document plus an entry in
 * the queue index; a worker runs it only while it holds the lease `job:<id>`, renewing it
 * at a third of its time to live. A worker that dies leaves the job queued with its
 * progress, and the next worker to take the expired lease resumes it.
 */
export class JobRunner {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly handlers = new Map<string, JobHandler<any, any>>();
  private readonly running = new Map<string, AbortController>();
  private readonly timers: TimerListener[] = [];
  private readonly options: JobRunnerOptions;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly store: MetadataStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: Partial<JobRunnerOptions> = {},
  ) {
    this.options = { ...DEFAULT_JOB_RUNNER_OPTIONS, ...options };
  }

  register<P, R>(kind: string, handler: JobHandler<P, R>): void {
    this.handlers.set(kind, handler as JobHandler<any, any>);
  }

  onTimer(listener: TimerListener): void {
    this.timers.push(listener);
  }

  /** Persist a new job and queue it. With `jobId` given, an existing job of that id is returned instead. */
  async enqueue<P>(kind: string, params: P, jobId?: string): Promise<JobDoc<P>> {
    const id = jobId ?? newJobId(this.clock.now());
    const doc: JobDoc<P> = { jobId: id, kind, state: 'queued', params, cancelRequested: false, attempts: 0, createdMs: this.clock.now() };
    try {
      await this.store.create(JOB_COLLECTION, id, doc);
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
      return (await this.get<P>(id)) ?? doc;
    }
    await this.store.addChild(QUEUE_PARENT, id, id);
    this.kick();
    return doc;
  }

  async get<P = unknown, R = unknown>(jobId: string): Promise<JobDoc<P, R> | undefined> {
    return (await this.store.get<JobDoc<P, R>>(JOB_COLLECTION, jobId))?.value;
  }

  /** Request a cancel. A queued job ends at once; a running one when its handler stops. */
  async cancel(jobId: string): Promise<void> {
    const updated = await updateDocument<JobDoc>(this.store, JOB_COLLECTION, jobId, (job) => {
      if (job.state === 'queued' || job.state === 'running') job.cancelRequested = true;
    });
    this.running.get(jobId)?.abort();
    if (updated.value.state === 'queued' && !(await this.store.getLease(leaseName(jobId)))) {
      await this.finish(jobId, 'cancelled');
    }
  }

  /** Start polling for queued jobs. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedulePoll(0);
  }

  /** Stop polling and abort the running jobs; they stay queued with their progress and their leases are released. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    for (const controller of this.running.values()) controller.abort();
    await this.polling;
    while (this.running.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /** Look for work now instead of at the next poll. */
  kick(): void {
    if (!this.stopped && !this.polling) this.schedulePoll(0);
  }

  private schedulePoll(delayMs: number): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.polling = this.poll()
        .catch((error: unknown) => this.logger.error({ err: error }, 'job poll failed'))
        .finally(() => {
          this.polling = undefined;
          if (!this.stopped) this.schedulePoll(this.options.pollIntervalMs);
        });
    }, delayMs);
    this.pollTimer.unref();
  }

  private async poll(): Promise<void> {
    for (const listener of this.timers) {
      await listener().catch((error: unknown) => this.logger.warn({ err: error }, 'periodic job listener failed'));
    }

    let startAfter: string | undefined;
    while (!this.stopped && this.running.size < this.options.concurrency) {
      const page = await this.store.listChildren(QUEUE_PARENT, { startAfter, limit: 50 });
      if (page.length === 0) return;
      for (const entry of page) {
        if (this.stopped || this.running.size >= this.options.concurrency) return;
        if (!this.running.has(entry.childId)) await this.tryStart(entry.childId);
      }
      startAfter = page[page.length - 1]?.name;
    }
  }

  private async tryStart(jobId: string): Promise<void> {
    const lease = await this.store.acquireLease(leaseName(jobId), this.workerId, this.options.leaseTtlMs);
    if (!lease) return;

    const job = await this.get(jobId);
    if (!job || isEnded(job.state)) {
      await this.store.removeChild(QUEUE_PARENT, jobId);
      await this.store.releaseLease(leaseName(jobId), this.workerId);
      return;
    }
    const handler = this.handlers.get(job.kind);
    if (!handler) {
      // Another worker of a different version may know this kind.
      await this.store.releaseLease(leaseName(jobId), this.workerId);
      return;
    }

    const controller = new AbortController();
    this.running.set(jobId, controller);
    void this.run(job, handler, controller).finally(() => {
      this.running.delete(jobId);
      this.kick();
    });
  }

  private async run(job: JobDoc, handler: JobHandler, controller: AbortController): Promise<void> {
    const log = this.logger.child({ jobId: job.jobId, kind: job.kind });
    const renewal = setInterval(() => void this.renew(job.jobId, controller, log), Math.max(10, this.options.leaseTtlMs / 3));
    renewal.unref();
    try {
      const started = await updateDocument<JobDoc>(this.store, JOB_COLLECTION, job.jobId, (value) => {
        value.state = 'running';
        value.attempts += 1;
      });
      if (started.value.cancelRequested) controller.abort();
      log.info({ attempt: started.value.attempts }, 'job started');

      await handler({
        job: started.value,
        signal: controller.signal,
        logger: log,
        saveProgress: async (progress) => {
          await updateDocument<JobDoc>(this.store, JOB_COLLECTION, job.jobId, (value) => {
            value.progress = progress;
          });
        },
      });
      await this.afterRun(job.jobId, undefined, log);
    } catch (error) {
      await this.afterRun(job.jobId, error, log);
    } finally {
      clearInterval(renewal);
      await this.store.releaseLease(leaseName(job.jobId), this.workerId).catch(() => undefined);
    }
  }

  /** Decide how a run ended: completed, cancelled, failed, or left queued for a resume after a stop or a lost lease. */
  private async afterRun(jobId: string, error: unknown, log: Logger): Promise<void> {
    const job = await this.get(jobId);
    if (!job) return;
    if (job.cancelRequested) {
      await this.finish(jobId, 'cancelled');
      log.info('job cancelled');
      return;
    }
    if (this.stopped || !(await this.holdsLease(jobId))) {
      await updateDocument<JobDoc>(this.store, JOB_COLLECTION, jobId, (value) => {
        value.state = 'queued';
      });
      log.info('job left for a resume');
      return;
    }
    if (error === undefined) {
      await this.finish(jobId, 'completed');
      log.info('job completed');
      return;
    }
    log.warn({ err: error }, 'job failed');
    await this.finish(jobId, 'failed', error instanceof Error ? error.message : String(error));
  }

  // TODO: ended job documents are kept for inspection and never purged.
  private async finish(jobId: string, state: JobState, error?: string): Promise<void> {
    const now = this.clock.now();
    await updateDocument<JobDoc>(this.store, JOB_COLLECTION, jobId, (value) => {
      value.state = state;
      value.finishedMs = now;
      if (error !== undefined) value.error = error;
    });
    await this.store.removeChild(QUEUE_PARENT, jobId);
  }

  private async holdsLease(jobId: string): Promise<boolean> {
    const lease = await this.store.getLease(leaseName(jobId));
    return lease?.holder === this.workerId;
  }

  private async renew(jobId: string, controller: AbortController, log: Logger): Promise<void> {
    try {
      const lease = await this.store.renewLease(leaseName(jobId), this.workerId, this.options.leaseTtlMs);
      if (!lease) {
        log.warn('job lease lost; stopping this run');
        controller.abort();
        return;
      }
      const job = await this.get(jobId);
      if (job?.cancelRequested) controller.abort();
    } catch (error) {
      log.warn({ err: error }, 'job lease renewal failed');
    }
  }
}

function leaseName(jobId: string): string {
  return `job:${jobId}`;
}

function isEnded(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

/** Job ids sort by creation time, so the queue index runs jobs in roughly the order they came. */
export function newJobId(nowMs: number): string {
  return `${nowMs.toString(16).padStart(12, '0')}${randomBytes(8).toString('hex')}`;
}
