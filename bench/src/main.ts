/**
 * The benchmark run: builds the fixture, starts every server, alternates them round by
 * round over the three tests, stops them by PID and writes BENCHMARKS.md.
 * Started by bench/run.sh, which installs the tools and builds the repository first.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFixture, type Fixture } from './fixture.js';
import { runWrk, sampleRssDuring, timeDownload, timeUpload } from './measure.js';
import { stopAllProcesses } from './processes.js';
import { summariseProfiles } from './profile-summary.js';
import { writeReport, type MachineInfo } from './report.js';
import { TEST_NAMES, type RoundResult, type RunSettings, type TestName, type TransferSample } from './results.js';
import { SERVER_NAMES, startServer, stopServer, type ServerName, type ServerUnderTest } from './servers.js';

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const benchDir = join(repoDir, 'bench');

const USAGE = `usage: bench/run.sh [options]
  --rounds N          rounds; each runs every test on every server (default 5)
  --large-mib N       size of the large file in MiB (default 1024)
  --small-count N     number of distinct small files (default 1000)
  --small-kib N       size of each small file in KiB (default 4)
  --wrk-seconds N     length of each timed wrk run in seconds (default 8)
  --servers LIST      comma-separated subset of ${SERVER_NAMES.join(',')} (default all)
  --tests LIST        comma-separated subset of ${TEST_NAMES.join(',')} (default all)
  --profile           run the worker with --cpu-prof and print where its CPU time went
  --output FILE       report to write (default BENCHMARKS.md at the repository root;
                      "-" writes none)`;

interface Options extends RunSettings {
  profile: boolean;
  output: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      'large-mib': { type: 'string', default: '1024' },
      'small-count': { type: 'string', default: '1000' },
      'small-kib': { type: 'string', default: '4' },
      'wrk-seconds': { type: 'string', default: '8' },
      servers: { type: 'string', default: SERVER_NAMES.join(',') },
      tests: { type: 'string', default: TEST_NAMES.join(',') },
      profile: { type: 'boolean', default: false },
      output: { type: 'string', default: join(repoDir, 'BENCHMARKS.md') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  return {
    rounds: positiveInteger('--rounds', values.rounds),
    largeFileBytes: positiveInteger('--large-mib', values['large-mib']) * 1024 * 1024,
    smallFileCount: positiveInteger('--small-count', values['small-count']),
    smallFileBytes: positiveInteger('--small-kib', values['small-kib']) * 1024,
    wrkConnections: 64,
    wrkThreads: 2,
    wrkSeconds: positiveInteger('--wrk-seconds', values['wrk-seconds']),
    wrkWarmupSeconds: 2,
    servers: listOf('--servers', values.servers, SERVER_NAMES),
    tests: listOf('--tests', values.tests, TEST_NAMES),
    profile: values.profile,
    output: values.output === '-' ? undefined : resolve(values.output),
  };
}

function positiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${option} must be a positive integer, got "${text}"\n${USAGE}`);
  }
  return value;
}

function listOf<T extends string>(option: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
  const unknown = items.filter((item) => !allowed.includes(item as T));
  if (unknown.length > 0 || items.length === 0) {
    throw new Error(`${option} takes a comma-separated subset of ${allowed.join(',')}, got "${text}"`);
  }
  return items as T[];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const command = ['bench/run.sh', ...process.argv.slice(2)].join(' ');
  const machine = describeMachine();

  // The data sits on the disk of the system temp folder; OP_BENCH_TMPDIR moves it.
  const workDir = await mkdtemp(join(process.env.OP_BENCH_TMPDIR ?? tmpdir(), 'op-bench-'));
  const resultsDir = join(benchDir, 'results', new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(join(workDir, 'logs'), { recursive: true });
  await mkdir(resultsDir, { recursive: true });
  console.log(`work folder ${workDir}; raw results and logs go to ${resultsDir}`);

  const servers: ServerUnderTest[] = [];
  let rounds: RoundResult[] = [];
  try {
    const fixture = await timed('create the fixture', () => createFixture(join(workDir, 'files'), options));
    const profileDir = join(resultsDir, 'cpu-profile');
    const workerNodeFlags = options.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];

    for (const name of options.servers) {
      servers.push(await timed(`start ${name}`, () => startServer(name, { fixture, workDir, repoDir, workerNodeFlags })));
    }
    await timed('check that every server returns the same bytes', () => checkContent(servers, fixture));

    rounds = await runRounds(servers, fixture, options, workDir);
    await writeFile(join(resultsDir, 'results.json'), JSON.stringify({ command, machine, options, rounds }, null, 2));
  } finally {
    for (const server of servers) {
      await stopServer(server);
    }
    await stopAllProcesses();
    await cp(join(workDir, 'logs'), join(resultsDir, 'logs'), { recursive: true });
    await rm(workDir, { recursive: true, force: true });
  }

  if (options.profile) {
    console.log(await summariseProfiles(join(resultsDir, 'cpu-profile'), repoDir));
  }
  machine.loadAverage.end = loadavg()[0];
  if (options.output !== undefined) {
    await writeReport(options.output, command, machine, options, rounds);
    console.log(`wrote ${options.output}`);
  }
}

async function runRounds(servers: ServerUnderTest[], fixture: Fixture, options: Options, workDir: string): Promise<RoundResult[]> {
  const pathListFile = join(workDir, 'paths');
  const rounds: RoundResult[] = [];

  for (let round = 1; round <= options.rounds; round++) {
    // Rotate the order so no server always runs first (cold) or last (after the others).
    const order = servers.map((_, index) => servers[(index + round - 1) % servers.length] as ServerUnderTest);
    const result: RoundResult = { round, serverOrder: order.map((server) => server.name), largeGet: {}, put: {}, smallGet: {} };

    for (const test of options.tests) {
      for (const server of order) {
        await runTest(test, server, fixture, options, round, pathListFile, result);
      }
    }
    rounds.push(result);
  }
  return rounds;
}

async function runTest(test: TestName, server: ServerUnderTest, fixture: Fixture, options: Options, round: number, pathListFile: string, result: RoundResult): Promise<void> {
  if (test === 'large-get' && server.servesGet) {
    const sample = await measureTransfer(server, () => timeDownload(server.largeFileUrl, server.headers, fixture.largeFileBytes));
    result.largeGet[server.name] = sample;
    log(round, server.name, `large GET ${(sample.bytesPerSecond / 1e9).toFixed(2)} GB/s${rssNote(sample)}`);
  }

  if (test === 'put' && server.acceptsPut) {
    const uploadName = `upload-${round}.bin`;
    const url = await server.prepareUpload(uploadName);
    const largeFile = join(fixture.rootDir, fixture.largeFileName);
    const sample = await measureTransfer(server, () => timeUpload(url, server.headers, largeFile, fixture.largeFileBytes));
    await server.removeUpload(uploadName);
    result.put[server.name] = sample;
    log(round, server.name, `large PUT ${(sample.bytesPerSecond / 1e9).toFixed(2)} GB/s${rssNote(sample)}`);
  }

  if (test === 'small-get' && server.servesGet) {
    await writeFile(pathListFile, server.smallFilePaths.join('\n') + '\n');
    const wrkOptions = {
      baseUrl: server.baseUrl,
      pathListFile,
      luaScript: join(benchDir, 'rotate.lua'),
      headers: server.headers,
      connections: options.wrkConnections,
      threads: options.wrkThreads,
    };
    await runWrk({ ...wrkOptions, durationSeconds: options.wrkWarmupSeconds });
    const sample = await runWrk({ ...wrkOptions, durationSeconds: options.wrkSeconds });
    result.smallGet[server.name] = sample;
    const errors = sample.non2xxResponses + sample.socketErrors > 0 ? ` (${sample.non2xxResponses} non-2xx, ${sample.socketErrors} socket errors)` : '';
    log(round, server.name, `small GET ${Math.round(sample.requestsPerSecond)} req/s${errors}`);
  }
}

/** Runs one transfer, sampling RSS unless the server's own process is not the one serving (nginx). */
async function measureTransfer(server: ServerUnderTest, transfer: () => ReturnType<typeof timeDownload>): Promise<TransferSample> {
  if (server.name === 'nginx') {
    return transfer();
  }
  const { result, rss } = await sampleRssDuring(server.process.pid, transfer);
  return { ...result, rss };
}

