import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/servers/webdav.sh, found from dist/test/ of this package. */
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../../scripts/servers/webdav.sh');

const START_TIMEOUT_MS = 60_000;

/** Credentials that webdav.sh configures for its /basic/ and /bearer/ trees. */
export const BASIC_CREDENTIALS = 'opworker:opworker-secret';
export const BEARER_TOKEN = 'opworker-token';

/**
 * Apache httpd with mod_dav_fs, run by `scripts/servers/webdav.sh` on 127.0.0.1 for one
 * test file. `stop` ends it with SIGTERM, which makes httpd drop open connections at once;
 * `start` brings it back on the same port with the same files.
 */
export class WebdavServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly stateDir: string,
  ) {}

  /** Install what is missing (idempotent), then start a server on a free port. */
  static async launch(): Promise<WebdavServer> {
    const install = spawnSync('bash', [SCRIPT, 'install'], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`webdav.sh install failed (${install.status}): ${install.stderr}`);

    const server = new WebdavServer(await freePort(), mkdtempSync(join(tmpdir(), 'opworker-webdav-')));
    try {
      await server.start();
    } catch (error) {
      await rm(server.stateDir, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  /** Base URL of the server, without a trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What httpd wrote to stdout, stderr and its error log so far. */
  get log(): string {
    let errorLog = '';
    try {
      errorLog = readFileSync(join(this.stateDir, 'error.log'), 'utf8');
    } catch {
      // No error log yet: httpd stopped before opening it, and stderr contains the reason.
    }
    return this.output + errorLog;
  }

  async start(): Promise<void> {
    const child = spawn('bash', [SCRIPT, 'run', String(this.port), this.stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (data: Buffer) => (this.output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (this.output += data.toString()));

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`httpd exited with ${child.exitCode} while starting:\n${this.log}`);
      if (await answersHttp(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.stop();
    throw new Error(`httpd did not answer on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms:\n${this.log}`);
  }

  /** Stop httpd (the script execs it, so the child's PID is httpd's parent process) and wait for it. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  /** Stop the server and remove its files. */
  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** Return a port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** True when an HTTP server responds on the port, whatever its status. */
function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = request({ host: '127.0.0.1', port, path: '/open/', method: 'OPTIONS', timeout: 2000 }, (response) => {
      response.resume();
      resolve(true);
    });
    probe.once('timeout', () => probe.destroy());
    probe.once('error', () => resolve(false));
    probe.end();
  });
}
