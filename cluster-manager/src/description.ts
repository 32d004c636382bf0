import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { OpError, parseStorageConfig, type Core, type StoragePluginManifest } from '@op-worker/core';
import { Ajv } from 'ajv';

/**
 * The JSON environment description of `op-cluster-manager up <file>` and its checks.
 * `readDescription` checks what the file alone can show. `checkAgainstStore` checks the
 * references that the store may satisfy, and the storage options against their plugins,
 * so that `up` reports every problem before it creates anything.
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

const validateDescription = new Ajv({ allErrors: true, strict: false }).compile<EnvironmentDescription>(DESCRIPTION_SCHEMA);

/** Raised for a description that cannot be used; `problems` are `<JSON path>: <problem>` lines. */
export class DescriptionError extends Error {
  override readonly name = 'DescriptionError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid environment description ${file}:\n  ${problems.join('\n  ')}`);
  }
}

/** Read, parse and check a description on its own. The error names the file and each JSON path with its problem. */
export async function readDescription(file: string): Promise<EnvironmentDescription> {
  const value = parseJson(file, await readFile(file, 'utf8'));
  if (!validateDescription(value)) {
    const problems = (validateDescription.errors ?? []).map((error) => `${error.instancePath || '/'}: ${error.message ?? 'is invalid'}`);
    throw new DescriptionError(file, problems);
  }

  const problems = [
    // A repeated manager id would make every `up --only <id>` child start all of its namesakes again, without end.
    ...repeatedNames('/managers', 'id', value.managers.map((manager) => manager.id)),
    ...repeatedNames('/users', 'name', (value.users ?? []).map((user) => user.name)),
    ...repeatedNames('/storages', 'name', (value.storages ?? []).map((storage) => storage.name)),
    ...repeatedNames('/spaces', 'name', (value.spaces ?? []).map((space) => space.name)),
  ];
  if (problems.length > 0) throw new DescriptionError(file, problems);
  return value;
}

/** Parse JSON text; a syntax error names the file, and the line and column when the parser gives a position. */
function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message)?.[1];
    const where = position === undefined ? '' : `:${lineAndColumn(text, Number(position))}`;
    throw new Error(`invalid JSON in environment description ${file}${where}: ${message}`, { cause: error });
  }
}

/** `<line>:<column>` of a character offset, both counted from 1. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

function repeatedNames(listPath: string, field: string, names: string[]): string[] {
  return names.flatMap((name, index) => (names.indexOf(name) === index ? [] : [`${listPath}/${index}/${field}: "${name}" is listed twice; names must be unique`]));
}

/**
 * Check what the description refers to outside itself, before anything is created.
 * Space owners and members must be users of the description or the store. Supports must
 * name storages of the description or the store, and each new storage's options must
 * pass its plugin's schema. Throws one DescriptionError that lists every problem.
 */
export async function checkAgainstStore(file: string, description: EnvironmentDescription, core: Core, plugins: StoragePluginManifest[], dataDir: string): Promise<void> {
  const problems = [...(await userProblems(description, core)), ...(await storageProblems(description, core, plugins, dataDir))];
  if (problems.length > 0) throw new DescriptionError(file, problems);
}

async function userProblems(description: EnvironmentDescription, core: Core): Promise<string[]> {
  const listed = new Set((description.users ?? []).map((user) => user.name));
  const problems: string[] = [];
  for (const [index, space] of (description.spaces ?? []).entries()) {
    const references = [{ at: `/spaces/${index}/owner`, name: space.owner }, ...(space.members ?? []).map((name, member) => ({ at: `/spaces/${index}/members/${member}`, name }))];
    for (const reference of references) {
      if (listed.has(reference.name) || (await userExists(core, reference.name))) continue;
      problems.push(`${reference.at}: user "${reference.name}" is neither in /users nor in the store; add it to /users`);
    }
  }
  return problems;
}

async function userExists(core: Core, idOrName: string): Promise<boolean> {
  try {
    await core.users.resolve(idOrName);
    return true;
  } catch (error) {
    if (OpError.is(error) && error.kind === 'notFound') return false;
    throw error;
  }
}

async function storageProblems(description: EnvironmentDescription, core: Core, plugins: StoragePluginManifest[], dataDir: string): Promise<string[]> {
  const stored = new Set((await core.storages.list()).map((storage) => storage.name));
  const problems: string[] = [];

  for (const [index, storage] of (description.storages ?? []).entries()) {
    if (stored.has(storage.name)) continue;
    problems.push(...configProblems(`/storages/${index}`, storage, plugins, dataDir));
  }

  const listed = new Set((description.storages ?? []).map((storage) => storage.name));
  for (const [index, space] of (description.spaces ?? []).entries()) {
    for (const [supportIndex, support] of (space.supports ?? []).entries()) {
      if (listed.has(support.storage) || stored.has(support.storage)) continue;
      problems.push(`/spaces/${index}/supports/${supportIndex}/storage: storage "${support.storage}" is neither in /storages nor in the store; add it to /storages`);
    }
  }
  return problems;
}

type StorageEntry = NonNullable<EnvironmentDescription['storages']>[number];

function configProblems(at: string, storage: StorageEntry, plugins: StoragePluginManifest[], dataDir: string): string[] {
  const manifest = plugins.find((plugin) => plugin.type === storage.type);
  if (manifest === undefined) {
    return [`${at}/type: no loaded plugin has the type "${storage.type}"; loaded types: ${plugins.map((plugin) => plugin.type).join(', ') || 'none'}; list its package in /plugins`];
  }
  try {
    parseStorageConfig(manifest.configSchema, storageConfig(storage, dataDir));
    return [];
  } catch (error) {
    if (!OpError.is(error)) throw error;
    const key = typeof error.details?.['key'] === 'string' ? `/${error.details['key']}` : '';
    return [`${at}/config${key}: ${error.message}`];
  }
}

/** Return the storage options `up` passes to the plugin, with a relative POSIX `mountPoint` resolved against the data folder. */
export function storageConfig(storage: StorageEntry, dataDir: string): Record<string, unknown> {
  const config = { ...storage.config };
  if (storage.type === 'posix' && typeof config['mountPoint'] === 'string') config['mountPoint'] = path.resolve(dataDir, config['mountPoint']);
  return config;
}
