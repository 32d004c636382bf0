import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OpError, type Core } from '@op-worker/core';
import { loadConfig, loadPlugins, openCore } from '@op-worker/server';
import type { Logger } from 'pino';
import { checkAgainstStore, readDescription, storageConfig, type EnvironmentDescription } from './description.js';
import { ClusterManager } from './manager.js';
import { ManagerProcesses } from './manager-processes.js';
import { runManager } from './run-manager.js';

/**
 * `op-cluster-manager up <file>`: bring up a provider from a JSON environment
 * description. The setup step creates the users, storages, spaces (with members and
 * supports) and access tokens that the description lists and the store lacks. Then each
 * manager starts its workers. Tokens are written to `<dataDir>/tokens.json` (mode 0600), by user name
 * and token name, and reused on the next run while they verify.
 */

/** File of the data folder with the issued tokens. */
export const TOKENS_FILE = 'tokens.json';

const BUILT_IN_PLUGINS: Record<string, string> = {
  posix: '@op-worker/plugin-posix',
  s3: '@op-worker/plugin-s3',
  sftp: '@op-worker/plugin-sftp',
  azure: '@op-worker/plugin-azure',
};

export interface RunEnvironmentOptions {
  file: string;
  /** Overrides the description's `dataDir`. */
  dataDir?: string;
  /** Run only this manager. */
  only?: string;
  /** False skips the setup step, e.g. in managers started by a parent `up` that already ran it. */
  setup?: boolean;
  /** Listen on free ports instead of the ports of the description. */
  freePorts?: boolean;
  logLevel?: string;
  logger: Logger;
}

export async function runEnvironment(options: RunEnvironmentOptions): Promise<void> {
  const description = await readDescription(options.file);
  const dataDir = path.resolve(options.dataDir ?? path.resolve(path.dirname(options.file), description.dataDir));
  const workerEnv = workerEnvironment(description);

  if (options.setup !== false) await setUpProvider(options.file, description, dataDir, workerEnv, options.logger);

  const selected = options.only === undefined ? description.managers : description.managers.filter((manager) => manager.id === options.only);
  if (selected.length === 0) throw new Error(`manager "${options.only}" is not in ${options.file}; it lists ${description.managers.map((m) => m.id).join(', ')}`);

  if (selected.length > 1) {
    const passed = [...(options.freePorts === true ? ['--free-ports'] : []), ...(options.logLevel === undefined ? [] : ['--log-level', options.logLevel])];
    const processes = new ManagerProcesses({ file: options.file, dataDir, managerIds: selected.map((manager) => manager.id), args: passed, logger: options.logger });
    if ((await processes.run()) === 'failed') process.exitCode = 1;
    return;
  }

  const [entry] = selected as [EnvironmentDescription['managers'][number]];
  const { logger } = options;
  const manager = new ClusterManager({
    managerId: entry.id,
    dataDir,
    host: description.host ?? '127.0.0.1',
    port: options.freePorts === true ? 0 : (entry.port ?? 0),
    statusPort: options.freePorts === true ? 0 : (entry.statusPort ?? 0),
    workerCount: entry.workers,
    workerEnv,
    leaseTtlMs: description.leaseTtlMs,
    logger,
  });
  await runManager(manager, logger);
}

/** Worker settings from the description, passed as `OP_WORKER_*` environment variables. */
function workerEnvironment(description: EnvironmentDescription): Record<string, string> {
  const types = new Set((description.storages ?? []).map((storage) => storage.type));
  const plugins = description.plugins ?? [...types].map((type) => BUILT_IN_PLUGINS[type] ?? type);
  const env: Record<string, string> = { OP_WORKER_EMBEDDED_DEFAULTS: 'false', OP_WORKER_PLUGINS: plugins.join(',') };
  if (description.provider?.id !== undefined) env['OP_WORKER_PROVIDER_ID'] = description.provider.id;
  if (description.provider?.name !== undefined) env['OP_WORKER_PROVIDER_NAME'] = description.provider.name;
  return env;
}

