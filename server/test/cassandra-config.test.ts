import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CassandraStoreConfig as PluginStoreConfig } from '@op-worker/metadata-cassandra';
import test from 'ava';
import pino from 'pino';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../src/config.js';
import { createMetadataStore } from '../src/core.js';
import { redactStoreConfig, type CassandraStoreConfig } from '../src/store-config.js';
import { BIN } from './support/worker-process.js';

// The worker passes its Cassandra options other than `type` and `tls` to the plugin
// unchanged. This line stops compiling when the two option types drift apart.
const _compatible: Omit<PluginStoreConfig, 'tls'> = {} as Omit<CassandraStoreConfig, 'type' | 'tls'>;
void _compatible;

async function withConfigFile(content: unknown, run: (file: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(path.join(tmpdir(), 'op-store-config-'));
  const file = path.join(directory, 'worker.json');
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  try {
    await run(file);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

const CASSANDRA_FILE = {
  metadataStore: { type: 'cassandra', contactPoints: ['10.0.0.5:9042', '10.0.0.6'], keyspace: 'op_worker', localDataCenter: 'dc1' },
};

test('store defaults to sqlite', async (t) => {
  const config = await loadConfig({ env: {} });
  t.deepEqual(config.metadataStore, { type: 'sqlite' });
});

test('store from file', async (t) => {
  await withConfigFile(CASSANDRA_FILE, async (file) => {
    const config = await loadConfig({ file, env: {} });
    t.deepEqual(config.metadataStore, CASSANDRA_FILE.metadataStore);
  });
});

test('store from environment', async (t) => {
  const config = await loadConfig({
    env: {
      OP_WORKER_METADATA_STORE: 'cassandra',
      OP_WORKER_CASSANDRA_CONTACT_POINTS: '127.0.0.1:9042, 127.0.0.2',
      OP_WORKER_CASSANDRA_KEYSPACE: 'ops',
      OP_WORKER_CASSANDRA_USERNAME: 'worker',
      OP_WORKER_CASSANDRA_PASSWORD: 's3cret',
      OP_WORKER_CASSANDRA_PORT: '9142',
      OP_WORKER_CASSANDRA_REQUEST_TIMEOUT_MS: '4000',
      OP_WORKER_CASSANDRA_CONSISTENCY: 'QUORUM',
    },
  });
  t.deepEqual(config.metadataStore, {
    type: 'cassandra',
    contactPoints: ['127.0.0.1:9042', '127.0.0.2'],
    keyspace: 'ops',
    username: 'worker',
    password: 's3cret',
    port: 9142,
    requestTimeoutMs: 4000,
    consistency: 'QUORUM',
  });
  t.is(redactStoreConfig(config.metadataStore)['password'], '***');
  t.false(JSON.stringify(redactStoreConfig(config.metadataStore)).includes('s3cret'));
});

test('env fields merge into file store', async (t) => {
  await withConfigFile(CASSANDRA_FILE, async (file) => {
    const config = await loadConfig({ file, env: { OP_WORKER_CASSANDRA_KEYSPACE: 'from_env' } });
    t.deepEqual(config.metadataStore, { ...CASSANDRA_FILE.metadataStore, keyspace: 'from_env' });
  });
});

test('env type replaces file store', async (t) => {
  await withConfigFile(CASSANDRA_FILE, async (file) => {
    const config = await loadConfig({ file, env: { OP_WORKER_METADATA_STORE: 'sqlite' } });
    t.deepEqual(config.metadataStore, { type: 'sqlite' });
  });
});

test('invalid store options name their source', async (t) => {
  const cases: Array<{ env: Record<string, string>; expected: string[] }> = [
    { env: { OP_WORKER_METADATA_STORE: 'mongodb' }, expected: ['OP_WORKER_METADATA_STORE', '"mongodb"', 'sqlite, cassandra'] },
    { env: { OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_KEYSPACE: 'ks' }, expected: ['OP_WORKER_CASSANDRA_CONTACT_POINTS'] },
    { env: { OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_CONTACT_POINTS: 'h' }, expected: ['OP_WORKER_CASSANDRA_KEYSPACE'] },
    {
      env: { OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_CONTACT_POINTS: 'h', OP_WORKER_CASSANDRA_KEYSPACE: 'bad-name' },
      expected: ['OP_WORKER_CASSANDRA_KEYSPACE', 'must match pattern'],
    },
    {
      env: { OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_CONTACT_POINTS: 'h', OP_WORKER_CASSANDRA_KEYSPACE: 'ks', OP_WORKER_CASSANDRA_PORT: 'ninety' },
      expected: ['OP_WORKER_CASSANDRA_PORT', 'must be integer'],
    },
    {
      env: { OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_CONTACT_POINTS: 'h', OP_WORKER_CASSANDRA_KEYSPACE: 'ks', OP_WORKER_CASSANDRA_PASSWORD: 'p' },
      expected: ['username and password must be set together'],
    },
    { env: { OP_WORKER_CASSANDRA_KEYSPACE: 'ks' }, expected: ['OP_WORKER_CASSANDRA_KEYSPACE', 'metadata store is "sqlite"', 'OP_WORKER_METADATA_STORE=cassandra'] },
  ];

  for (const { env, expected } of cases) {
    const error = await t.throwsAsync(loadConfig({ env }), { instanceOf: ConfigError }, JSON.stringify(env));
    for (const part of expected) t.true(error?.message.includes(part), `${JSON.stringify(env)}: "${part}" missing from: ${error?.message}`);
  }
});

test('invalid file store options name the key', async (t) => {
  await withConfigFile({ metadataStore: { ...CASSANDRA_FILE.metadataStore, replicas: 3 } }, async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes(`"metadataStore.replicas" in configuration file ${file}`), error?.message);
    t.true(error?.message.includes('known options'), error?.message);
  });
  await withConfigFile({ metadataStore: { ...CASSANDRA_FILE.metadataStore, replication: { class: 'SimpleStrategy', replicationFactor: 0 } } }, async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes('"metadataStore.replication"'), error?.message);
    t.true(error?.message.includes('replicationFactor'), error?.message);
  });
  await withConfigFile({ metadataStore: { contactPoints: ['h'] } }, async (file) => {
    const error = await t.throwsAsync(loadConfig({ file, env: {} }), { instanceOf: ConfigError });
    t.true(error?.message.includes('no "type"'), error?.message);
  });
});

