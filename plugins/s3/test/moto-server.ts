import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../scripts/servers/moto.sh');
const START_TIMEOUT_MS = 60_000;

/** A moto S3 server started by a test, or one named by OP_TEST_S3_ENDPOINT. */
export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Stop the server if this process started it. */
  stop(): Promise<void>;
}

/**
 * Start `scripts/servers/moto.sh run` on a free port and wait until it accepts
 * connections. Throws with the server's log when no connection succeeds within 60 s.
 */
export async function startMoto(): Promise<MotoServer> {
  const external = process.env['OP_TEST_S3_ENDPOINT'];
  if (external !== undefined && external !== '') {
    return { endpoint: external, port: Number(new URL(external).port), stop: async () => {} };
  }

  const port = await freePort();
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'op-s3-moto-'));
  const logPath = path.join(stateDir, 'moto.log');
  const child = await spawnLogged(['run', String(port), stateDir], logPath);

  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    const log = await readFile(logPath, 'utf8').catch(() => '(no log)');
    throw new Error(`moto did not start on 127.0.0.1:${port}: ${(error as Error).message}\n${log}`);
  }

  return { endpoint: `http://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

async function spawnLogged(args: string[], logPath: string): Promise<ChildProcess> {
  const { openSync } = await import('node:fs');
  const log = openSync(logPath, 'a');
  return spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', log, log] });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`);
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no answer within ${START_TIMEOUT_MS / 1000} s`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Kill the server by its PID (the script execs moto_server, so the PID is the server's). */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
