/**
 * Large-file write and read per storage plugin, through the worker's REST API and
 * directly with the plugin's own SDK, in one run. The two paths alternate within each
 * round (which goes first flips every round), and the report quotes the median of the
 * per-round ratios worker / direct. Servers: moto (S3), OpenSSH's sshd (SFTP), Azurite
 * (Azure) started by `scripts/servers/<name>.sh`, and a POSIX directory.
 *
 *   npx tsc -b bench/tsconfig.extra.json && node bench/dist/extra/plugins.js [--mib 256] [--rounds 2] [--update BENCHMARKS.md]
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import SftpClient from 'ssh2-sftp-client';
import { startAzure, startS3, startSftp, type StorageOptions, type StorageServer } from '@op-worker/integration-tests/dist/src/servers/storages.js';
import { cliJson, startWorkerProcess, type WorkerProcess } from '@op-worker/integration-tests/dist/src/servers/worker.js';
import { benchFolder, sizeOptions, drain, expectStatus, fileStream, fixed, load1, median, MiB, rate, REST, timed, timedDownload, timedUpload, updateSection, writeFixture, type Timed } from './common.js';

const SECTION_START = '<!-- plugins-benchmark:start (written by bench/extra/plugins.ts) -->';
const SECTION_END = '<!-- plugins-benchmark:end -->';

type PluginType = 'posix' | 's3' | 'sftp' | 'azure';
const TYPES: PluginType[] = ['posix', 's3', 'sftp', 'azure'];

/** Part size and parts in flight of the direct S3 and Azure transfers. The plugins' default part size is 8 MiB too. */
const PART_SIZE = 8 * MiB;
const PARALLEL_PARTS = 4;

/** One direct (SDK) path of a plugin: write the fixture to `name`, read `name` back, remove it. */
interface DirectClient {
  write(name: string, fixture: string): Promise<void>;
  read(name: string): Promise<number>;
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}

interface Sample {
  round: number;
  type: PluginType;
  path: 'worker' | 'direct';
  write: number;
  read: number;
  load: number;
}

async function main(): Promise<void> {
  const { size, rounds, update } = sizeOptions({ mib: 256, rounds: 2 });
  const root = await benchFolder('plugins');
  const servers: StorageServer[] = [];
  let worker: WorkerProcess | undefined;
  const clients = new Map<PluginType, DirectClient>();
  const loadAtStart = load1();

  try {
    const fixture = path.join(root, 'fixture.bin');
    await writeFixture(fixture, size);
    servers.push(...(await Promise.all([startS3(), startSftp(), startAzure()])));
    const dataDir = path.join(root, 'data');
    worker = await startWorkerProcess(dataDir);
    const spaceDirs = await setUpSpaces(worker, dataDir, servers, clients, root);

    const samples: Sample[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const type of TYPES) {
        const order: Array<'worker' | 'direct'> = round % 2 === 1 ? ['worker', 'direct'] : ['direct', 'worker'];
        for (const which of order) {
          const sample = which === 'worker' ? await throughWorker(worker, spaceDirs.get(type)!, fixture, size, round) : await direct(clients.get(type)!, fixture, size, round);
          samples.push({ round, type, path: which, write: rate(sample.write), read: rate(sample.read), load: sample.load });
          console.log(`round ${round} ${type} ${which}: write ${fixed(rate(sample.write))} GB/s, read ${fixed(rate(sample.read))} GB/s, load ${sample.load}`);
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

/** Add each remote storage to the worker with a space on it, and open a direct client on a second location of the same server. */
async function setUpSpaces(worker: WorkerProcess, dataDir: string, servers: StorageServer[], clients: Map<PluginType, DirectClient>, root: string): Promise<Map<PluginType, string>> {
  const dirs = new Map<PluginType, string>();
  const spaces = (await (await fetch(`${worker.url}${REST}/spaces`, { headers: { 'X-Auth-Token': worker.token } })).json()) as Array<{ spaceId: string; name: string }>;
  const defaultSpace = spaces.find((space) => space.name === 'default');
  if (defaultSpace === undefined) throw new Error('the worker created no default space');
  const info = (await (await fetch(`${worker.url}${REST}/spaces/${defaultSpace.spaceId}`, { headers: { 'X-Auth-Token': worker.token } })).json()) as { dirId: string };
  dirs.set('posix', info.dirId);
  const posixDirect = path.join(root, 'posix-direct');
  await mkdir(posixDirect);
  clients.set('posix', posixClient(posixDirect));

  for (const server of servers) {
    const options = await server.newStorage(`bench-${server.type}`);
    await cliJson(dataDir, 'storage', 'add', '--name', server.type, '--type', server.type, '--config', JSON.stringify(options));
    await cliJson(dataDir, 'space', 'create', `${server.type}-space`, '--owner', 'admin');
    const space = await cliJson<{ dirId: string }>(dataDir, 'space', 'support', `${server.type}-space`, '--storage', server.type);
    dirs.set(server.type, space.dirId);
    clients.set(server.type, await directClient(server.type, await server.newStorage(`direct-${server.type}`)));
  }
  return dirs;
}

async function directClient(type: StorageServer['type'], options: StorageOptions): Promise<DirectClient> {
  if (type === 's3') return s3Client(options);
  if (type === 'sftp') return sftpClient(options);
  return azureClient(options);
}

/** Use `fs` streams and flush the file to disk (fsync) before close, because the worker fsyncs an upload before it replies. */
function posixClient(directory: string): DirectClient {
  return {
    async write(name, fixture) {
      const out = createWriteStream(path.join(directory, name), { flush: true });
      await pipeline(fileStream(fixture), out);
    },
    read: (name) => drain(fileStream(path.join(directory, name))),
    remove: (name) => rm(path.join(directory, name), { force: true }),
    close: async () => undefined,
  };
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
    async read(name) {
      const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: name }));
      return drain(reply.Body as NodeJS.ReadableStream);
    },
    remove: async (name) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: name }))),
    close: async () => client.destroy(),
  };
}

