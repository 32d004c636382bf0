import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { DEFAULT_JOB_RUNNER_OPTIONS } from '@op-worker/core';
import {
  DEFAULT_METADATA_STORE,
  resolveStoreConfig,
  StoreConfigError,
  storeLayerFromEnv,
  storeLayerFromFile,
  type MetadataStoreConfig,
  type StoreLayer,
} from './store-config.js';

/**
 * Worker configuration. Sources, later ones winning: built-in defaults, a JSON file
 * (`--config FILE` or `OP_WORKER_CONFIG`), environment variables `OP_WORKER_*`, and
 * command-line flags. Every value is validated; an error names the option and where
 * it came from.
 */
export interface WorkerConfig {
  /** Folder of the SQLite store, the default POSIX storage and the admin token. */
  dataDir: string;
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Storage plugin packages, imported by name at start. */
  plugins: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  providerId: string;
  providerName: string;
  /** Host name shown by `/configuration`; defaults to `host`. */
  domain?: string;
  /** Create the admin user, the `<dataDir>/storage` POSIX storage and the `default` space when missing. */
  embeddedDefaults: boolean;
  /** Lifetime of the admin token written to `<dataDir>/admin-token`, in seconds. */
  adminTokenTtl: number;
  /**
   * How long a worker owns a background job (transfer, QoS, rule) without renewing it, in
   * milliseconds. A job of a worker that died resumes in another worker (or the restarted
   * one) after this time.
   */
  jobLeaseTtlMs: number;
  /** How often a worker looks for queued jobs and jobs whose lease expired, in milliseconds. */
  jobPollIntervalMs: number;
  /** Where file metadata, users, spaces and tokens live: SQLite in `dataDir` (the default) or Cassandra. */
  metadataStore: MetadataStoreConfig;
}

export const DEFAULT_DATA_DIR = 'op-worker-data';

export const DEFAULT_CONFIG: WorkerConfig = {
  dataDir: DEFAULT_DATA_DIR,
  host: '127.0.0.1',
  port: 8080,
  plugins: ['@op-worker/plugin-posix', '@op-worker/plugin-s3', '@op-worker/plugin-sftp', '@op-worker/plugin-azure'],
  logLevel: 'info',
  providerId: 'local-provider',
  providerName: 'op-worker',
  embeddedDefaults: true,
  adminTokenTtl: 30 * 24 * 3600,
  jobLeaseTtlMs: DEFAULT_JOB_RUNNER_OPTIONS.leaseTtlMs,
  jobPollIntervalMs: DEFAULT_JOB_RUNNER_OPTIONS.pollIntervalMs,
  metadataStore: DEFAULT_METADATA_STORE,
};

/** Options set by one environment variable each; `metadataStore` has several (see `store-config.ts`). */
type ScalarOption = Exclude<keyof WorkerConfig, 'metadataStore'>;

/** Environment variable of each option. */
export const ENVIRONMENT_VARIABLES: Record<ScalarOption, string> = {
  dataDir: 'OP_WORKER_DATA_DIR',
  host: 'OP_WORKER_HOST',
  port: 'OP_WORKER_PORT',
  plugins: 'OP_WORKER_PLUGINS',
  logLevel: 'OP_WORKER_LOG_LEVEL',
  providerId: 'OP_WORKER_PROVIDER_ID',
  providerName: 'OP_WORKER_PROVIDER_NAME',
  domain: 'OP_WORKER_DOMAIN',
  embeddedDefaults: 'OP_WORKER_EMBEDDED_DEFAULTS',
  adminTokenTtl: 'OP_WORKER_ADMIN_TOKEN_TTL',
  jobLeaseTtlMs: 'OP_WORKER_JOB_LEASE_TTL_MS',
  jobPollIntervalMs: 'OP_WORKER_JOB_POLL_INTERVAL_MS',
};

/** Flags of `op-worker start` that set an option; other overrides come from programs that call `loadConfig`. */
const START_FLAGS: Partial<Record<keyof WorkerConfig, string>> = {
  dataDir: '--data-dir',
  host: '--host',
  port: '--port',
  jobLeaseTtlMs: '--job-lease-ttl-ms',
  jobPollIntervalMs: '--job-poll-interval-ms',
};

function describeFlag(key: keyof WorkerConfig): string {
  const flag = START_FLAGS[key];
  return flag === undefined ? `override of "${key}"` : `command-line option ${flag}`;
}

/** Environment variable naming the configuration file when `--config` is not given. */
export const CONFIG_FILE_VARIABLE = 'OP_WORKER_CONFIG';

/** Upper limit of the job lease and poll interval: one day, in milliseconds. */
const MAX_JOB_TIMING_MS = 24 * 3600 * 1000;

