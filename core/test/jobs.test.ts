import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pino from 'pino';
import { JobRunner, type JobDoc } from '../src/jobs/runner.js';
import { SqliteMetadataStore } from '../src/metadata/sqlite/sqlite-store.js';
import { systemClock } from '../src/tokens.js';
import { registerCountingJob } from './fixtures/counting-job.js';

const logger = pino({ level: 'silent' });
const here = path.dirname(fileURLToPath(import.meta.url));

async function openStore(root: string): Promise<SqliteMetadataStore> {
  const store = new SqliteMetadataStore({ path: path.join(root, 'metadata.db') });
  await store.open();
  return store;
}

async function waitForState(runner: JobRunner, jobId: string, states: string[], timeoutMs = 20_000): Promise<JobDoc> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await runner.get(jobId);
    if (job && states.includes(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job?.state} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function logLines(logPath: string): Promise<string[]> {
  return (await readFile(logPath, 'utf8')).split('\n').filter((line) => line.length > 0);
}

test('job runs exactly once across two runners', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-jobs-'));
  const store = await openStore(root);
  const logPath = path.join(root, 'log');
  await writeFile(logPath, '');
  const runners = ['a', 'b'].map((who) => {
    const runner = new JobRunner(store, systemClock, logger, { leaseTtlMs: 5_000, pollIntervalMs: 20 });
    registerCountingJob(runner, logPath, who);
    runner.start();
    return runner;
  });

  const jobs = await Promise.all([0, 1, 2, 3, 4].map(() => runners[0]!.enqueue('counting', { steps: 2 })));
  for (const job of jobs) t.is((await waitForState(runners[1]!, job.jobId, ['completed'])).state, 'completed');

  const lines = await logLines(logPath);
  t.is(lines.length, 10, 'each of the 5 jobs ran its 2 steps once');
  for (const job of jobs) t.is((await runners[0]!.get(job.jobId))?.attempts, 1);
  await Promise.all(runners.map((runner) => runner.stop()));
  await store.close();
  await rm(root, { recursive: true, force: true });
});

test('job resumes after SIGKILL of its worker', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-jobs-'));
  const logPath = path.join(root, 'log');
  await writeFile(logPath, '');
  const store = await openStore(root);
  const observer = new JobRunner(store, systemClock, logger, { leaseTtlMs: 1_000, pollIntervalMs: 50 });
  const job = await observer.enqueue('counting', { steps: 30 });

  const child = spawn(process.execPath, [path.join(here, 'fixtures', 'job-worker.js'), path.join(root, 'metadata.db'), logPath], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (((await observer.get<unknown, { done: number }>(job.jobId))?.progress?.done ?? 0) < 5) {
    if (Date.now() > deadline) throw new Error('the child worker made no progress');
    await sleep(25);
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const doneAtKill = (await observer.get<unknown, { done: number }>(job.jobId))?.progress?.done ?? 0;

  registerCountingJob(observer, logPath, 'parent');
  observer.start();
  const finished = await waitForState(observer, job.jobId, ['completed', 'failed']);
  await observer.stop();

  t.is(finished.state, 'completed');
  // A loaded machine may also let a lease lapse here, which adds attempts but never runs a step twice at once.
  t.true(finished.attempts >= 2, 'one run in the child, then resumed here');
  const lines = await logLines(logPath);
  const parentSteps = lines.filter((line) => line.startsWith('parent ')).map((line) => Number(line.split(' ')[1]));
  t.true(parentSteps.length > 0, 'the parent finished the job');
  t.true(parentSteps[0]! >= doneAtKill, `resumed at step ${parentSteps[0]}, progress was ${doneAtKill}`);
  const steps = new Set(lines.map((line) => Number(line.split(' ')[1])));
  t.is(steps.size, 30, 'every step ran');
  await store.close();
  await rm(root, { recursive: true, force: true });
});

test('cancel of a queued job ends it', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-jobs-'));
  const store = await openStore(root);
  const runner = new JobRunner(store, systemClock, logger, { leaseTtlMs: 2_000, pollIntervalMs: 20 });
  const job = await runner.enqueue('counting', { steps: 2 });
  await runner.cancel(job.jobId);
  t.is((await runner.get(job.jobId))?.state, 'cancelled');
  await store.close();
  await rm(root, { recursive: true, force: true });
});

test('cancel of a running job stops it', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-jobs-'));
  const store = await openStore(root);
  const logPath = path.join(root, 'log');
  await writeFile(logPath, '');
  const runner = new JobRunner(store, systemClock, logger, { leaseTtlMs: 2_000, pollIntervalMs: 20 });
  registerCountingJob(runner, logPath, 'r');
  runner.start();
  const job = await runner.enqueue('counting', { steps: 1000 });
  await waitForState(runner, job.jobId, ['running']);
  await runner.cancel(job.jobId);
  const ended = await waitForState(runner, job.jobId, ['cancelled', 'completed', 'failed']);
  t.is(ended.state, 'cancelled');
  t.true((await logLines(logPath)).length < 1000);
  await runner.stop();
  await store.close();
  await rm(root, { recursive: true, force: true });
});

test('enqueue with a known id returns the existing job', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-jobs-'));
  const store = await openStore(root);
  const runner = new JobRunner(store, systemClock, logger);
  const first = await runner.enqueue('counting', { steps: 1 }, 'fixed-id');
  const second = await runner.enqueue('counting', { steps: 9 }, 'fixed-id');
  t.is(second.jobId, first.jobId);
  t.deepEqual(second.params, { steps: 1 });
  await store.close();
  await rm(root, { recursive: true, force: true });
});
