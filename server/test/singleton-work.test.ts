import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobRunner, SqliteMetadataStore, systemClock, type JobDoc } from '@op-worker/core';
import pino from 'pino';
import type { ClusterView, ClusterWorker } from '../src/cluster-worker.js';
import { runJobsWhenChosen } from '../src/singleton-work.js';

/**
 * The job switch of a managed worker, on a real job runner and SQLite store. The cluster
 * views come from a `ClusterWorker` driven by the test, the part the manager sends over IPC.
 */

const logger = pino({ level: 'silent' });
const NODE_ID = 'manager-a/worker-0';

/** A cluster handle whose views the test sets, as the manager's IPC messages would. */
class ViewSource implements ClusterWorker {
  readonly nodeId = NODE_ID;
  private latest: ClusterView | undefined;
  private readonly listeners = new Set<(view: ClusterView) => void>();

  wrap(): never {
    throw new Error('not used by the job switch');
  }

  attach(): Promise<void> {
    return Promise.resolve();
  }

  view(): ClusterView | undefined {
    return this.latest;
  }

  onView(listener: (view: ClusterView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  runsSingletonWork(): boolean {
    return this.latest?.singletonWorkerId === this.nodeId;
  }

  send(singletonWorkerId: string | undefined): void {
    this.latest = { status: 'healthy', managerId: 'manager-a', leaderId: 'manager-a', workers: { expected: 2, ready: 2 }, singletonWorkerId };
    for (const listener of this.listeners) listener(this.latest);
  }
}

async function openRunner(t: import('ava').ExecutionContext): Promise<JobRunner> {
  const dir = await mkdtemp(path.join(tmpdir(), 'op-singleton-'));
  const store = new SqliteMetadataStore({ path: path.join(dir, 'metadata.db'), logger });
  await store.open();
  const runner = new JobRunner(store, systemClock, logger, { leaseTtlMs: 1000, pollIntervalMs: 20 });
  t.teardown(async () => {
    await runner.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return runner;
}

async function waitForState(runner: JobRunner, jobId: string, state: JobDoc['state']): Promise<JobDoc> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const job = await runner.get(jobId);
    if (job?.state === state) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${job?.state}, expected ${state}, after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('worker alone runs jobs', async (t) => {
  const runner = await openRunner(t);
  runner.register('echo', async () => undefined);
  const work = runJobsWhenChosen(runner, undefined, logger);

  const job = await runner.enqueue('echo', {});
  await waitForState(runner, job.jobId, 'completed');
  t.true(work.running());
});

test('managed worker runs jobs once chosen', async (t) => {
  const runner = await openRunner(t);
  runner.register('echo', async () => undefined);
  const views = new ViewSource();
  const work = runJobsWhenChosen(runner, views, logger);

  views.send('manager-b/worker-0');
  const job = await runner.enqueue('echo', {});
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await runner.get(job.jobId))?.state, 'queued');
  t.false(work.running());

  views.send(NODE_ID);
  await waitForState(runner, job.jobId, 'completed');
  t.true(work.running());
  await work.dispose();
});

test('losing the choice leaves jobs queued', async (t) => {
  const runner = await openRunner(t);
  let started = 0;
  runner.register<unknown, { step: number }>('slow', async ({ signal, saveProgress }) => {
    started += 1;
    await saveProgress({ step: 1 });
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    throw new Error('aborted');
  });
  const views = new ViewSource();
  const work = runJobsWhenChosen(runner, views, logger);

  views.send(NODE_ID);
  const job = await runner.enqueue('slow', {});
  await waitForState(runner, job.jobId, 'running');

  views.send('manager-b/worker-0');
  await work.dispose();
  const left = await waitForState(runner, job.jobId, 'queued');
  t.false(work.running());
  t.deepEqual(left.progress, { step: 1 });
  t.is(left.error, undefined);
  t.is(started, 1);
});
