import path from 'node:path';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import pino, { type Logger } from 'pino';
import { ClusterManager, DEFAULT_LEASE_TTL_MS } from './manager.js';
import { NODES_COLLECTION, type NodeRecord } from './membership.js';
import { DEFAULT_TIMINGS } from './supervisor.js';
import { runEnvironment } from './environment.js';
import { runManager } from './run-manager.js';
import { createClusterStore } from './store.js';

/**
 * The `op-cluster-manager` command line. `start` runs a manager in the foreground.
 * `status` and `rolling-restart` send requests to the status endpoints of running
 * managers, found with `--url` or in the membership records of the store that
 * `--data-dir` and `--worker-config` select, the same store the managers use.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

interface StartOptions {
  dataDir: string;
  port: number;
  host: string;
  workers: number;
  nodeId?: string;
  statusPort: number;
  workerConfig?: string;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  healthInterval: number;
  shutdownDeadline: number;
  leaseTtl: number;
  logLevel: string;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv as string[]);
  } catch (error) {
    process.exitCode = 1;
    process.stderr.write(`op-cluster-manager: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function buildProgram(): Command {
  const program = new Command('op-cluster-manager')
    .description('Run and supervise op-worker processes; coordinate managers through the metadata store')
    .showHelpAfterError();

  program
    .command('start')
    .description('start workers sharing one port, restart them when they fail, and join the cluster')
    .requiredOption('--data-dir <dir>', 'data folder of the workers; with the SQLite store, its metadata.db also holds cluster membership')
    .option('--port <n>', 'port the workers share; 0 picks a free one', parsePort, 8080)
    .option('--host <address>', 'address of the workers and the status endpoint', '127.0.0.1')
    .option('--workers <n>', 'number of worker processes', parsePositiveInteger, 2)
    .option('--node-id <id>', 'node id of this manager, unique in the cluster (default <hostname>-<pid>)')
    .option('--status-port <n>', 'port of the status endpoint; 0 picks a free one', parsePort, 0)
    .option('--worker-config <file>', 'configuration file passed to each op-worker; its "metadataStore" also holds cluster membership')
    .option('--heartbeat-interval <ms>', 'time between worker heartbeats', parsePositiveInteger, DEFAULT_TIMINGS.heartbeatIntervalMs)
    .option('--heartbeat-timeout <ms>', 'a worker without heartbeat this long is killed and restarted', parsePositiveInteger, DEFAULT_TIMINGS.heartbeatTimeoutMs)
    .option('--health-interval <ms>', 'time between HTTP health checks of each worker', parsePositiveInteger, DEFAULT_TIMINGS.healthCheckIntervalMs)
    .option('--shutdown-deadline <ms>', 'how long stopping workers may finish running requests', parsePositiveInteger, DEFAULT_TIMINGS.shutdownDeadlineMs)
    .option('--lease-ttl <ms>', 'lifetime of the leader lease and membership records', parsePositiveInteger, DEFAULT_LEASE_TTL_MS)
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, parseLogLevel, 'info')
    .action((options: StartOptions) => startCommand(options));

  program
    .command('status')
    .description('print the cluster status as JSON')
    .option('--url <url>', 'status endpoint of a manager, e.g. http://127.0.0.1:9090')
    .option('--data-dir <dir>', 'find the managers in the membership records of the store of this data folder')
    .option('--worker-config <file>', 'worker configuration file whose "metadataStore" holds the membership records, e.g. Cassandra')
    .action(async (options: LookupOptions) => {
      const body = await requestManager(options, 'GET', '/status');
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    });

  program
    .command('rolling-restart')
    .description('replace the workers one at a time without failing requests; with --data-dir, on every live manager in turn')
    .option('--url <url>', 'status endpoint of one manager')
    .option('--data-dir <dir>', 'restart the workers of every live manager found in the store of this data folder')
    .option('--worker-config <file>', 'worker configuration file whose "metadataStore" holds the membership records')
    .action(rollingRestartCommand);

  program
    .command('up <file>')
    .description('bring up a provider from a JSON environment description (see examples/single-provider.json)')
    .option('--data-dir <dir>', 'data folder; overrides "dataDir" of the description')
    .option('--only <managerId>', 'run only this manager of the description, e.g. on its own host')
    .option('--no-setup', 'skip creating the users, storages, spaces and tokens of the description')
    .option('--free-ports', 'listen on free ports instead of the ports of the description', false)
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, parseLogLevel, 'info')
    .action((file: string, options: { dataDir?: string; only?: string; setup: boolean; freePorts: boolean; logLevel: string }) =>
      runEnvironment({ file, ...options, logger: createLogger(options.logLevel) }),
    );

  return program;
}

async function startCommand(options: StartOptions): Promise<void> {
  const managerId = options.nodeId ?? `${hostname()}-${process.pid}`;
  const logger = createLogger(options.logLevel);
  const manager = new ClusterManager({
    managerId,
    dataDir: path.resolve(options.dataDir),
    host: options.host,
    port: options.port,
    workerCount: options.workers,
    statusPort: options.statusPort,
    workerConfigFile: options.workerConfig === undefined ? undefined : path.resolve(options.workerConfig),
    timings: {
      heartbeatIntervalMs: options.heartbeatInterval,
      heartbeatTimeoutMs: options.heartbeatTimeout,
      healthCheckIntervalMs: options.healthInterval,
      shutdownDeadlineMs: options.shutdownDeadline,
    },
    leaseTtlMs: options.leaseTtl,
    logger,
  });
  await runManager(manager, logger);
}

async function rollingRestartCommand(options: LookupOptions): Promise<void> {
  if (options.url !== undefined) {
    process.stdout.write(`${JSON.stringify(await requestManager(options, 'POST', '/rolling-restart'), null, 2)}\n`);
    return;
  }
  const managers = await liveManagers(options);
  const results: Record<string, unknown> = {};
  for (const manager of managers) {
    results[manager.nodeId] = await requestJson(`${manager.statusUrl}/rolling-restart`, 'POST');
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

/** Options that find the running managers: a status URL, or the store of their membership records. */
interface LookupOptions {
  url?: string;
  dataDir?: string;
  workerConfig?: string;
}