/** Use ssh2-sftp-client's parallel `fastPut` and `fastGet`, with the read written to /dev/null. */
async function sftpClient(options: StorageOptions): Promise<DirectClient> {
  const client = new SftpClient();
  await client.connect({ host: String(options['hostname']), port: Number(options['port']), username: String(options['username']), privateKey: String(options['privateKey']) });
  const remote = (name: string): string => `${String(options['rootPath'])}/${name}`;
  return {
    write: async (name, fixture) => void (await client.fastPut(fixture, remote(name))),
    async read(name) {
      await client.fastGet(remote(name), '/dev/null');
      return (await client.stat(remote(name))).size;
    },
    remove: async (name) => void (await client.delete(remote(name), true)),
    close: async () => void (await client.end()),
  };
}

function azureClient(options: StorageOptions): DirectClient {
  const credential = new StorageSharedKeyCredential(String(options['accountName']), String(options['accountKey']));
  const container = new BlobServiceClient(String(options['endpoint']), credential).getContainerClient(String(options['containerName']));
  return {
    write: async (name, fixture) => void (await container.getBlockBlobClient(name).uploadStream(fileStream(fixture), PART_SIZE, PARALLEL_PARTS)),
    async read(name) {
      const reply = await container.getBlockBlobClient(name).download();
      return drain(reply.readableStreamBody!);
    },
    remove: async (name) => void (await container.getBlockBlobClient(name).deleteIfExists()),
    close: async () => undefined,
  };
}

interface Pass {
  write: Timed;
  read: Timed;
  load: number;
}

async function throughWorker(worker: WorkerProcess, spaceDirId: string, fixture: string, size: number, round: number): Promise<Pass> {
  const load = load1();
  const headers = { 'X-Auth-Token': worker.token, 'Content-Type': 'application/octet-stream' };
  const put = await timedUpload(`${worker.url}${REST}/data/${spaceDirId}/path/bench-${round}.bin`, 'PUT', headers, fileStream(fixture), size);
  expectStatus('worker PUT', put.status, 201, put.body);
  const fileId = (JSON.parse(put.body) as { fileId: string }).fileId;

  const get = await timedDownload(`${worker.url}${REST}/data/${fileId}/content`, { 'X-Auth-Token': worker.token });
  expectStatus('worker GET', get.status, 200);
  if (get.bytes !== size) throw new Error(`worker GET of ${fileId} gave ${get.bytes} bytes, expected ${size}`);

  const removed = await fetch(`${worker.url}${REST}/data/${fileId}`, { method: 'DELETE', headers: { 'X-Auth-Token': worker.token } });
  expectStatus('worker DELETE', removed.status, 204, await removed.text());
  return { write: put, read: get, load };
}

