/**
 * Replication throughput from a POSIX support to an S3 (moto) and an SFTP (OpenSSH's sshd)
 * support of the same space, through the worker's transfer API. A direct copy of the same
 * bytes with the storage's own client runs in the same run. The two paths alternate
 * within each round (which goes first flips every round), and the report quotes the
 * median of the per-round ratios worker / direct.
 *
 *   npx tsc -b bench/tsconfig.extra.json && node bench/dist/extra/replication.js [--mib 256] [--rounds 2] [--update BENCHMARKS.md]
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import SftpClient from 'ssh2-sftp-client';
import { startS3, startSftp, type StorageOptions, type StorageServer } from '@op-worker/integration-tests/dist/src/servers/storages.js';
import { cliJson, startWorkerProcess, type WorkerProcess } from '@op-worker/integration-tests/dist/src/servers/worker.js';
import { benchFolder, sizeOptions, expectStatus, fileStream, fixed, load1, median, MiB, rate, REST, secondsSince, timed, timedUpload, updateSection, writeFixture, type Timed } from './common.js';

const SECTION_START = '<!-- replication-benchmark:start (written by bench/extra/replication.ts) -->';
const SECTION_END = '<!-- replication-benchmark:end -->';

type Target = 's3' | 'sftp';
type PassPath = 'worker' | 'direct';
const TARGETS: Target[] = ['s3', 'sftp'];

/** Part size and parts in flight of the direct S3 upload. The worker's replication chunk to SFTP is 8 MiB too. */
const PART_SIZE = 8 * MiB;
const PARALLEL_PARTS = 4;

/** How often the transfer status is read while a replication runs, in milliseconds. */
const POLL_MS = 100;

/** A replication that has not ended after this long fails the run, in milliseconds. */
const TRANSFER_TIMEOUT_MS = 15 * 60_000;

/** Direct copy of the fixture to `name` on a second location of the same server. */
interface DirectClient {
  write(name: string, fixture: string): Promise<void>;
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}

interface Sample {
  round: number;
  target: Target;
  path: PassPath;
  /** GB/s. */
  rate: number;
  load: number;
}

interface Setup {
  spaceId: string;
  /** File ids on the POSIX support, by round and target, written before the other supports existed. */
  files: Map<string, string>;
  storageIds: Map<Target, string>;
}

