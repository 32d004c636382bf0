import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseStorageConfig, type StorageConfig } from '@op-worker/core';
import { sftpConfigSchema, sftpPlugin, type SftpHelper } from '../src/index.js';
import { SshdServer, TEST_HOME, TEST_USER } from './sshd-server.js';

/** Where the tests find their sshd: one they started, or one named by the environment. */
export interface SftpTarget {
  port: number;
  clientKey: string;
  hostFingerprint: string;
  /** Set when this process started the server; undefined for an external one. */
  server?: SshdServer;
  stop(): Promise<void>;
}

/**
 * Start the sshd for a test file, or use the one that `OP_TEST_SFTP_PORT` and
 * `OP_TEST_SFTP_STATE_DIR` name (started by `scripts/servers/sshd.sh run`).
 */
export async function sftpTarget(): Promise<SftpTarget> {
  const port = process.env.OP_TEST_SFTP_PORT;
  const stateDir = process.env.OP_TEST_SFTP_STATE_DIR;
  if (port && stateDir) {
    return {
      port: Number(port),
      clientKey: readFileSync(join(stateDir, 'client_key'), 'utf8'),
      hostFingerprint: readFileSync(join(stateDir, 'host_fingerprint'), 'utf8').trim(),
      stop: async () => undefined,
    };
  }

  const server = await SshdServer.start();
  return { port: server.port, clientKey: server.clientKey, hostFingerprint: server.hostFingerprint, server, stop: () => server.stop() };
}

/** Raw options for a helper on `target`, rooted at `rootPath`, with overrides. */
export function rawConfig(target: SftpTarget, rootPath: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hostname: '127.0.0.1',
    port: target.port,
    username: TEST_USER,
    privateKey: target.clientKey,
    hostKeyFingerprint: target.hostFingerprint,
    rootPath,
    timeout: 10_000,
    ...overrides,
  };
}

/** A helper built the way the worker builds one: options parsed against the schema first. */
export async function createHelper(raw: Record<string, unknown>): Promise<SftpHelper> {
  const config: StorageConfig = parseStorageConfig(sftpConfigSchema, raw);
  const logger = pino({ level: process.env.SFTP_TEST_LOG_LEVEL ?? 'silent' });
  return (await sftpPlugin.create(config, { storageId: 'sftp-test', logger })) as SftpHelper;
}

/**
 * Create a fresh storage root below the test user's home, over SFTP so that the test
 * user owns it. Returns its absolute path and a function removing it.
 */
export async function makeRoot(target: SftpTarget, label: string): Promise<{ rootPath: string; remove(): Promise<void> }> {
  const name = `${label}-${randomBytes(5).toString('hex')}`;
  const home = await createHelper(rawConfig(target, TEST_HOME));
  try {
    await home.mkdir(name);
  } finally {
    await home.close();
  }

  const rootPath = `${TEST_HOME}/${name}`;
  // The server runs on this machine, so its files are removed directly.
  return { rootPath, remove: () => rm(rootPath, { recursive: true, force: true }) };
}
