import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import pino from 'pino';
import { parseStorageConfig, type StorageConfig } from '@op-worker/core';
import { azureConfigSchema, createAzureHelper, type AzureStorageHelper } from '../src/index.js';

/** Azurite's well-known development account, published in its documentation. */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../scripts/servers/azurite.sh');
const START_TIMEOUT_MS = 60_000;

/** An Azurite blob service started by a test, or one named by OP_TEST_AZURE_ENDPOINT. */
export class AzuriteServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly stateDir: string,
    readonly endpoint: string,
    private readonly logFile: string,
  ) {}

  /** Use OP_TEST_AZURE_ENDPOINT when set (unless `own`), else start Azurite on a free port. */
  static async start(options: { own?: boolean } = {}): Promise<AzuriteServer> {
    const external = process.env['OP_TEST_AZURE_ENDPOINT'];
    if (external && !options.own) return new AzuriteServer(0, '', external.replace(/\/+$/, ''), '');

    const port = await freePort();
    const stateDir = await mkdtemp(path.join(tmpdir(), 'op-azurite-'));
    const server = new AzuriteServer(port, stateDir, `http://127.0.0.1:${port}/${DEV_ACCOUNT}`, path.join(stateDir, 'server.log'));
    await server.launch();
    return server;
  }

  /** A port on 127.0.0.1 that nothing listens on right now. */
  static unusedPort(): Promise<number> {
    return freePort();
  }

  /** Start (or restart) the Azurite process on the same port and state directory. */
  async launch(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    this.process = spawn('bash', [SCRIPT, 'run', String(this.port), path.join(this.stateDir, 'data')], {
      stdio: ['ignore', log, log],
    });
    await this.waitUntilListening();
  }

  /** Send `signal` to the Azurite process (by its PID) and wait until it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    if (this.stateDir !== '') await rm(this.stateDir, { recursive: true, force: true });
  }

  /** Service client with the development account's key. */
  serviceClient(): BlobServiceClient {
    return new BlobServiceClient(this.endpoint, new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY), {
      retryOptions: { maxTries: 1 },
    });
  }

  /** Create a fresh container and a helper on it. */
  async createHelper(containerName: string, options: Record<string, unknown> = {}): Promise<AzureStorageHelper> {
    await this.serviceClient().getContainerClient(containerName).createIfNotExists();
    return createAzureHelper(this.config(containerName, options), { storageId: `test-${containerName}`, logger: testLogger() });
  }

  /** Parsed helper configuration for this server and the development account. */
  config(containerName: string, options: Record<string, unknown> = {}): StorageConfig {
    return parseStorageConfig(azureConfigSchema, {
      endpoint: this.endpoint,
      accountName: DEV_ACCOUNT,
      accountKey: DEV_KEY,
      containerName,
      ...options,
    });
  }

  private async waitUntilListening(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.process?.exitCode !== null) break;
      if (await portAnswers(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const log = await readFile(this.logFile, 'utf8').catch(() => '(no log)');
    await this.kill();
    throw new Error(`Azurite did not listen on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms; its log:\n${log}`);
  }
}

export function testLogger(): pino.Logger {
  return pino({ level: process.env['OP_TEST_LOG_LEVEL'] ?? 'silent' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
