import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/servers/sshd.sh, found from dist/test/ of this package. */
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../../scripts/servers/sshd.sh');

/** Home of the test user the script creates; test storage roots live below it. */
export const TEST_HOME = '/var/lib/opworker-sftp';
export const TEST_USER = 'opworker-sftp';

const START_TIMEOUT_MS = 60_000;

/**
 * An OpenSSH sshd run by `scripts/servers/sshd.sh` on 127.0.0.1, for one test file.
 * `crash` kills it the hard way, sessions included, and `restart` brings it back on
 * the same port with the same keys.
 */
export class SshdServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly stateDir: string,
  ) {}

  /** Install what is missing (idempotent), then start a server on a free port. */
  static async start(): Promise<SshdServer> {
    const install = spawnSync('bash', [SCRIPT, 'install'], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`sshd.sh install failed (${install.status}): ${install.stderr}`);

    const server = new SshdServer(await freePort(), mkdtempSync(join(tmpdir(), 'opworker-sshd-')));
    await server.launch();
    return server;
  }

  get clientKey(): string {
    return readFileSync(join(this.stateDir, 'client_key'), 'utf8');
  }

  get hostFingerprint(): string {
    return readFileSync(join(this.stateDir, 'host_fingerprint'), 'utf8').trim();
  }

  /** What sshd wrote to stdout and stderr so far. */
  get log(): string {
    return this.output;
  }

  /**
   * Kill sshd and every session process it forked, by PID, with SIGKILL: the
   * listener alone would leave running sessions (they are in their own session
   * groups) and their uploads would go on.
   */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null) return;

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already: a session may end between the scan and the kill.
      }
    }
    await exited;
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.crash();
    await this.launch();
  }

  /** Stop the server and remove its state directory. */
  async stop(): Promise<void> {
    await this.crash();
    await rm(this.stateDir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const child = spawn('bash', [SCRIPT, 'run', String(this.port), this.stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (data: Buffer) => (this.output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (this.output += data.toString()));

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode} while starting:\n${this.output}`);
      if (await answersWithBanner(this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.crash();
    throw new Error(`sshd did not answer on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms:\n${this.output}`);
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

/** True when something on the port greets with an SSH identification line. */
function answersWithBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data: Buffer) => done(data.toString().startsWith('SSH-')));
  });
}

/** PIDs of all processes below `root`, from /proc. */
function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may hold spaces and parentheses; the fields after its ')' do not.
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