async function direct(client: DirectClient, fixture: string, size: number, round: number): Promise<Pass> {
  const load = load1();
  const name = `direct-${round}.bin`;
  const write = await timed(size, () => client.write(name, fixture));
  let bytes = 0;
  const read = await timed(size, async () => (bytes = await client.read(name)));
  if (bytes !== size) throw new Error(`direct read of ${name} gave ${bytes} bytes, expected ${size}`);
  await client.remove(name);
  return { write, read, load };
}

function report(samples: Sample[], size: number, rounds: number, loadStart: number, loadEnd: number): string {
  const of = (type: PluginType, which: 'worker' | 'direct') => samples.filter((s) => s.type === type && s.path === which);
  const ratios = (type: PluginType, key: 'write' | 'read') => {
    const worker = of(type, 'worker');
    const directs = of(type, 'direct');
    return median(worker.map((w, i) => w[key] / directs[i]![key]));
  };
  const mark = (ratio: number) => (ratio >= 0.8 ? 'met' : '**missed**');

  const lines = [
    '## Storage plugins: worker REST API next to the plugin SDK',
    '',
    `Run of ${new Date().toISOString()}, command \`node bench/dist/extra/plugins.js --mib ${size / MiB} --rounds ${rounds}\`.`,
    `Object of ${size / MiB} MiB of random bytes${size < 1024 * MiB ? ' (smaller than 1 GiB to keep the run short on a machine shared with other agents; moto holds objects in memory)' : ''},`,
    `${rounds} rounds; in each round and plugin the worker path and the direct path run one after the other, and which goes first flips every round.`,
    `1-minute load average: ${loadStart} at the start, ${loadEnd} at the end (2 CPUs), so absolute figures are low and noisy; read the ratios.`,
    'Worker: `PUT /data/{spaceDirId}/path/<name>` and `GET /data/{id}/content` one stream each from Node `http`, the object read from a local file.',
    `Direct: POSIX \`fs\` streams with a flush before close; S3 \`@aws-sdk/lib-storage\` Upload and GetObject; SFTP ssh2-sftp-client \`fastPut\` and \`fastGet\` to /dev/null;`,
    `Azure \`uploadStream\` and \`download\`; S3 and Azure with ${PART_SIZE / MiB} MiB parts, ${PARALLEL_PARTS} in flight. Servers: moto, sshd, Azurite via \`scripts/servers/\`.`,
    '',
    '| Plugin | write worker (GB/s) | write direct | write ratio | read worker (GB/s) | read direct | read ratio | target ≥ 0.8× |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const type of TYPES) {
    const w = of(type, 'worker');
    const d = of(type, 'direct');
    const writeRatio = ratios(type, 'write');
    const readRatio = ratios(type, 'read');
    lines.push(
      `| ${type} | ${fixed(median(w.map((s) => s.write)))} | ${fixed(median(d.map((s) => s.write)))} | ${fixed(writeRatio)}× | ${fixed(median(w.map((s) => s.read)))} | ${fixed(median(d.map((s) => s.read)))} | ${fixed(readRatio)}× | write ${mark(writeRatio)}, read ${mark(readRatio)} |`,
    );
  }
  lines.push('', 'Every pass (GB/s; load is the 1-minute load average when the pass began):', '', '| Round | Plugin | Path | write | read | load |', '|---|---|---|---|---|---|');
  for (const s of samples) lines.push(`| ${s.round} | ${s.type} | ${s.path} | ${fixed(s.write)} | ${fixed(s.read)} | ${s.load} |`);
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