async function main(): Promise<void> {
  const { size, rounds, update } = sizeOptions({ mib: 256, rounds: 2 });
  const root = await benchFolder('replication');
  const servers: StorageServer[] = [];
  let worker: WorkerProcess | undefined;
  const clients = new Map<Target, DirectClient>();
  const loadAtStart = load1();

  try {
    const fixture = path.join(root, 'fixture.bin');
    await writeFixture(fixture, size);
    servers.push(...(await Promise.all([startS3(), startSftp()])));
    const dataDir = path.join(root, 'data');
    worker = await startWorkerProcess(dataDir);
    const setup = await setUp(worker, dataDir, servers, clients, fixture, size, rounds);

    const samples: Sample[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const target of TARGETS) {
        const order: PassPath[] = round % 2 === 1 ? ['worker', 'direct'] : ['direct', 'worker'];
        for (const pathName of order) {
          const load = load1();
          const pass = pathName === 'worker' ? await replicate(worker, setup, round, target, size) : await direct(clients.get(target)!, fixture, size, round);
          samples.push({ round, target, path: pathName, rate: rate(pass), load });
          console.log(`round ${round} ${target} ${pathName}: ${fixed(rate(pass), 3)} GB/s, load ${load}`);
        }
      }
    }

    const section = report(samples, size, rounds, loadAtStart, load1());
    console.log(section);
    if (update !== undefined) updateSection(update, SECTION_START, SECTION_END, section);
  } finally {
    for (const client of clients.values()) await client.close().catch(() => undefined);
    await worker?.stop();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Write one file per round and target to the default space while POSIX is its only
 * support, so every file's data is on POSIX. Then add S3 and SFTP as further supports of
 * that space, and open a direct client on a second location of each server.
 */
async function setUp(worker: WorkerProcess, dataDir: string, servers: StorageServer[], clients: Map<Target, DirectClient>, fixture: string, size: number, rounds: number): Promise<Setup> {
  const auth = { 'X-Auth-Token': worker.token };
  const spaces = (await (await fetch(`${worker.url}${REST}/spaces`, { headers: auth })).json()) as Array<{ spaceId: string; name: string }>;
  const space = spaces.find((candidate) => candidate.name === 'default');
  if (space === undefined) throw new Error('the worker created no default space');
  const info = (await (await fetch(`${worker.url}${REST}/spaces/${space.spaceId}`, { headers: auth })).json()) as { dirId: string };

  const files = new Map<string, string>();
  for (let round = 1; round <= rounds; round++) {
    for (const target of TARGETS) {
      const put = await timedUpload(`${worker.url}${REST}/data/${info.dirId}/path/replicate-${target}-${round}.bin`, 'PUT', { ...auth, 'Content-Type': 'application/octet-stream' }, fileStream(fixture), size);
      expectStatus('worker PUT', put.status, 201, put.body);
      files.set(`${round}/${target}`, (JSON.parse(put.body) as { fileId: string }).fileId);
    }
  }

  const storageIds = new Map<Target, string>();
  for (const server of servers) {
    const type = server.type as Target;
    const options = await server.newStorage(`bench-${type}`);
    const added = await cliJson<{ storageId: string }>(dataDir, 'storage', 'add', '--name', type, '--type', type, '--config', JSON.stringify(options));
    await cliJson(dataDir, 'space', 'support', 'default', '--storage', type);
    storageIds.set(type, added.storageId);
    clients.set(type, await directClient(type, await server.newStorage(`direct-${type}`)));
  }
  return { spaceId: space.spaceId, files, storageIds };
}

/** Schedule a replication of this round's file to `target` and time it from the POST until the transfer reads completed. */
async function replicate(worker: WorkerProcess, setup: Setup, round: number, target: Target, size: number): Promise<Timed> {
  const fileId = setup.files.get(`${round}/${target}`)!;
  const headers = { 'X-Auth-Token': worker.token, 'Content-Type': 'application/json' };
  const start = process.hrtime.bigint();
  const created = await fetch(`${worker.url}${REST}/transfers`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ type: 'replication', dataSourceType: 'file', fileId, replicatingProviderId: setup.storageIds.get(target) }),
  });
  const body = await created.text();
  expectStatus('POST /transfers', created.status, 201, body);
  const transferId = (JSON.parse(body) as { transferId: string }).transferId;

  const status = await waitForEnd(worker, transferId);
  const seconds = secondsSince(start);
  if (status.transferStatus !== 'completed') throw new Error(`replication ${transferId} to ${target} ended ${status.transferStatus}: ${JSON.stringify(status)}`);
  if (status.bytesReplicated !== size) throw new Error(`replication ${transferId} to ${target} copied ${status.bytesReplicated} bytes, expected ${size}`);
  return { seconds, bytes: size };
}

interface TransferStatus {
  transferStatus: string;
  finishTime: number;
  bytesReplicated: number;
}

