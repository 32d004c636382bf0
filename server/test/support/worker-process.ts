import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/**
 * Helpers for acceptance tests that run the real `op-worker` binary as a child process
 * and talk to it over HTTP on 127.0.0.1, as a user with curl would.
 */

export const BIN = fileURLToPath(new URL('../../../bin/op-worker.js', import.meta.url));
export const API = '/api/v3/oneprovider';
export const MiB = 1024 * 1024;

/** How long `startWorkerProcess` waits for the URL and token lines, in milliseconds. */
const START_TIMEOUT_MS = 30_000;

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  port: number;
  /** Admin token printed at start. */
  token: string;
  dataDir: string;
  /** Everything the process wrote to stderr so far (pino log lines). */
  stderr(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL by PID and wait until the process is gone. */
  kill(): Promise<void>;
}

/** Spawn `op-worker start --data-dir DIR --port 0` and wait for its URL and admin token lines. */
export function startWorkerProcess(dataDir: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, OP_WORKER_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker did not print its URL and token in ${START_TIMEOUT_MS} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, START_TIMEOUT_MS);
    const onEarlyExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before listening: ${stderr}`));
    };
    child.once('exit', onEarlyExit);

    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /listening on (\S+)/.exec(stdout)?.[1];
      const token = /admin token: (\S+)/.exec(stdout)?.[1];
      if (url === undefined || token === undefined) return;

      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      resolve({
        child,
        pid: child.pid ?? -1,
        url,
        port: Number(new URL(url).port),
        token,
        dataDir,
        stderr: () => stderr,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          const code = new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode)));
          child.kill('SIGTERM');
          return code;
        },
        async kill() {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid ?? -1, 'SIGKILL');
          await exited;
        },
      });
    });
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/** Run an admin command of the binary against `dataDir` and collect its output. */
export function runCli(dataDir: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr, json: parseJson(stdout) }));
  });
}

/** Like `runCli`, but throw with the command's stderr unless it exits with 0. */
export async function runCliOk(dataDir: string, ...args: string[]): Promise<any> {
  const result = await runCli(dataDir, ...args);
  if (result.code !== 0) throw new Error(`op-worker ${args.join(' ')} failed with ${result.code}: ${result.stderr}`);
  return result.json;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Token for `X-Auth-Token`; null sends none. Defaults to the worker's admin token. */
  token?: string | null;
  /** A buffer or string is sent with its length; a stream is sent with `contentLength` or chunked. */
  body?: string | Buffer | Readable;
  contentLength?: number;
}

/**
 * Send one request with Node's http client, which sends the path exactly as given (no
 * `..` resolution or re-encoding, unlike fetch), and return the response head and stream.
 */
export function openRequest(worker: Pick<WorkerProcess, 'port' | 'token'>, requestPath: string, options: HttpOptions = {}): Promise<IncomingMessage> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? worker.token : options.token;
  if (token !== null) headers['X-Auth-Token'] = token;

  const body = options.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) headers['Content-Length'] = String(Buffer.byteLength(body));
  else if (options.contentLength !== undefined) headers['Content-Length'] = String(options.contentLength);

  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: worker.port, path: requestPath, method: options.method ?? 'GET', headers, agent: false },
      resolve,
    );
    outgoing.on('error', reject);
    if (body instanceof Readable) {
      body.on('error', (error) => outgoing.destroy(error));
      body.pipe(outgoing);
    } else {
      outgoing.end(body);
    }
  });
}

/** Send a request and read the whole response body. Use `openRequest` for large bodies. */
export async function send(worker: Pick<WorkerProcess, 'port' | 'token'>, requestPath: string, options: HttpOptions = {}): Promise<HttpResponse> {
  const incoming = await openRequest(worker, requestPath, options);
  const chunks: Buffer[] = [];
  for await (const chunk of incoming as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const text = body.toString('utf8');
  return { status: incoming.statusCode ?? 0, headers: incoming.headers, body, text, json: parseJson(text) };
}

export interface DigestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  length: number;
  sha256: string;
}

/** Send a request and hash the response body as it streams in. */
export async function sendForDigest(worker: Pick<WorkerProcess, 'port' | 'token'>, requestPath: string, options: HttpOptions = {}): Promise<DigestResponse> {
  const incoming = await openRequest(worker, requestPath, options);
  const { length, sha256 } = await digestOf(incoming);
  return { status: incoming.statusCode ?? 0, headers: incoming.headers, length, sha256 };
}

/**
 * Write raw bytes to the worker's port and collect the reply until the server closes the
 * connection or `waitMs` passes. For requests no well-behaved client sends.
 */
export function sendRaw(port: number, bytes: string | Buffer, options: { halfClose: boolean; waitMs: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
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

/**
 * Check that a response has `status` and an Onedata error body
 * `{"error":{"id","description","details"?}}` with a non-empty description, and, when given,
 * the error id `id`. `label` names the case in failure messages.
 */
export function assertErrorResponse(t: ExecutionContext, response: HttpResponse, status: number, id: string | undefined, label: string): void {
  t.is(response.status, status, `${label}: status (body ${response.text.slice(0, 300)})`);
  const error = response.json?.error;
  t.is(typeof error, 'object', `${label}: body has an error object (body ${response.text.slice(0, 300)})`);
  t.true(typeof error?.id === 'string' && error.id !== '', `${label}: error has an id`);
  t.true(typeof error?.description === 'string' && error.description.length > 0, `${label}: error has a description`);
  if (error?.details !== undefined) t.is(typeof error.details, 'object', `${label}: details is an object`);
  if (id !== undefined) t.is(error?.id, id, `${label}: error id`);
  t.regex(String(response.headers['content-type']), /application\/json/, `${label}: content type`);
}

/** True when `GET /health` answers 200 `{"status":"healthy"}`. */
export async function isHealthy(worker: Pick<WorkerProcess, 'port' | 'token'>): Promise<boolean> {
  const response = await send(worker, '/health', { token: null });
  return response.status === 200 && response.json?.status === 'healthy';
}

// Deterministic pseudo-random content. AES-128-CTR over zero bytes gives a keystream that
// any byte range can be recomputed from, so tests compare digests without holding files.

const BLOCK = 16;

function keyOf(seed: string): Buffer {
  return createHash('sha256').update(seed).digest().subarray(0, 16);
}

function counterBlock(blockIndex: number): Buffer {
  const iv = Buffer.alloc(BLOCK);
  iv.writeBigUInt64BE(BigInt(blockIndex), 8);
  return iv;
}

/** Yield `length` bytes of the content named `seed`, starting at byte `offset`, in chunks of at most `chunkSize`. */
export function* pseudoRandomChunks(seed: string, offset: number, length: number, chunkSize = MiB): Generator<Buffer> {
  const firstBlock = Math.floor(offset / BLOCK);
  const skip = offset - firstBlock * BLOCK;
  const cipher = createCipheriv('aes-128-ctr', keyOf(seed), counterBlock(firstBlock));
  if (skip > 0) cipher.update(Buffer.alloc(skip));

  let left = length;
  while (left > 0) {
    const size = Math.min(chunkSize, left);
    yield cipher.update(Buffer.alloc(size));
    left -= size;
  }
}

/** The bytes `[offset, offset + length)` of the content named `seed`, as one buffer. */
export function pseudoRandomBytes(seed: string, offset: number, length: number): Buffer {
  return Buffer.concat([...pseudoRandomChunks(seed, offset, length)]);
}

/**
 * A byte stream of `length` bytes of the content named `seed`. `onProgress` gets the
 * bytes handed to the consumer so far, after each chunk.
 */
export function pseudoRandomStream(seed: string, length: number, onProgress?: (sent: number) => void): Readable {
  let sent = 0;
  const chunks = pseudoRandomChunks(seed, 0, length);
  return Readable.from(
    (function* () {
      for (const chunk of chunks) {
        yield chunk;
        sent += chunk.length;
        onProgress?.(sent);
      }
    })(),
    { objectMode: false },
  );
}

/** A piece of content: `length` bytes of `seed` starting at `seedOffset`, or a fixed buffer. */
export type Piece = { seed: string; seedOffset: number; length: number } | { bytes: Buffer };

/** sha256 and length of the concatenation of `pieces`, computed chunk by chunk. */
export function digestOfPieces(pieces: readonly Piece[]): { length: number; sha256: string } {
  const hash = createHash('sha256');
  let length = 0;
  for (const piece of pieces) {
    const chunks = 'bytes' in piece ? [piece.bytes] : pseudoRandomChunks(piece.seed, piece.seedOffset, piece.length);
    for (const chunk of chunks) {
      hash.update(chunk);
      length += chunk.length;
    }
  }
  return { length, sha256: hash.digest('hex') };
}

/** sha256 and length of a stream or async iterable of buffers. */
export async function digestOf(source: AsyncIterable<Buffer>): Promise<{ length: number; sha256: string }> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    length += chunk.length;
  }
  return { length, sha256: hash.digest('hex') };
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Percent-encode each segment of a relative path, keeping the `/` separators. */
export function encodePath(relativePath: string): string {
  return relativePath.split('/').map(encodeURIComponent).join('/');
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
