/**
 * Pieces shared by the extra benchmarks (`plugins.ts`, `cdmi.ts`, `replication.ts`,
 * `workers.ts`): command-line options, the temporary folder, timed HTTP transfers that
 * stream, the fixture file, medians, the load average, and the replacement of one
 * marked section of BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

/** Options of the benchmarks that move one file: its size in bytes (given in MiB), the rounds, and the report to update. */
export interface SizeOptions {
  size: number;
  rounds: number;
  update?: string;
}

/** Parse `--mib N --rounds N [--update FILE]` with the given defaults. */
export function sizeOptions(defaults: { mib: number; rounds: number }): SizeOptions {
  const { values } = parseArgs({
    options: { mib: { type: 'string', default: String(defaults.mib) }, rounds: { type: 'string', default: String(defaults.rounds) }, update: { type: 'string' } },
  });
  return { size: Number(values.mib) * MiB, rounds: Number(values.rounds), ...(values.update === undefined ? {} : { update: values.update }) };
}

/** Create the benchmark's temporary folder in `OP_BENCH_TMPDIR`, or the system's when it is unset. */
export function benchFolder(name: string): Promise<string> {
  return mkdtemp(path.join(process.env['OP_BENCH_TMPDIR'] ?? tmpdir(), `op-bench-${name}-`));
}
export const GB = 1e9;
export const REST = '/api/v3/oneprovider';

/** Return the 1-minute load average, rounded to one decimal. */
export function load1(): number {
  return Math.round(loadavg()[0]! * 10) / 10;
}

/** Write `size` bytes of random data to `path` in 1 MiB chunks (16 MiB of fresh randomness, repeated). */
export async function writeFixture(path: string, size: number): Promise<void> {
  const block = randomBytes(16 * MiB);
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const length = Math.min(MiB, size - written);
      const from = written % block.length;
      await file.write(block, from, Math.min(length, block.length - from));
      written += Math.min(length, block.length - from);
    }
  } finally {
    await file.close();
  }
}

export interface Timed {
  /** Wall time in seconds. */
  seconds: number;
  /** Bytes of payload moved. */
  bytes: number;
}

export interface UploadResult extends Timed {
  status: number;
  body: string;
}

/**
 * Send `body` (a stream of `size` bytes) with `method` to `url` over one fresh connection
 * and time it from the first byte sent until the response has ended.
 */
export function timedUpload(url: string, method: string, headers: Record<string, string>, body: Readable, size: number): Promise<UploadResult> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, headers: { ...headers, 'Content-Length': String(size) }, agent: false }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        body.destroy();
        resolve({ status: incoming.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), seconds: secondsSince(start), bytes: size });
      });
    });
    outgoing.on('error', reject);
    body.on('error', reject);
    body.pipe(outgoing);
  });
}

export interface DownloadResult extends Timed {
  status: number;
}

/** GET `url` over one fresh connection, drop the body, and time it until the last byte. */
export function timedDownload(url: string, headers: Record<string, string>): Promise<DownloadResult> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { headers, agent: false }, (incoming) => {
      let bytes = 0;
      incoming.on('data', (chunk: Buffer) => (bytes += chunk.length));
      incoming.on('error', reject);
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, bytes, seconds: secondsSince(start) }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** Time an async transfer of `bytes` bytes. */
export async function timed(bytes: number, run: () => Promise<unknown>): Promise<Timed> {
  const start = process.hrtime.bigint();
  await run();
  return { seconds: secondsSince(start), bytes };
}

/** Count the bytes of a stream and wait for its end. */
export async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}

export function fileStream(path: string): Readable {
  return createReadStream(path, { highWaterMark: MiB });
}

export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Throughput in GB/s (10⁹ bytes per second). */
export function rate(timed: Timed): number {
  return timed.bytes / timed.seconds / GB;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** Throw with the reply when a status is not the expected one. */
export function expectStatus(what: string, status: number, expected: number, body = ''): void {
  if (status !== expected) throw new Error(`${what} returned HTTP ${status}, expected ${expected}: ${body.slice(0, 300)}`);
}

/**
 * Replace the section between `start` and `end` markers in `file`, or append it at the
 * end when the markers are missing. The end of BENCHMARKS.md lies below the notes marker
 * that `bench/run.sh` keeps, so its reruns leave the section alone. The write runs under
 * `flock /tmp/op-git.lock` so that it does not interleave with another agent's commit.
 */
export function updateSection(file: string, start: string, end: string, body: string): void {
  const script = `
    const { readFileSync, writeFileSync } = require('node:fs');
    const [file, start, end, body] = process.argv.slice(1);
    const text = readFileSync(file, 'utf8');
    const section = start + '\\n' + body.trim() + '\\n' + end + '\\n';
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    const next = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length).replace(/^\\n/, '') : text.replace(/\\n*$/, '\\n\\n') + section;
    writeFileSync(file, next);`;
  execFileSync('flock', ['/tmp/op-git.lock', process.execPath, '-e', script, file, start, end, body], { stdio: 'inherit' });
}

/** Read the admin token that the worker writes into its data folder during start. */
export async function waitForToken(path: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const token = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (token !== '') return token;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no admin token appeared in ${path} within ${timeoutMs / 1000} s`);
}

export async function writeText(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}
