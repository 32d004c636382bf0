import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DEFAULT_JOB_RUNNER_OPTIONS } from '@op-worker/core';
import pino from 'pino';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../src/config.js';
import { openCore } from '../src/core.js';

async function withConfigFile(content: string, run: (file: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(path.join(tmpdir(), 'op-config-'));
  const file = path.join(directory, 'worker.json');
  await writeFile(file, content);
  try {
    await run(file);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

test('defaults apply without sources', async (t) => {
  const config = await loadConfig({ env: {}, cwd: '/srv' });
  t.is(config.dataDir, '/srv/op-worker-data');
  t.is(config.host, '127.0.0.1');
  t.is(config.port, 8080);
  t.deepEqual(config.plugins, DEFAULT_CONFIG.plugins);
});

test('flags override env over file', async (t) => {
  await withConfigFile('{"port": 9000, "host": "127.0.0.2", "providerName": "from-file"}', async (file) => {
    const config = await loadConfig({
      file,
      env: { OP_WORKER_PORT: '9100', OP_WORKER_PLUGINS: '@a/one, @b/two' },
      overrides: { port: 0 },
      cwd: '/srv',
    });
    t.is(config.port, 0);
    t.is(config.host, '127.0.0.2');
    t.is(config.providerName, 'from-file');
    t.deepEqual(config.plugins, ['@a/one', '@b/two']);
  });
});

test('env values are validated by name', async (t) => {
  const error = await t.throwsAsync(loadConfig({ env: { OP_WORKER_PORT: 'eighty' } }), { instanceOf: ConfigError });
  t.true(error?.message.includes('OP_WORKER_PORT'));

  const level = await t.throwsAsync(loadConfig({ env: { OP_WORKER_LOG_LEVEL: 'loud' } }), { instanceOf: ConfigError });
  t.true(level?.message.includes('OP_WORKER_LOG_LEVEL'));
});

test('file errors name the option', async (t) => {
  await withConfigFile('{"prot": 80}', async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes('"prot"'));
  });
  await withConfigFile('{"port": 70000}', async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes('"port"'));
  });
  await withConfigFile('not json', async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes('not valid JSON'));
  });
});

test('config file from env variable', async (t) => {
  await withConfigFile('{"providerId": "p1"}', async (file) => {
    const config = await loadConfig({ env: { OP_WORKER_CONFIG: file } });
    t.is(config.providerId, 'p1');
  });
});

test('job timings default to the runner defaults', async (t) => {
  const config = await loadConfig({ env: {} });
  t.is(config.jobLeaseTtlMs, DEFAULT_JOB_RUNNER_OPTIONS.leaseTtlMs);
  t.is(config.jobPollIntervalMs, DEFAULT_JOB_RUNNER_OPTIONS.pollIntervalMs);
});

test('job timings from file, env and flags', async (t) => {
  await withConfigFile('{"jobLeaseTtlMs": 20000, "jobPollIntervalMs": 500}', async (file) => {
    const fromFile = await loadConfig({ file, env: {} });
    t.is(fromFile.jobLeaseTtlMs, 20_000);
    t.is(fromFile.jobPollIntervalMs, 500);

    const fromEnv = await loadConfig({ file, env: { OP_WORKER_JOB_LEASE_TTL_MS: '4000', OP_WORKER_JOB_POLL_INTERVAL_MS: '250' } });
    t.is(fromEnv.jobLeaseTtlMs, 4000);
    t.is(fromEnv.jobPollIntervalMs, 250);

    const fromFlags = await loadConfig({ file, env: { OP_WORKER_JOB_LEASE_TTL_MS: '4000' }, overrides: { jobLeaseTtlMs: '3000', jobPollIntervalMs: '100' } });
    t.is(fromFlags.jobLeaseTtlMs, 3000);
    t.is(fromFlags.jobPollIntervalMs, 100);
  });
});

test('invalid job timings name the option', async (t) => {
  const cases: Array<{ env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown>; file?: string; names: string }> = [
    { env: { OP_WORKER_JOB_LEASE_TTL_MS: '0' }, names: 'OP_WORKER_JOB_LEASE_TTL_MS' },
    { env: { OP_WORKER_JOB_LEASE_TTL_MS: 'soon' }, names: 'OP_WORKER_JOB_LEASE_TTL_MS' },
    { env: { OP_WORKER_JOB_POLL_INTERVAL_MS: '-5' }, names: 'OP_WORKER_JOB_POLL_INTERVAL_MS' },
    { env: { OP_WORKER_JOB_POLL_INTERVAL_MS: '99999999999' }, names: 'OP_WORKER_JOB_POLL_INTERVAL_MS' },
    { overrides: { jobLeaseTtlMs: '2.5' }, names: '--job-lease-ttl-ms' },
    { overrides: { jobPollIntervalMs: '0' }, names: '--job-poll-interval-ms' },
    { file: '{"jobLeaseTtlMs": 999}', names: '"jobLeaseTtlMs"' },
  ];
  for (const { env = {}, overrides, file, names } of cases) {
    const load = (configFile?: string) => loadConfig({ env, overrides, file: configFile });
    if (file === undefined) {
      const error = await t.throwsAsync(load(), { instanceOf: ConfigError });
      t.true(error?.message.includes(names), `${error?.message} names ${names}`);
      continue;
    }
    await withConfigFile(file, async (configFile) => {
      const error = await t.throwsAsync(load(configFile), { instanceOf: ConfigError });
      t.true(error?.message.includes(names), `${error?.message} names ${names}`);
    });
  }
});

test('job lease ttl reaches the job runner', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'op-config-jobs-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const config = await loadConfig({ env: { OP_WORKER_JOB_LEASE_TTL_MS: '2000', OP_WORKER_JOB_POLL_INTERVAL_MS: '20' }, overrides: { dataDir } });
  const core = await openCore(config, pino({ level: 'silent' }));
  t.teardown(() => core.close());

  // The probe job runs until the test releases it, so its lease stays held meanwhile.
  let release: () => void = () => undefined;
  const released = new Promise<void>((done) => (release = done));
  const started = new Promise<void>((resolve) => {
    core.jobs.register('config-probe', async () => {
      resolve();
      await released;
    });
  });
  // The runner's poll timer is unref'd, so this timer keeps the test process alive meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  core.jobs.start();
  const job = await core.jobs.enqueue('config-probe', {});
  await started;

  const lease = await core.store.getLease(`job:${job.jobId}`);
  t.truthy(lease, 'the running job holds a lease');
  const remainingMs = (lease?.expiresAtMs ?? 0) - Date.now();
  t.true(remainingMs > 0 && remainingMs <= 2000, `the lease expires ${remainingMs} ms from now, within the configured 2000 ms`);
  release();
});
