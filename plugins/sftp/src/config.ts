import path from 'node:path';
import { REDACTED, StorageError, type ConfigSchema, type StorageConfig } from '@op-worker/core';

/** Most connections one helper keeps open to its server. */
export const MAX_POOL_SIZE = 32;

/** Options of an SFTP storage, in the names an admin types when adding the storage. */
export const sftpConfigSchema = {
  hostname: { type: 'string', required: true, help: 'Host name or IP address of the SSH server.' },
  port: { type: 'integer', default: 22, minimum: 1, maximum: 65535, help: 'TCP port of the SSH server.' },
  username: { type: 'string', required: true, help: 'User to log in as; files are created as this user.' },
  privateKey: {
    type: 'string',
    secret: true,
    help: 'Private key in OpenSSH or PEM text form. Give it or password.',
  },
  privateKeyPassphrase: { type: 'string', secret: true, help: 'Passphrase of an encrypted privateKey.' },
  password: { type: 'string', secret: true, help: 'Password of the user, when the server accepts passwords.' },
  hostKeyFingerprint: {
    type: 'string',
    help:
      "The server's host key fingerprint as OpenSSH prints it (`ssh-keygen -l -E sha256 -f key.pub`): " +
      'SHA256: followed by 43 base64 characters. Required unless insecureSkipHostKeyVerification is true.',
  },
  insecureSkipHostKeyVerification: {
    type: 'boolean',
    default: false,
    help: 'Accept any host key. Only for throw-away test servers: it allows a man in the middle.',
  },
  rootPath: { type: 'string', required: true, help: 'Absolute path on the server of the storage root directory.' },
  fileMode: { type: 'string', default: '0664', help: 'Octal permission bits of files the helper creates.' },
  dirMode: { type: 'string', default: '0775', help: 'Octal permission bits of directories the helper creates.' },
  connectionPoolSize: {
    type: 'integer',
    default: 4,
    minimum: 1,
    maximum: MAX_POOL_SIZE,
    help: 'Most SSH connections open at once; further operations wait for a free one.',
  },
  timeout: {
    type: 'integer',
    default: 30_000,
    minimum: 100,
    help: 'Milliseconds to wait for the SSH handshake, and for a free connection from the pool.',
  },
} as const satisfies ConfigSchema;

/** Validated, typed settings of one SFTP helper. */
export interface SftpSettings {
  hostname: string;
  port: number;
  username: string;
  privateKey?: string;
  privateKeyPassphrase?: string;
  password?: string;
  /** `SHA256:<base64>`, or undefined when verification is explicitly skipped. */
  hostKeyFingerprint?: string;
  rootPath: string;
  fileMode: number;
  dirMode: number;
  connectionPoolSize: number;
  /** Milliseconds. */
  timeout: number;
}

const FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * Turn a configuration already checked against `sftpConfigSchema` into settings,
 * checking what the schema cannot express. Throws ConfigInvalid naming the option and
 * the fix.
 */
export function parseSftpSettings(config: StorageConfig): SftpSettings {
  const settings: SftpSettings = {
    hostname: requiredString(config, 'hostname'),
    port: integer(config, 'port', 22),
    username: requiredString(config, 'username'),
    privateKey: optionalString(config, 'privateKey'),
    privateKeyPassphrase: optionalString(config, 'privateKeyPassphrase'),
    password: optionalString(config, 'password'),
    hostKeyFingerprint: hostKeyFingerprint(config),
    rootPath: rootPath(config),
    fileMode: octalMode(config, 'fileMode', '0664'),
    dirMode: octalMode(config, 'dirMode', '0775'),
    connectionPoolSize: integer(config, 'connectionPoolSize', 4),
    timeout: integer(config, 'timeout', 30_000),
  };

  if (settings.privateKey === undefined && settings.password === undefined) {
    throw invalid('privateKey', 'give privateKey (PEM or OpenSSH text) or password to log in with');
  }
  if (settings.connectionPoolSize < 1 || settings.connectionPoolSize > MAX_POOL_SIZE) {
    throw invalid('connectionPoolSize', `must be between 1 and ${MAX_POOL_SIZE}`);
  }
  return settings;
}

/** Settings as they may be logged or shown: secrets replaced. */
export function describeSettings(settings: SftpSettings): Record<string, unknown> {
  return {
    ...settings,
    privateKey: settings.privateKey === undefined ? undefined : REDACTED,
    privateKeyPassphrase: settings.privateKeyPassphrase === undefined ? undefined : REDACTED,
    password: settings.password === undefined ? undefined : REDACTED,
  };
}

function hostKeyFingerprint(config: StorageConfig): string | undefined {
  const fingerprint = optionalString(config, 'hostKeyFingerprint');
  const skip = config['insecureSkipHostKeyVerification'] === true;

  if (fingerprint === undefined) {
    if (skip) return undefined;
    throw invalid(
      'hostKeyFingerprint',
      'is required: give the server host key fingerprint (SHA256:..., from `ssh-keygen -l -E sha256 -f <host key>.pub`), ' +
        'or set insecureSkipHostKeyVerification to true for a throw-away test server',
    );
  }
  if (!FINGERPRINT_PATTERN.test(fingerprint)) {
    throw invalid('hostKeyFingerprint', `"${fingerprint}" is not in OpenSSH form: SHA256: followed by 43 base64 characters`);
  }
  return fingerprint;
}

function rootPath(config: StorageConfig): string {
  const value = requiredString(config, 'rootPath');
  if (!value.startsWith('/')) throw invalid('rootPath', `"${value}" must be an absolute path on the server`);
  if (value.includes('\0')) throw invalid('rootPath', 'must not contain a NUL byte');
  return path.posix.normalize(value).replace(/(.)\/+$/, '$1');
}

function octalMode(config: StorageConfig, name: string, fallback: string): number {
  const value = config[name] ?? fallback;
  const text = String(value);
  if (!/^0?[0-7]{3,4}$/.test(text)) throw invalid(name, `"${text}" must be octal permission bits such as ${fallback}`);
  return Number.parseInt(text, 8) & 0o7777;
}

function requiredString(config: StorageConfig, name: string): string {
  const value = optionalString(config, name);
  if (value === undefined) throw invalid(name, 'is required');
  return value;
}

function optionalString(config: StorageConfig, name: string): string | undefined {
  const value = config[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(name, 'must be a string');
  return value;
}

function integer(config: StorageConfig, name: string, fallback: number): number {
  const value = config[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(name, 'must be an integer');
  return value;
}

function invalid(option: string, problem: string): StorageError {
  return new StorageError('ConfigInvalid', `sftp storage option "${option}" ${problem}`, { context: { option } });
}
