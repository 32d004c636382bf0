import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { OpError, type Core, type SpaceInfo, type StorageRecord } from '@op-worker/core';
import type { Logger } from 'pino';
import { ConfigError, DEFAULT_DATA_DIR, loadConfig, type WorkerConfig } from './config.js';
import { METADATA_FILE, openCore } from './core.js';
import { registerIdentityCommands, registerUserDeleteCommand, registerSpaceMemberCommands } from './cli-identity.js';
import { registerTransferCommands } from './cli-transfers.js';
import { ADMIN_TOKEN_FILE } from './embedded.js';
import { createLogger } from './logger.js';
import { startWorker } from './worker.js';

/**
 * The `op-worker` command line. `start` runs the worker; the admin commands open the
 * configured metadata store (SQLite in the data folder, or Cassandra) directly, so they
 * work whether or not a worker runs.
 * Admin commands print their result as JSON on stdout.
 */

interface CommonOptions {
  dataDir?: string;
  config?: string;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    process.exitCode = 1;
    process.stderr.write(`op-worker: ${describeError(error)}\n`);
  }
}

function buildProgram(): Command {
  const program = new Command('op-worker')
    .description('Storage provider worker compatible with Onedata Oneprovider (REST API v3 and CDMI 1.1.1)')
    .showHelpAfterError();

  withCommonOptions(program.command('start'))
    .description('start the worker; with no configuration it creates and serves the embedded default data folder')
    .option('--port <n>', 'TCP port to listen on; 0 picks a free port (default 8080)', parsePort)
    .option('--host <address>', 'address to listen on (default 127.0.0.1)')
    .option('--job-lease-ttl-ms <ms>', 'milliseconds a worker owns a background job without renewing it; a dead worker\'s jobs resume after it (default 15000)')
    .option('--job-poll-interval-ms <ms>', 'milliseconds between checks for queued jobs and expired job leases (default 1000)')
    .action(startCommand);

  const user = program.command('user').description('manage users');
  withCommonOptions(user.command('create <name>'))
    .description('create a user')
    .option('--admin', 'make the user a provider administrator', false)
    .action((name: string, options: CommonOptions & { admin: boolean }) =>
      withCore(options, async (core) => core.users.create({ name, isAdmin: options.admin })),
    );
  withCommonOptions(user.command('list'))
    .description('list users')
    .action((options: CommonOptions) => withCore(options, (core) => core.users.list()));
  registerUserDeleteCommand(user, withCommonOptions, withCore);

  registerIdentityCommands(program, withCommonOptions, withCore);
  registerTransferCommands(program, withCommonOptions, withCore);

  const storage = program.command('storage').description('manage storages');
  withCommonOptions(storage.command('add'), false)
    .description('register a storage after checking that it is reachable')
    .requiredOption('--name <name>', 'storage name')
    .addOption(new Option('--type <type>', 'storage helper type').default('posix'))
    .requiredOption('--config <json>', 'helper options as a JSON object, e.g. {"mountPoint":"/data"}', parseJsonObject)
    .option('--imported', 'the storage holds existing data to import into a space', false)
    .option('--qos-parameters <json>', 'QoS parameters as a JSON object of strings, e.g. {"storageType":"s3"}; storageId and providerId are added', parseQosParameters)
    .action((options: { dataDir?: string; name: string; type: string; config: Record<string, unknown>; imported: boolean; qosParameters?: Record<string, string> }) =>
      withCore({ dataDir: options.dataDir }, async (core) =>
        redactedStorage(
          core,
          await core.storages.add({ name: options.name, type: options.type, config: options.config, importedStorage: options.imported, qosParameters: options.qosParameters }),
        ),
      ),
    );
  withCommonOptions(storage.command('list'))
    .description('list storages (secret options redacted)')
    .action((options: CommonOptions) => withCore(options, async (core) => (await core.storages.list()).map((record) => redactedStorage(core, record))));

  const space = program.command('space').description('manage spaces');
  withCommonOptions(space.command('create <name>'))
    .description('create a space')
    .requiredOption('--owner <user>', 'owner (user name or id)')
    .action((name: string, options: CommonOptions & { owner: string }) =>
      withCore(options, async (core) => core.spaces.create({ name, ownerUserId: (await core.users.resolve(options.owner)).id })),
    );
  withCommonOptions(space.command('support <space>'))
    .description('support a space (name or id) with a storage (name or id)')
    .requiredOption('--storage <storage>', 'storage id or name')
    .option('--size <bytes>', 'support size (quota) in bytes; 0 means unlimited', parseNonNegativeInteger)
    .action((spaceRef: string, options: CommonOptions & { storage: string; size?: number }) =>
      withCore(options, async (core) => {
        const target = await resolveSpace(core, spaceRef);
        const record = await resolveStorage(core, options.storage);
        return core.spaces.support({ spaceId: target.spaceId, storageId: record.storageId, size: options.size });
      }),
    );
  registerSpaceMemberCommands(space, withCommonOptions, withCore);
  withCommonOptions(space.command('list'))
    .description('list spaces')
    .action((options: CommonOptions) => withCore(options, (core) => core.spaces.list()));

  const importCommand = program.command('import').description('import data already on a storage');
  withCommonOptions(importCommand.command('start <space>'))
    .description('scan the imported storage of a space (name or id) now and print the import counters')
    .action((spaceRef: string, options: CommonOptions) =>
      withCore(options, async (core) => core.importer.scan((await resolveSpace(core, spaceRef)).spaceId)),
    );
  withCommonOptions(importCommand.command('stats <space>'))
    .description('print the counters of the last import scan of a space')
    .action((spaceRef: string, options: CommonOptions) =>
      withCore(options, async (core) => (await core.importer.stats((await resolveSpace(core, spaceRef)).spaceId)) ?? null),
    );

  return program;
}

