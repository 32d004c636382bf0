import { spawn, type ChildProcess } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * The real `op-worker` binary for end-to-end tests: `start` as a child process, admin
 * commands (`storage add`, `space create`, ...) run beside it on the same data folder,
 * and a small HTTP client for the REST API.
 */

/** `server/bin/op-worker.js`, found from this module's compiled place `integration/dist/src/servers/`. */
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../server/bin/op-worker.js');

export const REST = '/api/v3/oneprovider';

/** Environment of every worker process: warnings only, and no AWS SDK notice about the Node version. */
function workerEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, OP_WORKER_LOG_LEVEL: 'warn', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
}

export interface WorkerProcess {
  url: string;
  port: number;
  /** The embedded admin's token, a secret. */
  token: string;
  /** The worker's stderr output so far: its warn and error logs. */
  readonly stderr: string;
  /** End the process with SIGTERM, which lets it close its listener and store. */
  stop(): Promise<void>;
  /** End the process with SIGKILL, as a crash would: no cleanup runs. */
  kill(): Promise<void>;
}

export interface WorkerProcessOptions {
  /** More arguments of `op-worker start`, e.g. `['--job-lease-ttl-ms', '3000']`. */
  args?: string[];
}

/** Spawn `op-worker start` on a free port and wait (at most 60 s) for its URL and admin token lines. */
export function startWorkerProcess(dataDir: string, options: WorkerProcessOptions = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0', ...(options.args ?? [])], {
    env: workerEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`op-worker did not start within 60 s; stdout: ${stdout}; stderr: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`op-worker exited with code ${code} while starting: ${stderr}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /listening on (\S+)/.exec(stdout)?.[1];
      const token = /admin token: (\S+)/.exec(stdout)?.[1];
      if (url === undefined || token === undefined) return;

      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        url,
        port: Number(new URL(url).port),
        token,
        get stderr() {
          return stderr;
        },
        stop: () => stopProcess(child),
        kill: () => stopProcess(child, 'SIGKILL'),
      });
    });
  });
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run one `op-worker` admin command on a data folder. */
export function runCli(dataDir: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--data-dir', dataDir], { env: workerEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run an admin command that must succeed and return its JSON output. */
export async function cliJson<T>(dataDir: string, ...args: string[]): Promise<T> {
  const result = await runCli(dataDir, ...args);
  if (result.code !== 0) throw new Error(`op-worker ${args.join(' ')} failed with exit code ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  /** A whole body, or a stream sent with the given `contentLength`. */
  body?: Buffer | Readable;
  contentLength?: number;
}

/**
 * Send one request to the worker with its admin token. Paths go out exactly as given,
 * so a test controls the percent-encoding. A response that comes before the body is
 * sent (an early error) is returned as soon as it is complete, and the rest of the
 * body is dropped.
 */
export function send(worker: WorkerProcess, requestPath: string, options: HttpRequest = {}): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'X-Auth-Token': worker.token, ...options.headers };
  const body = options.body;
  if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
  else if (body !== undefined) headers['Content-Length'] = String(options.contentLength);

  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: worker.port, path: requestPath, method: options.method ?? 'GET', headers, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
        const bytes = Buffer.concat(chunks);
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: bytes, json: () => JSON.parse(bytes.toString('utf8')) });
      });
    });
    outgoing.on('error', reject);

    if (body === undefined || Buffer.isBuffer(body)) {
      outgoing.end(body);
      return;
    }
    body.pipe(outgoing);
    // The worker may close the connection after an early error response; the response
    // (or the request error) settles the promise, not the body stream.
    body.on('error', () => undefined);
  });
}

/** Percent-encode each segment of a relative path for the REST `{path}` parameters. */
export function encodePath(relativePath: string): string {
  return relativePath.split('/').map(encodeURIComponent).join('/');
}