async function waitForEnd(worker: WorkerProcess, transferId: string): Promise<TransferStatus> {
  const deadline = Date.now() + TRANSFER_TIMEOUT_MS;
  for (;;) {
    const reply = await fetch(`${worker.url}${REST}/transfers/${transferId}`, { headers: { 'X-Auth-Token': worker.token } });
    const text = await reply.text();
    expectStatus(`GET /transfers/${transferId}`, reply.status, 200, text);
    const status = JSON.parse(text) as TransferStatus;
    if (status.finishTime !== 0) return status;
    if (Date.now() > deadline) throw new Error(`replication ${transferId} timed out after ${TRANSFER_TIMEOUT_MS / 1000} s: ${text}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function direct(client: DirectClient, fixture: string, size: number, round: number): Promise<Timed> {
  const name = `direct-${round}.bin`;
  const pass = await timed(size, () => client.write(name, fixture));
  await client.remove(name);
  return pass;
}

async function directClient(type: Target, options: StorageOptions): Promise<DirectClient> {
  return type === 's3' ? s3Client(options) : sftpClient(options);
}

function s3Client(options: StorageOptions): DirectClient {
  const bucket = String(options['bucketName']);
  const client = new S3Client({
    endpoint: String(options['hostname']),
    region: String(options['region']),
    forcePathStyle: true,
    credentials: { accessKeyId: String(options['accessKey']), secretAccessKey: String(options['secretKey']) },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    async write(name, fixture) {
      await new Upload({ client, params: { Bucket: bucket, Key: name, Body: fileStream(fixture) }, partSize: PART_SIZE, queueSize: PARALLEL_PARTS }).done();
    },
    remove: async (name) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: name }))),
    close: async () => client.destroy(),
  };
}

/** ssh2-sftp-client's parallel `fastPut`. */
async function sftpClient(options: StorageOptions): Promise<DirectClient> {
  const client = new SftpClient();
  await client.connect({ host: String(options['hostname']), port: Number(options['port']), username: String(options['username']), privateKey: String(options['privateKey']) });
  const remote = (name: string): string => `${String(options['rootPath'])}/${name}`;
  return {
    write: async (name, fixture) => void (await client.fastPut(fixture, remote(name))),
    remove: async (name) => void (await client.delete(remote(name), true)),
    close: async () => void (await client.end()),
  };
}

function report(samples: Sample[], size: number, rounds: number, loadStart: number, loadEnd: number): string {
  const of = (target: Target, pathName: PassPath) => samples.filter((s) => s.target === target && s.path === pathName);
  const ratio = (target: Target) => {
    const directs = of(target, 'direct');
    return median(of(target, 'worker').map((w, i) => w.rate / directs[i]!.rate));
  };
  const loads = (list: Sample[]) => list.map((s) => s.load).join(', ');
  const mark = (value: number) => (value >= 0.8 ? 'met' : '**missed**');

  const lines = [
    '## Replication: worker transfer next to a direct copy',
    '',
    `Run of ${new Date().toISOString()}, command \`node bench/dist/extra/replication.js --mib ${size / MiB} --rounds ${rounds}\`.`,
    `File of ${size / MiB} MiB of random bytes${size < 1024 * MiB ? ' (smaller than 1 GiB to keep the run short on a machine shared with other agents; moto holds objects in memory)' : ''},`,
    `${rounds} rounds; in each round and target the worker path and the direct path run one after the other, and which goes first flips every round.`,
    `1-minute load average: ${loadStart} at the start, ${loadEnd} at the end (2 CPUs); the load column gives it when each pass began.`,
    'Worker: the file sits on the POSIX support of a space that S3 and SFTP also support; `POST /transfers` schedules a replication to the target storage,',
    `timed from the POST until \`GET /transfers/{id}\` (read every ${POLL_MS} ms) reports it completed, so the figure includes up to one poll interval.`,
    `Direct: the same bytes from a local file, S3 \`@aws-sdk/lib-storage\` Upload with ${PART_SIZE / MiB} MiB parts, ${PARALLEL_PARTS} in flight; SFTP ssh2-sftp-client \`fastPut\`.`,
    'Servers: moto and sshd via `scripts/servers/`.',
    '',
    '| Target | worker (GB/s) | load | direct (GB/s) | load | ratio | target ≥ 0.8× |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const target of TARGETS) {
    const worker = of(target, 'worker');
    const directs = of(target, 'direct');
    const value = ratio(target);
    lines.push(`| POSIX → ${target} | ${fixed(median(worker.map((s) => s.rate)), 3)} | ${loads(worker)} | ${fixed(median(directs.map((s) => s.rate)), 3)} | ${loads(directs)} | ${fixed(value)}× | ${mark(value)} |`);
  }
  lines.push(
    '',
    'To SFTP the worker replicates in 8 MiB chunks, each written at its offset and recorded as it lands, one after another.',
    'S3 declares that an offset write rebuilds the object (`write_at_offset_rewrites_object`), so a file S3 lacks entirely',
    'goes in one streamed upload, recorded when it completes.',
  );
  lines.push('', 'Every pass (GB/s; load is the 1-minute load average when the pass began):', '', '| Round | Target | Path | GB/s | load |', '|---|---|---|---|---|');
  for (const s of samples) lines.push(`| ${s.round} | ${s.target} | ${s.path} | ${fixed(s.rate, 3)} | ${s.load} |`);
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