test('cassandra store created by name', async (t) => {
  const metadataStore: CassandraStoreConfig = { type: 'cassandra', contactPoints: ['127.0.0.1:1'], keyspace: 'unused' };
  const store = await createMetadataStore({ ...DEFAULT_CONFIG, metadataStore }, pino({ level: 'silent' }));
  t.is(store.constructor.name, 'CassandraMetadataStore');
  t.is(JSON.parse(JSON.stringify(store)).keyspace, 'unused');
});

/**
 * Runs the binary with a module hook that rejects resolving the Cassandra packages, so a
 * command succeeds only when it never imports them.
 */
function runWithoutCassandra(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier === 'cassandra-driver' || specifier === '@op-worker/metadata-cassandra') throw new Error('import of ' + specifier + ' blocked by the test');
    return next(specifier, context);
  }`;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args], {
      env: { ...process.env, OP_WORKER_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('sqlite worker never imports cassandra', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-store-lazy-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));

  const sqlite = await runWithoutCassandra(['user', 'list', '--data-dir', path.join(root, 'data')], {});
  t.is(sqlite.code, 0, sqlite.stderr);

  // The same hook makes the Cassandra selection fail, which shows that the hook works.
  const cassandra = await runWithoutCassandra(['user', 'list', '--data-dir', path.join(root, 'data')], {
    OP_WORKER_METADATA_STORE: 'cassandra',
    OP_WORKER_CASSANDRA_CONTACT_POINTS: '127.0.0.1:1',
    OP_WORKER_CASSANDRA_KEYSPACE: 'unused',
  });
  t.is(cassandra.code, 1);
  t.true(cassandra.stderr.includes('cannot load @op-worker/metadata-cassandra'), cassandra.stderr);
  t.true(cassandra.stderr.includes('blocked by the test'), cassandra.stderr);
});

test('unreachable cassandra fails start clearly', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-store-down-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));

  // Port 1 on loopback refuses connections, so the driver fails at once.
  const child = spawn(process.execPath, [BIN, 'user', 'list', '--data-dir', path.join(root, 'data')], {
    env: { ...process.env, OP_WORKER_METADATA_STORE: 'cassandra', OP_WORKER_CASSANDRA_CONTACT_POINTS: '127.0.0.1:1', OP_WORKER_CASSANDRA_KEYSPACE: 'unused' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 1);
  t.true(stderr.includes('127.0.0.1:1'), stderr);
  t.true(stderr.includes('(unavailable)'), stderr);
});
