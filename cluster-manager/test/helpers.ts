import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { StatusReport } from '../src/index.js';

export const BIN = fileURLToPath(new URL('../../bin/op-cluster-manager.js', import.meta.url));
export const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
export const API = '/api/v3/oneprovider';

/** Workers load only the POSIX plugin, which keeps their start short. */
const TEST_ENV = { ...process.env, OP_WORKER_PLUGINS: '@op-worker/plugin-posix', OP_WORKER_LOG_LEVEL: 'warn' };

export interface RunningManager {
  child: ChildProcess;
  /** Shared URL of the workers. */
  url: string;
  statusUrl: string;
  /** Everything the process wrote to stderr so far (pino JSON lines). */
  log(): string;
  /** Every stdout line so far. */
  output(): string;
}

/** Make a temporary folder removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Spawn `op-cluster-manager <args>` and wait (at most 60 s) until stdout has printed
 * `expectedUrls` pairs of "serving on" and "status on" lines. The process and every worker
 * it reported are killed when the test ends. `env` adds to or replaces the test environment.
 */
export async function spawnManager(t: ExecutionContext, args: string[], expectedUrls = 1, env: Record<string, string> = {}): Promise<RunningManager> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...TEST_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.teardown(() => killTree(child, stderr));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`manager did not start in 60 s; stdout: ${stdout} stderr: ${stderr.slice(-3000)}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`manager exited with ${code} before it started: ${stderr.slice(-3000)}`)));
    child.stdout?.on('data', () => {
      if ((stdout.match(/status on /g) ?? []).length < expectedUrls) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve();
    });
  });

  const url = /serving on (\S+)/.exec(stdout)?.[1] ?? '';
  const statusUrl = (/status on (\S+)\/status/.exec(stdout)?.[1] ?? '').replace(/\/$/, '');
  return { child, url, statusUrl, log: () => stderr, output: () => stdout };
}

/** Kill the manager and the workers it logged, in case a test left them running. */
function killTree(child: ChildProcess, log: string): void {
  killWorkersOf(log);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Kill every worker and manager process that `log` reports as started and that still runs. */
export function killWorkersOf(log: string): void {
  for (const match of log.matchAll(/"(?:workerPid|managerPid)":(\d+)[^\n]*"msg":"(?:worker starting|manager process started)"/g)) {
    try {
      process.kill(Number(match[1]), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Keys repeated at the top level of one JSON object text, e.g. a pino line with a binding logged twice. */
export function duplicateKeys(json: string): string[] {
  const seen = new Set<string>();
  const repeated: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i += 1) {
    const char = json[i];
    if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
    else if (char === '"') {
      const end = endOfString(json, i);
      const isKey = depth === 1 && json[end + 1] === ':';
      const key = json.slice(i + 1, end);
      if (isKey && seen.has(key)) repeated.push(key);
      if (isKey) seen.add(key);
      i = end;
    }
  }
  return repeated;
}

/** Index of the quote that closes the JSON string opening at `start`. */
function endOfString(json: string, start: number): number {
  let i = start + 1;
  while (i < json.length && json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
  return i;
}

export async function getStatus(statusUrl: string): Promise<StatusReport> {
  const response = await fetch(`${statusUrl}/status`);
  if (!response.ok) throw new Error(`GET ${statusUrl}/status failed with ${response.status}`);
  return (await response.json()) as StatusReport;
}

/** Poll `check` every 100 ms until it returns a value, for at most `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface HttpResult {
  status: number;
  body: Buffer;
}

/** One HTTP request on a fresh connection (no keep-alive), with a 10 s timeout. */
export function httpRequest(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, headers, agent: false, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${url} timed out`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Id of the root directory of the space `spaceName`, through the REST API. */
export async function spaceDirId(url: string, token: string, spaceName: string): Promise<string> {
  const headers = { 'X-Auth-Token': token };
  const spaces = JSON.parse((await httpRequest('GET', `${url}${API}/spaces`, headers)).body.toString()) as Array<{ spaceId: string; name: string }>;
  const space = spaces.find((entry) => entry.name === spaceName);
  if (space === undefined) throw new Error(`space ${spaceName} not found among ${JSON.stringify(spaces)}`);
  const details = JSON.parse((await httpRequest('GET', `${url}${API}/spaces/${space.spaceId}`, headers)).body.toString()) as { dirId: string };
  return details.dirId;
}

export async function adminToken(dataDir: string): Promise<string> {
  return (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
}

/** An upload that returned success: the file id and the digest of what was sent. */
export interface Upload {
  fileId: string;
  digest: string;
}

export interface LoadReport {
  uploads: Upload[];
  /** Completed uploads and downloads whose response was as expected. */
  succeeded: number;
  /** Error messages and unexpected statuses, in order. */
  failures: string[];
}

/**
 * Run `concurrency` loops, each uploading a new random file of `fileSize` bytes and
 * downloading it again, until `stop()` resolves (bounded by `maxRequests` per loop).
 */
export async function runLoad(options: {
  url: string;
  token: string;
  dirId: string;
  concurrency: number;
  fileSize: number;
  maxRequests: number;
  until: Promise<unknown>;
  /** Filled while the load runs, so a test can read progress. */
  report?: LoadReport;
}): Promise<LoadReport> {
  const report: LoadReport = options.report ?? { uploads: [], succeeded: 0, failures: [] };
  let stopped = false;
  void options.until.finally(() => (stopped = true));
  const headers = { 'X-Auth-Token': options.token };

  const loop = async (loopIndex: number): Promise<void> => {
    for (let i = 0; i < options.maxRequests && !stopped; i += 1) {
      const content = randomBytes(options.fileSize);
      const name = `load-${loopIndex}-${i}-${Date.now()}.bin`;
      try {
        const upload = await httpRequest('PUT', `${options.url}${API}/data/${options.dirId}/path/${name}`, headers, content);
        if (upload.status !== 201) {
          report.failures.push(`PUT ${name}: status ${upload.status} ${upload.body.toString().slice(0, 200)}`);
          continue;
        }
        const { fileId } = JSON.parse(upload.body.toString()) as { fileId: string };
        report.uploads.push({ fileId, digest: sha256(content) });
        report.succeeded += 1;

        const download = await httpRequest('GET', `${options.url}${API}/data/${fileId}/content`, headers);
        if (download.status === 200 && sha256(download.body) === sha256(content)) report.succeeded += 1;
        else report.failures.push(`GET ${name}: status ${download.status}, ${download.body.length} bytes`);
      } catch (error) {
        report.failures.push(`${name}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => loop(index)));
  return report;
}
