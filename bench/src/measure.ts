/** The measuring tools: curl for the large transfers, wrk for the request rate, /proc for RSS. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TransferResult {
  seconds: number;
  bytes: number;
  bytesPerSecond: number;
}

/**
 * GETs url with curl, discarding the body to /dev/null, and returns curl's total time.
 * Fails unless the status is 200 and expectedBytes arrived.
 */
export async function timeDownload(url: string, headers: Record<string, string>, expectedBytes: number): Promise<TransferResult> {
  const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', ...headerArgs(headers), url];
  return runCurl(args, 'GET', url, [200], expectedBytes);
}

/**
 * PUTs the file at path to url with curl and returns curl's total time, which ends when
 * the server's reply arrives (after its fsync, for servers that sync).
 */
export async function timeUpload(url: string, headers: Record<string, string>, path: string, expectedBytes: number): Promise<TransferResult> {
  // An empty Expect header stops curl from waiting for `100 Continue` before the body.
  const args = ['-sS', '-T', path, '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream', '-o', '/dev/null', '-w', '%{http_code} %{size_upload} %{time_total}', ...headerArgs(headers), url];
  return runCurl(args, 'PUT', url, [200, 201, 204], expectedBytes);
}

async function runCurl(args: string[], method: string, url: string, okStatuses: number[], expectedBytes: number): Promise<TransferResult> {
  const { stdout } = await execFileAsync('curl', args, { maxBuffer: 1024 * 1024 });
  const [status, bytes, seconds] = stdout.trim().split(' ').map(Number) as [number, number, number];
  if (!okStatuses.includes(status)) {
    throw new Error(`${method} ${url}: status ${status}, expected one of ${okStatuses.join(', ')}`);
  }
  if (bytes !== expectedBytes) {
    throw new Error(`${method} ${url}: transferred ${bytes} bytes, expected ${expectedBytes}`);
  }
  return { seconds, bytes, bytesPerSecond: bytes / seconds };
}

function headerArgs(headers: Record<string, string>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
}

export interface RssPeak {
  baselineBytes: number;
  peakBytes: number;
  /** Peak minus baseline, in bytes. */
  growthBytes: number;
  samples: number;
}

export const RSS_SAMPLE_INTERVAL_MS = 100;

/** Reads VmRSS of a process from /proc/<pid>/status, in bytes. */
export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (match === null) {
    throw new Error(`/proc/${pid}/status has no VmRSS line; is process ${pid} running?`);
  }
  return Number(match[1]) * 1024;
}

/**
 * Samples the RSS of pid every RSS_SAMPLE_INTERVAL_MS while work runs. The baseline is
 * the sample taken just before work starts.
 */
export async function sampleRssDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; rss: RssPeak }> {
  const baselineBytes = readRss(pid);
  let peakBytes = baselineBytes;
  let samples = 1;
  const timer = setInterval(() => {
    peakBytes = Math.max(peakBytes, readRss(pid));
    samples++;
  }, RSS_SAMPLE_INTERVAL_MS);

  try {
    const result = await work();
    peakBytes = Math.max(peakBytes, readRss(pid));
    samples++;
    return { result, rss: { baselineBytes, peakBytes, growthBytes: peakBytes - baselineBytes, samples } };
  } finally {
    clearInterval(timer);
  }
}

export interface WrkOptions {
  baseUrl: string;
  pathListFile: string;
  luaScript: string;
  headers: Record<string, string>;
  connections: number;
  threads: number;
  durationSeconds: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  non2xxResponses: number;
  socketErrors: number;
}

/** Runs wrk with the rotating-path script and parses its summary. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const header = Object.entries(options.headers)[0];
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    '-s',
    options.luaScript,
    options.baseUrl,
    '--',
    options.pathListFile,
    ...(header === undefined ? [] : header),
  ];
  const { stdout } = await execFileAsync('wrk', args, { maxBuffer: 1024 * 1024, timeout: (options.durationSeconds + 30) * 1000 });
  return parseWrkOutput(stdout);
}

export function parseWrkOutput(output: string): WrkResult {
  const rate = output.match(/Requests\/sec:\s+([\d.]+)/);
  const total = output.match(/(\d+) requests in/);
  if (rate === null || total === null) {
    throw new Error(`wrk printed no request rate:\n${output}`);
  }

  const non2xx = output.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  const socket = output.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, count) => sum + Number(count), 0);
  return {
    requestsPerSecond: Number(rate[1]),
    requests: Number(total[1]),
    non2xxResponses: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors,
  };
}
