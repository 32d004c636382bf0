import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OpError, type Core } from '@op-worker/core';
import { loadConfig, openCore } from '@op-worker/server';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
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
export interface EnvironmentDescription {
  provider?: { id?: string; name?: string };
  /** Data folder shared by every manager and worker, relative to the description file. */
  dataDir: string;
  host?: string;
  /** Storage plugin packages the workers load; by default the built-in ones the storages use. */
  plugins?: string[];
  /** Lifetime of the leader lease and of membership records, in milliseconds. */
  leaseTtlMs?: number;
  managers: Array<{ id: string; workers: number; port?: number; statusPort?: number }>;
  users?: Array<{ name: string; admin?: boolean; tokens?: string[] }>;
  storages?: Array<{ name: string; type: string; config: Record<string, unknown>; imported?: boolean }>;
  spaces?: Array<{ name: string; owner: string; members?: string[]; supports?: Array<{ storage: string; size?: number }> }>;
}

export const TOKENS_FILE = 'tokens.json';

const NAME = { type: 'string', minLength: 1, maxLength: 128 } as const;
const DESCRIPTION_SCHEMA = {
  type: 'object',
  required: ['dataDir', 'managers'],
  additionalProperties: false,
  properties: {
    $comment: { type: 'string' },
    provider: { type: 'object', additionalProperties: false, properties: { id: NAME, name: NAME } },
    dataDir: NAME,
    host: NAME,
    plugins: { type: 'array', items: NAME },
    leaseTtlMs: { type: 'integer', minimum: 300 },
    managers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'workers'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
          workers: { type: 'integer', minimum: 1, maximum: 64 },
          port: { type: 'integer', minimum: 0, maximum: 65535 },
          statusPort: { type: 'integer', minimum: 0, maximum: 65535 },
        },
      },
    },
    users: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { name: NAME, admin: { type: 'boolean' }, tokens: { type: 'array', items: NAME } },
      },
    },
    storages: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'type', 'config'],
        additionalProperties: false,
        properties: { name: NAME, type: NAME, config: { type: 'object' }, imported: { type: 'boolean' } },
      },
    },
    spaces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'owner'],
        additionalProperties: false,
        properties: {
          name: NAME,
          owner: NAME,
          members: { type: 'array', items: NAME },
          supports: {
            type: 'array',
            items: {
              type: 'object',
              required: ['storage'],
              additionalProperties: false,
              properties: { storage: NAME, size: { type: 'integer', minimum: 0 } },
            },
          },
        },
      },
    },
  },
} as const;

const validateDescription = new Ajv({ allErrors: false, strict: false }).compile<EnvironmentDescription>(DESCRIPTION_SCHEMA);

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

/** Read and validate a description; the error names the file, the JSON path and the problem. */
export async function readDescription(file: string): Promise<EnvironmentDescription> {
  const value = JSON.parse(await readFile(file, 'utf8')) as unknown;
  if (!validateDescription(value)) {
    const error = validateDescription.errors?.[0];
    throw new Error(`invalid environment description ${file}: ${error?.instancePath || '/'} ${error?.message ?? 'is invalid'}`);
  }
  // A repeated id would make every `up --only <id>` child start all of its namesakes again, without end.
  const duplicate = value.managers.find((manager, index) => value.managers.findIndex((other) => other.id === manager.id) !== index);
  if (duplicate !== undefined) throw new Error(`invalid environment description ${file}: /managers lists the id "${duplicate.id}" twice; give each manager its own id`);
  return value;
}

export async function runEnvironment(options: RunEnvironmentOptions): Promise<void> {
  const description = await readDescription(options.file);
  const dataDir = path.resolve(options.dataDir ?? path.resolve(path.dirname(options.file), description.dataDir));
  const workerEnv = workerEnvironment(description);

  if (options.setup !== false) await setUpProvider(description, dataDir, workerEnv, options.logger);

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

/** Create what the description lists and the store lacks; running it again changes nothing. */
async function setUpProvider(description: EnvironmentDescription, dataDir: string, workerEnv: Record<string, string>, logger: Logger): Promise<void> {
  const config = await loadConfig({ env: { ...process.env, ...workerEnv }, overrides: { dataDir } });
  const core = await openCore(config, logger);
  try {
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

/** A relative POSIX `mountPoint` is resolved against the data folder and created. */
async function createStorages(core: Core, description: EnvironmentDescription, dataDir: string): Promise<void> {
  const existing = new Set((await core.storages.list()).map((storage) => storage.name));
  for (const storage of description.storages ?? []) {
    if (existing.has(storage.name)) continue;
    const config = { ...storage.config };
    if (storage.type === 'posix' && typeof config['mountPoint'] === 'string') {
      config['mountPoint'] = path.resolve(dataDir, config['mountPoint']);
      await mkdir(config['mountPoint'] as string, { recursive: true, mode: 0o700 });
    }
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
      if (storage === undefined) throw new Error(`space "${entry.name}" names storage "${support.storage}", which the description does not list`);
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
