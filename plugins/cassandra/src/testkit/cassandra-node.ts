import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Seconds a node may take from `run` to an open CQL port. */
const START_TIMEOUT_SECONDS = 180;

/** Finds the repository root above this file (compiled to plugins/cassandra/dist/src/testkit). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'servers', 'cassandra.sh'))) {
    const parent = resolve(dir, '..');
    if (parent === dir) {
      throw new Error('scripts/servers/cassandra.sh not found above this package; the Cassandra testkit runs only inside the op-worker repository');
    }
    dir = parent;
  }
  return dir;
}

const script = join(repositoryRoot(), 'scripts', 'servers', 'cassandra.sh');

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/**
 * A single Cassandra node run by scripts/servers/cassandra.sh for one test file, on a
 * free port and with its files in a temporary directory. `stop` kills it by its PID;
 * `start` runs it again on the same port and directory, keeping the data.
 */
export class CassandraNode {
  private process: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly stateDir: string,
  ) {}

  static async start(): Promise<CassandraNode> {
    await run('bash', [script, 'install'], { timeout: 600_000 });
    const node = new CassandraNode(await freePort(), mkdtempSync(join(tmpdir(), 'op-cassandra-')));
    await node.start();
    return node;
  }

  get contactPoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Runs the node and waits for its CQL port. Returns the start time in milliseconds. */
  async start(): Promise<number> {
    const startedAt = Date.now();
    const child = spawn('bash', [script, 'run', String(this.port), this.stateDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    child.stdout.on('data', (chunk: Buffer) => this.keepOutput(chunk));
    child.stderr.on('data', (chunk: Buffer) => this.keepOutput(chunk));

    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`Cassandra exited during start (code ${code}, signal ${signal}):\n${this.output}`)),
      );
    });
    exited.catch(() => undefined);
    await Promise.race([
      run('bash', [script, 'wait', String(this.port), String(START_TIMEOUT_SECONDS)]),
      exited,
    ]);
    return Date.now() - startedAt;
  }

  /**
   * Stops the node by its PID and waits for it to exit. SIGTERM lets Cassandra drain
   * (flush and sync the commit log) as an operator's restart does. SIGKILL acts as a
   * crash: with the periodic commit-log sync of the test configuration, writes
   * acknowledged in the last sync period are lost on a single node.
   */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    child.kill(signal);
    await exited;
    this.process = undefined;
  }

  /** Stops the node and removes its files. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  private keepOutput(chunk: Buffer): void {
    // Only the tail matters for a failed start.
    this.output = (this.output + chunk.toString('utf8')).slice(-8000);
  }
}

/**
 * Contact points of the node the tests use: `OP_TEST_CASSANDRA_CONTACT_POINTS`
 * (comma-separated) when set, else a node started for this file.
 */
export async function testCluster(): Promise<{ contactPoints: string[]; node: CassandraNode | undefined }> {
  const external = process.env['OP_TEST_CASSANDRA_CONTACT_POINTS'];
  if (external !== undefined && external.trim() !== '') {
    return { contactPoints: external.split(',').map((point) => point.trim()), node: undefined };
  }
  const node = await CassandraNode.start();
  return { contactPoints: [node.contactPoint], node };
}

/** Returns a keyspace name unique to this test run. */
export function uniqueKeyspace(label: string): string {
  return `op_test_${label}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}
