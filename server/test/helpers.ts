import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock, type Core, type SpaceInfo, type UserRecord } from '@op-worker/core';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { DEFAULT_CONFIG, type WorkerConfig } from '../src/config.js';
import { openCore } from '../src/core.js';
import { ensureEmbeddedDefaults } from '../src/embedded.js';
import { spacePrivilegeCheck } from '../src/rest/privileges.js';

export const API = '/api/v3/oneprovider';

/** A worker app on a real SQLite store and POSIX storage in a temporary folder. */
export interface TestWorker {
  root: string;
  dataDir: string;
  core: Core;
  server: Server;
  port: number;
  admin: UserRecord;
  space: SpaceInfo;
  token: string;
  close(): Promise<void>;
}

export async function startTestWorker(): Promise<TestWorker> {
  const root = await mkdtemp(path.join(tmpdir(), 'op-server-'));
  const dataDir = path.join(root, 'data');
  const logger = pino({ level: 'silent' });
  const config: WorkerConfig = { ...DEFAULT_CONFIG, dataDir, port: 0, logLevel: 'silent' };

  const core = await openCore(config, logger);
  const defaults = await ensureEmbeddedDefaults(core, dataDir, 3600, logger);
  const app = createApp({
    lfs: core.lfs,
    users: core.users,
    tokens: core.tokens,
    shares: core.shares,
    spacePrivileges: spacePrivilegeCheck(core.store, systemClock),
    importer: core.importer,
    logger,
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
  });

  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    root,
    dataDir,
    core,
    server,
    port,
    admin: defaults.admin,
    space: defaults.space,
    token: defaults.adminToken,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await core.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  token?: string | null;
}

/**
 * Send one request with node's http client, which keeps the path exactly as given
 * (no `..` resolution), unlike fetch.
 */
export function send(worker: TestWorker, requestPath: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? worker.token : options.token;
  if (token !== null) headers['X-Auth-Token'] = token;
  if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));

  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: worker.port, path: requestPath, method: options.method ?? 'GET', headers, agent: false },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body, text, json });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/**
 * Write raw bytes to the worker's port and collect what comes back until the server
 * closes the connection or `waitMs` passes. Used for bodies that disagree with their
 * Content-Length, which no well-behaved client sends.
 */
export function sendRaw(worker: TestWorker, bytes: string | Buffer, options: { halfClose: boolean; waitMs: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(worker.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(finish, options.waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(bytes, () => {
      if (options.halfClose) socket.end();
    });
  });
}

/** Create a file in the space root over REST and return its id. */
export async function createFile(worker: TestWorker, name: string, content: string | Buffer): Promise<string> {
  const response = await send(worker, `${API}/data/${worker.space.dirId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: content,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (response.status !== 201) throw new Error(`creating ${name} failed: ${response.status} ${response.text}`);
  return response.json.fileId as string;
}

/** Flip one hex digit of a file id's CRC field, keeping everything else. */
export function withBadCrc(fileId: string): string {
  const crcDigit = fileId[12] === '0' ? '1' : '0';
  return fileId.slice(0, 12) + crcDigit + fileId.slice(13);
}
