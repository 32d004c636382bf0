import type { JobRunner } from '@op-worker/core';
import type { Logger } from 'pino';
import type { ClusterWorker } from './cluster-worker.js';

/** The part of the job runner that this switch drives. */
export type SwitchableJobs = Pick<JobRunner, 'start' | 'stop'>;

/** Handle returned by `runJobsWhenChosen`. */
export interface SingletonWork {
  /** True while this process polls for and runs background jobs. */
  running(): boolean;
  /** Stop following cluster views and wait for a start or stop in progress; the caller then stops the runner. */
  dispose(): Promise<void>;
}

/**
 * Run background jobs (transfers, QoS reconciliation, rule jobs) in the worker the
 * cluster's leader chose for singleton work. A worker started without a manager
 * (`cluster` undefined) runs them from the start. A managed worker runs them only while
 * the latest cluster view names it in `singletonWorkerId`, and starts or stops the
 * runner as views change. Stopping leaves running jobs queued with their progress, so
 * the next chosen worker resumes them once their job lease expires. The job leases
 * still keep a job to one runner while the choice moves between workers.
 */
export function runJobsWhenChosen(jobs: SwitchableJobs, cluster: ClusterWorker | undefined, logger: Logger): SingletonWork {
  if (cluster === undefined) {
    jobs.start();
    return { running: () => true, dispose: () => Promise.resolve() };
  }

  const jobSwitch = new JobSwitch(jobs, logger.child({ nodeId: cluster.nodeId }));
  const unsubscribe = cluster.onView(() => jobSwitch.set(cluster.runsSingletonWork()));
  jobSwitch.set(cluster.runsSingletonWork());
  return {
    running: () => jobSwitch.applied,
    dispose: async () => {
      unsubscribe();
      await jobSwitch.settled();
    },
  };
}

/**
 * Applies start and stop requests to a job runner one at a time. A start must not
 * overlap a stop that is still waiting for aborted jobs to end, because the runner
 * keeps an aborted job queued only when it is stopped at the moment the job ends.
 */
class JobSwitch {
  applied = false;
  private requested = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly jobs: SwitchableJobs,
    private readonly logger: Logger,
  ) {}

  set(run: boolean): void {
    if (run === this.requested) return;
    this.requested = run;
    this.chain = this.chain
      .then(() => this.apply())
      .catch((error: unknown) => this.logger.error({ err: error, run }, 'starting or stopping the job runner failed'));
  }

  settled(): Promise<void> {
    return this.chain;
  }

  private async apply(): Promise<void> {
    const run = this.requested;
    if (run === this.applied) return;

    if (run) {
      this.jobs.start();
      this.applied = true;
      this.logger.info('chosen for singleton work; running background jobs');
      return;
    }
    this.logger.info('no longer chosen for singleton work; stopping background jobs, which stay queued');
    await this.jobs.stop();
    this.applied = false;
    this.logger.info('background jobs stopped');
  }
}