/**
 * Create what the description lists and the store lacks; running it again changes
 * nothing. Every reference and storage option is checked first, so a bad description
 * creates nothing.
 */
async function setUpProvider(file: string, description: EnvironmentDescription, dataDir: string, workerEnv: Record<string, string>, logger: Logger): Promise<void> {
  const config = await loadConfig({ env: { ...process.env, ...workerEnv }, overrides: { dataDir } });
  const core = await openCore(config, logger);
  try {
    await checkAgainstStore(file, description, core, await loadPlugins(config.plugins), dataDir);

    await createUsers(core, description);
    await createStorages(core, description, dataDir);
    await createSpaces(core, description);
    await issueTokens(core, description, path.join(dataDir, TOKENS_FILE));
    logger.info({ dataDir, users: description.users?.length ?? 0, storages: description.storages?.length ?? 0, spaces: description.spaces?.length ?? 0 }, 'environment set up');
  } finally {
    await core.close();
  }
}

async function createUsers(core: Core, description: EnvironmentDescription): Promise<void> {
  for (const user of description.users ?? []) {
    if ((await core.users.findByName(user.name)) === undefined) await core.users.create({ name: user.name, isAdmin: user.admin ?? false });
  }
}

/**
 * Add the storages the store lacks; a relative POSIX `mountPoint` is resolved against the
 * data folder and created. NOTE: adding a storage also verifies that it is reachable, so an
 * unreachable storage still fails here, after the storages before it were added.
 */
async function createStorages(core: Core, description: EnvironmentDescription, dataDir: string): Promise<void> {
  const existing = new Set((await core.storages.list()).map((storage) => storage.name));
  for (const storage of description.storages ?? []) {
    if (existing.has(storage.name)) continue;
    const config = storageConfig(storage, dataDir);
    if (storage.type === 'posix' && typeof config['mountPoint'] === 'string') await mkdir(config['mountPoint'], { recursive: true, mode: 0o700 });
    await core.storages.add({ name: storage.name, type: storage.type, config, importedStorage: storage.imported ?? false });
  }
}

async function createSpaces(core: Core, description: EnvironmentDescription): Promise<void> {
  const storages = await core.storages.list();
  for (const entry of description.spaces ?? []) {
    const owner = await core.users.resolve(entry.owner);
    let space = (await core.spaces.findByName(entry.name)) ?? (await core.spaces.create({ name: entry.name, ownerUserId: owner.id }));

    for (const memberName of entry.members ?? []) {
      const member = await core.users.resolve(memberName);
      try {
        await core.spaces.addMember(space.spaceId, member.id);
      } catch (error) {
        if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
      }
    }

    for (const support of entry.supports ?? []) {
      const storage = storages.find((record) => record.name === support.storage);
      // checkAgainstStore has found every support's storage.
      if (storage === undefined) throw new Error(`space "${entry.name}" names storage "${support.storage}", which is not in the store`);
      if (!space.storageIds.includes(storage.storageId)) space = await core.spaces.support({ spaceId: space.spaceId, storageId: storage.storageId, size: support.size });
    }
  }
}

type TokenFile = Record<string, Record<string, string>>;

async function issueTokens(core: Core, description: EnvironmentDescription, file: string): Promise<void> {
  const tokens = await readTokenFile(file);
  for (const user of description.users ?? []) {
    const record = await core.users.resolve(user.name);
    const own = (tokens[user.name] ??= {});
    for (const name of user.tokens ?? []) {
      const stored = own[name];
      if (stored !== undefined && (await verifies(core, stored, record.id))) continue;
      own[name] = (await core.tokens.create(record.id, {})).token;
    }
  }
  await writeFile(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

async function verifies(core: Core, token: string, userId: string): Promise<boolean> {
  try {
    return (await core.tokens.verify(token)).userId === userId;
  } catch (error) {
    if (OpError.is(error) && error.kind === 'unauthorized') return false;
    throw error;
  }
}

async function readTokenFile(file: string): Promise<TokenFile> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TokenFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}