const CONFIG_SCHEMA = {
  type: 'object',
  properties: {
    dataDir: { type: 'string', minLength: 1 },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    plugins: { type: 'array', items: { type: 'string', minLength: 1 } },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    providerId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    providerName: { type: 'string', minLength: 1, maxLength: 128 },
    domain: { type: 'string', minLength: 1 },
    embeddedDefaults: { type: 'boolean' },
    adminTokenTtl: { type: 'integer', minimum: 60, maximum: 10 * 365 * 24 * 3600 },
    // The runner renews a lease every third of its lifetime, so a lease under a second
    // lapses whenever a store write stalls briefly. A day is far below the 2^31 - 1 ms
    // limit of Node timers.
    jobLeaseTtlMs: { type: 'integer', minimum: 1000, maximum: MAX_JOB_TIMING_MS },
    jobPollIntervalMs: { type: 'integer', minimum: 10, maximum: MAX_JOB_TIMING_MS },
    // Checked as a whole after the sources are merged, by resolveStoreConfig.
    metadataStore: { type: 'object' },
  },
  additionalProperties: false,
} as const;

const ajv = new Ajv({ coerceTypes: 'array', strict: true, allErrors: false });
const validatePartial = ajv.compile<Partial<WorkerConfig>>(CONFIG_SCHEMA);

/** A configuration problem; the message names the option, its source and the fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigOptions {
  /** Path of a JSON configuration file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already typed or as strings. */
  overrides?: Partial<Record<keyof WorkerConfig, unknown>>;
  /** Base for a relative `dataDir`; the current directory by default. */
  cwd?: string;
}

/** Merge and validate the configuration sources; `dataDir` is returned as an absolute path. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<WorkerConfig> {
  const env = options.env ?? process.env;
  const filePath = options.file ?? env[CONFIG_FILE_VARIABLE];

  const fromFile = filePath === undefined ? {} : await readConfigFile(filePath);
  const fromEnv = validated(environmentValues(env), (key) => `environment variable ${ENVIRONMENT_VARIABLES[key as ScalarOption]}`);
  const fromFlags = validated(definedValues(options.overrides ?? {}), describeFlag);

  const config: WorkerConfig = { ...DEFAULT_CONFIG, ...fromFile, ...fromEnv, ...fromFlags };
  config.dataDir = path.resolve(options.cwd ?? process.cwd(), config.dataDir);
  config.metadataStore = mergedStoreConfig(fromFile.metadataStore, filePath, env, fromFlags.metadataStore);
  return config;
}

/** Merges the store options of the file, the environment and an override, in that order. */
function mergedStoreConfig(fromFile: unknown, filePath: string | undefined, env: NodeJS.ProcessEnv, override: unknown): MetadataStoreConfig {
  try {
    const layers: StoreLayer[] = [];
    if (fromFile !== undefined) layers.push(storeLayerFromFile(fromFile, filePath ?? 'configuration file'));
    layers.push(storeLayerFromEnv(env));
    if (override !== undefined) layers.push({ values: override as Record<string, unknown>, source: (key) => `override "metadataStore.${key}"` });
    return resolveStoreConfig(layers);
  } catch (error) {
    if (error instanceof StoreConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

async function readConfigFile(filePath: string): Promise<Partial<WorkerConfig>> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file "${filePath}": ${(error as Error).message}`);
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`configuration file "${filePath}" is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`configuration file "${filePath}" must contain a JSON object of options`);
  }
  return validated(value as Record<string, unknown>, (key) => `"${key}" in configuration file ${filePath}`);
}

function environmentValues(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(ENVIRONMENT_VARIABLES) as Array<[ScalarOption, string]>) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    values[key] = key === 'plugins' ? value.split(',').map((name) => name.trim()).filter(Boolean) : value;
  }
  return values;
}

function definedValues(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

function validated(values: Record<string, unknown>, source: (key: keyof WorkerConfig) => string): Partial<WorkerConfig> {
  const copy = { ...values };
  if (validatePartial(copy)) return copy;
  throw new ConfigError(describe(validatePartial.errors?.[0], source));
}

function describe(error: ErrorObject | undefined, source: (key: keyof WorkerConfig) => string): string {
  if (error === undefined) return 'invalid configuration';
  if (error.keyword === 'additionalProperties') {
    const name = String(error.params['additionalProperty']);
    const known = Object.keys(CONFIG_SCHEMA.properties).join(', ');
    return `unknown configuration option "${name}"; known options: ${known}`;
  }
  const key = error.instancePath.split('/')[1] as keyof WorkerConfig;
  return `invalid configuration: ${source(key)} ${error.message ?? 'is invalid'}`;
}