/** Send a request to the manager at `--url`, or to the first live manager recorded in the cluster's store. */
async function requestManager(options: LookupOptions, method: string, route: string): Promise<unknown> {
  if (options.url !== undefined) return requestJson(`${options.url.replace(/\/+$/, '')}${route}`, method);
  const managers = await liveManagers(options);
  const first = managers[0];
  if (first === undefined) throw new Error(`no live manager is recorded in the metadata store of ${describeLookup(options)}; start one with "op-cluster-manager start"`);
  return requestJson(`${first.statusUrl}${route}`, method);
}

/** Read the live managers from the store the workers' configuration selects, as the managers do. */
async function liveManagers(options: LookupOptions): Promise<Array<NodeRecord & { statusUrl: string }>> {
  const dataDir = requireLookup(options);
  const store = await createClusterStore({
    dataDir: dataDir === undefined ? undefined : path.resolve(dataDir),
    workerConfigFile: options.workerConfig === undefined ? undefined : path.resolve(options.workerConfig),
    env: process.env,
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  await store.open();
  try {
    const page = await store.scan<NodeRecord>(NODES_COLLECTION, { limit: 1000 });
    const now = Date.now();
    return page.documents
      .map((document) => document.value)
      .filter((node): node is NodeRecord & { statusUrl: string } => node.role === 'manager' && node.expiresAtMs > now && node.statusUrl !== undefined);
  } finally {
    await store.close();
  }
}

async function requestJson(url: string, method: string): Promise<unknown> {
  const response = await fetch(url, { method });
  const body = (await response.json()) as unknown;
  if (!response.ok) throw new Error(`${method} ${url} failed with status ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

function describeLookup(options: LookupOptions): string {
  return options.workerConfig === undefined ? `data folder ${options.dataDir}` : `worker configuration ${options.workerConfig}`;
}

/** Return `--data-dir`, which may be left out when `--worker-config` names the store and the data folder. */
function requireLookup(options: LookupOptions): string | undefined {
  if (options.dataDir === undefined && options.workerConfig === undefined) {
    throw new InvalidArgumentError('give --url of a manager, or --data-dir or --worker-config of the cluster');
  }
  return options.dataDir;
}

/** Create a pino logger that writes JSON lines to stderr, so stdout carries only the command's output. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return port;
}

function parsePositiveInteger(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return value;
}
