import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../src/config.js';

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
