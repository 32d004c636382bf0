import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A test server run by one of the repository's `scripts/servers/<name>.sh` scripts.
 * The scripts are the part shared with the plugins' own tests: each has an `install`
 * verb (idempotent) and a `run <port> <state-dir>` verb that runs the server in the
 * foreground on 127.0.0.1. This class only spawns, waits and kills, so one class serves
 * moto, sshd and Azurite alike.
 */

/** `scripts/servers` of the repository, found from this module's compiled place `integration/dist/src/servers/`. */
const SCRIPTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../scripts/servers');

const START_TIMEOUT_MS = 60_000;

export type ServerName = 'moto' | 'sshd' | 'azurite';

export interface ScriptServerOptions {
  /** Extra environment variables for the server process. */
  env?: Record<string, string>;
  /**
   * Readiness check run against the port; the default is a successful TCP connect.
   * sshd accepts connections before it can greet, so it checks for the SSH banner.
   */
  ready?: (port: number) => Promise<boolean>;
}

export class ScriptServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly name: ServerName,
    readonly port: number,
    /** The server's state directory; it outlives `kill` so that `start` resumes with the same data. */
    readonly stateDir: string,
    private readonly options: ScriptServerOptions,
  ) {}

  /** Run the script's `install` verb, then start the server on a free port of 127.0.0.1. */
  static async start(name: ServerName, options: ScriptServerOptions = {}): Promise<ScriptServer> {
    const install = spawnSync('bash', [scriptPath(name), 'install'], { encoding: 'utf8' });
    if (install.status !== 0) {
      throw new Error(`scripts/servers/${name}.sh install failed with exit code ${install.status}: ${install.stderr}`);
    }

    const server = new ScriptServer(name, await freePort(), await mkdtemp(path.join(tmpdir(), `op-it-${name}-`)), options);
    await server.launch();
    return server;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Start the server again on the same port and state directory after `kill`. */
  async launch(): Promise<void> {
    if (this.running) return;
    const logFile = path.join(this.stateDir, 'server.log');
    const log = openSync(logFile, 'a');
    const child = spawn('bash', [scriptPath(this.name), 'run', String(this.port), path.join(this.stateDir, 'data')], {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...this.options.env },
    });
    this.child = child;

    const ready = this.options.ready ?? canConnect;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ready(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await this.kill();
    const output = await readFile(logFile, 'utf8').catch(() => '(no log)');
    throw new Error(`${this.name} did not become ready on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS / 1000} s; its log:\n${output}`);
  }

  /**
   * Send `signal` (SIGKILL by default) to the server and to every process it forked
   * (sshd's sessions run in their own process groups and would go on serving), by PID,
   * and wait until the server has exited.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || !this.running) return;

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
      try {
        process.kill(pid, signal);
      } catch {
        // The process ended between the scan and the kill.
      }
    }
    await exited;
  }

  /** Kill the server and remove its state directory. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

function scriptPath(name: ServerName): string {
  return path.join(SCRIPTS_DIR, `${name}.sh`);
}

/** Return a port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True when the port greets with an SSH identification line (`SSH-2.0-...`). */
export function greetsWithSshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data: Buffer) => done(data.toString().startsWith('SSH-')));
  });
}

/** PIDs of all processes below `root`, read from /proc. */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses; the fields after its last ')' do not.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
    } catch {
      // The process ended during the scan.
    }
  }

  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next = [...parents].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}