function rssNote(sample: TransferSample): string {
  return sample.rss === undefined ? '' : `, RSS +${(sample.rss.growthBytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Fails the run when a server returns other bytes than the fixture's (a benchmark of errors is worthless). */
async function checkContent(servers: ServerUnderTest[], fixture: Fixture): Promise<void> {
  const expectedSmall = await readFile(join(fixture.rootDir, fixture.smallDirName, fixture.smallFileNames[0] as string));
  for (const server of servers.filter((candidate) => candidate.servesGet)) {
    const small = await fetch(`${server.baseUrl}${server.smallFilePaths[0]}`, { headers: server.headers });
    const smallBody = Buffer.from(await small.arrayBuffer());
    if (small.status !== 200 || !smallBody.equals(expectedSmall)) {
      throw new Error(`${server.name} returned status ${small.status} and ${smallBody.length} bytes that differ from ${fixture.smallFileNames[0]}`);
    }

    const large = execFileSync('sh', ['-c', 'curl -sSf "$@" | sha256sum', 'sh', ...headerArgs(server.headers), server.largeFileUrl], { encoding: 'utf8' });
    if (large.split(' ')[0] !== fixture.largeFileSha256) {
      throw new Error(`${server.name} returned a large file whose SHA-256 differs from the fixture's`);
    }
  }

  const largeStat = await stat(join(fixture.rootDir, fixture.largeFileName));
  if (largeStat.size !== fixture.largeFileBytes) {
    throw new Error(`the fixture's large file has ${largeStat.size} bytes, expected ${fixture.largeFileBytes}`);
  }
}

function headerArgs(headers: Record<string, string>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
}

function describeMachine(): MachineInfo {
  return {
    date: new Date().toISOString(),
    loadAverage: { start: loadavg()[0] ?? 0 },
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    tools: {
      nginx: firstLineOf('nginx -v').replace(/^nginx version: nginx\//, ''),
      rclone: firstLineOf('rclone version').replace(/^rclone /, ''),
      wrk: firstLineOf('wrk -v').split(' ')[1] ?? 'unknown',
      curl: firstLineOf('curl --version').split(' ')[1] ?? 'unknown',
    },
  };
}

/** First line a shell command prints on stdout or stderr; some tools print their version on stderr or exit non-zero. */
function firstLineOf(shellCommand: string): string {
  const output = execFileSync('sh', ['-c', `${shellCommand} 2>&1; true`], { encoding: 'utf8' });
  return output.split('\n')[0]?.trim() ?? '';
}

async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work();
  console.log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

function log(round: number, server: ServerName, message: string): void {
  console.log(`round ${round} ${server.padEnd(13)} ${message}`);
}

main().catch(async (error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  await stopAllProcesses();
  process.exit(1);
});