/** Add `--data-dir` and, unless the command uses `--config` for something else, `--config <file>`. */
function withCommonOptions(command: Command, configFileOption = true): Command {
  command.option('--data-dir <dir>', `data folder (default ./${DEFAULT_DATA_DIR}, or $OP_WORKER_DATA_DIR)`);
  if (configFileOption) command.option('--config <file>', 'JSON configuration file (or $OP_WORKER_CONFIG)');
  return command;
}

interface StartOptions extends CommonOptions {
  port?: number;
  host?: string;
  /** Strings from the command line; `loadConfig` checks and converts them. */
  jobLeaseTtlMs?: string;
  jobPollIntervalMs?: string;
}

async function startCommand(options: StartOptions): Promise<void> {
  const overrides = {
    dataDir: options.dataDir,
    port: options.port,
    host: options.host,
    jobLeaseTtlMs: options.jobLeaseTtlMs,
    jobPollIntervalMs: options.jobPollIntervalMs,
  };
  const config = await loadConfig({ file: options.config, overrides });
  const logger = createLogger(config.logLevel);
  const worker = await startWorker(config, logger);

  process.stdout.write(`op-worker listening on ${worker.url}\n`);
  process.stdout.write(`data folder: ${config.dataDir}\n`);
  process.stdout.write(`metadata store: ${describeStore(config)}\n`);
  if (worker.adminToken !== undefined) {
    process.stdout.write(`admin token: ${worker.adminToken}\n`);
    process.stdout.write(`(also in ${config.dataDir}/${ADMIN_TOKEN_FILE})\n`);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping worker');
    worker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'worker did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function describeStore(config: WorkerConfig): string {
  const store = config.metadataStore;
  if (store.type === 'sqlite') return `sqlite ${path.join(config.dataDir, METADATA_FILE)}`;
  return `cassandra keyspace ${store.keyspace} at ${store.contactPoints.join(', ')}`;
}

/** Run an admin action against the configured store, print its result as JSON and close the store. */
async function withCore(options: CommonOptions, action: (core: Core) => Promise<unknown>): Promise<void> {
  const config: WorkerConfig = await loadConfig({ file: options.config, overrides: { dataDir: options.dataDir } });
  const logger: Logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const core = await openCore(config, logger);
  try {
    const result = await action(core);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await core.close();
  }
}

async function resolveSpace(core: Core, ref: string): Promise<SpaceInfo> {
  const byName = await core.spaces.findByName(ref);
  if (byName !== undefined) return byName;
  return core.spaces.get(ref);
}

async function resolveStorage(core: Core, ref: string): Promise<StorageRecord> {
  const match = (await core.storages.list()).find((record) => record.storageId === ref || record.name === ref);
  if (match === undefined) throw OpError.notFound(`storage "${ref}"`, { storage: ref });
  return match;
}

function redactedStorage(core: Core, record: StorageRecord): Record<string, unknown> {
  return { ...record, config: core.storages.redacted(record) };
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

function parseNonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(value);
}

/** Parse QoS parameters, which the QoS grammar compares as strings or numbers written as strings. */
function parseQosParameters(value: string): Record<string, string> {
  const parsed = parseJsonObject(value);
  for (const [key, parameter] of Object.entries(parsed)) {
    if (typeof parameter !== 'string') {
      throw new InvalidArgumentError(`QoS parameter "${key}" must be a string, got ${JSON.stringify(parameter)}. Write numbers as strings, e.g. {"speed":"5"}`);
    }
  }
  return parsed as Record<string, string>;
}

function parseJsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON object, e.g. \'{"mountPoint":"/data"}\'');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('expected a JSON object, e.g. \'{"mountPoint":"/data"}\'');
  }
  return parsed as Record<string, unknown>;
}

function describeError(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (OpError.is(error)) return `${error.message} (${error.kind})`;
  return error instanceof Error ? error.message : String(error);
}
