/** Writes BENCHMARKS.md from a run's results, keeping the hand-written notes at its end. */
import { readFile, writeFile } from 'node:fs/promises';
import { checkTargets, isMet, maxRssGrowth, medianOf, medianRatio, metrics, type RoundResult, type RunSettings, type TargetCheck } from './results.js';
import type { ServerName } from './servers.js';

export interface MachineInfo {
  date: string;
  /** 1-minute load average when the run started and when it ended; other work on the machine skews figures. */
  loadAverage: { start: number; end?: number };
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  tools: Record<string, string>;
}

/** Text after this line in BENCHMARKS.md is written by hand and survives a rerun. */
export const NOTES_MARKER = '<!-- Notes below this line are written by hand; bench/run.sh keeps them. -->';

const MIB = 1024 * 1024;
const GB = 1e9;

export async function writeReport(path: string, command: string, machine: MachineInfo, settings: RunSettings, rounds: RoundResult[]): Promise<void> {
  const notes = await readNotes(path);
  const sections = [
    header(command, machine, settings),
    targetsTable(checkTargets(rounds, settings.largeFileBytes, settings.smallFileBytes)),
    figuresTable(rounds, settings),
    memoryTable(rounds, settings),
    roundsTable(rounds, settings),
  ];
  await writeFile(path, `${sections.join('\n')}\n${NOTES_MARKER}\n${notes}`);
}

async function readNotes(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return '';
  }
  const start = text.indexOf(NOTES_MARKER);
  return start < 0 ? '' : text.slice(start + NOTES_MARKER.length).replace(/^\n/, '');
}

function header(command: string, machine: MachineInfo, settings: RunSettings): string {
  const tools = Object.entries(machine.tools).map(([name, version]) => `${name} ${version}`).join(', ');
  return `# Benchmarks

op-worker's REST API next to reference servers that serve the same files on 127.0.0.1,
measured in one run by \`bench/run.sh\`. Client and servers share the machine's cores, and
absolute figures move by tens of percent between runs, so servers alternate round by
round and the targets compare **medians of per-round ratios**.

- Date: ${machine.date}
- Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB memory, Linux ${machine.kernel}
- 1-minute load average: ${machine.loadAverage.start.toFixed(1)} at the start, ${machine.loadAverage.end?.toFixed(1) ?? 'unknown'} at the end (above about 0.5, other work shared the CPUs)
- Node ${machine.node}; ${tools}
- Command: \`${command}\`
- Rounds: ${settings.rounds}. Large file: ${formatBytes(settings.largeFileBytes)}, one stream with curl, body to /dev/null.
  Small files: ${settings.smallFileCount} distinct files of ${formatBytes(settings.smallFileBytes)}, wrk with ${settings.wrkThreads} threads and
  ${settings.wrkConnections} connections for ${settings.wrkSeconds} s (after ${settings.wrkWarmupSeconds} s of warm-up), rotating over the set.
- Servers: nginx (sendfile, DAV PUT, access log off), \`rclone serve http\` and
  \`rclone serve webdav\` (VFS cache off), \`bench/src/node-file-server.ts\` (Node \`http\`,
  \`fs.createReadStream\` with 1 MiB chunks, fsync before replying to PUT), and op-worker on
  its embedded default (SQLite metadata, POSIX storage) through \`/api/v3/oneprovider/data/{id}/content\`
  with an \`X-Auth-Token\`. Of these, only op-worker and the Node server fsync an upload before
  they reply; nginx and rclone do not.
`;
}

function targetsTable(checks: TargetCheck[]): string {
  const rows = checks.map((check) => {
    const verdict = describeVerdict(check);
    return `| ${check.description} | ${check.atLeast ? '≥' : '≤'} ${formatTarget(check.required, check)} | ${check.measured === undefined ? '–' : formatTarget(check.measured, check)} | ${verdict} |`;
  });
  return `## Targets

| Target | Required | Measured | Result |
|---|---|---|---|
${rows.join('\n')}
`;
}

function describeVerdict(check: TargetCheck): string {
  const met = isMet(check);
  if (met === undefined) {
    return 'not measured';
  }
  return met ? 'met' : `**missed** (${shortfall(check)})`;
}

function shortfall(check: TargetCheck): string {
  const measured = check.measured as number;
  if (check.atLeast) {
    return `${((1 - measured / check.required) * 100).toFixed(0)}% short`;
  }
  return `${(measured - check.required).toFixed(1)} MiB over`;
}

function formatTarget(value: number, check: TargetCheck): string {
  return check.unit === 'ratio' ? `${value.toFixed(2)}×` : `${value.toFixed(1)} MiB`;
}

function figuresTable(rounds: RoundResult[], settings: RunSettings): string {
  const ratio = (metric: typeof metrics.largeGet, server: ServerName): string => (server === 'op-worker' ? '–' : formatRatio(medianRatio(rounds, metric, 'op-worker', server)));
  const rows = settings.servers.map((server) => {
    const largeGet = medianOf(rounds, metrics.largeGet, server);
    const put = medianOf(rounds, metrics.put, server);
    const smallGet = medianOf(rounds, metrics.smallGet, server);
    return `| ${server} | ${gbps(largeGet)} | ${ratio(metrics.largeGet, server)} | ${gbps(put)} | ${ratio(metrics.put, server)} | ${rate(smallGet)} | ${ratio(metrics.smallGet, server)} |`;
  });
  const large = formatBytes(settings.largeFileBytes);
  const small = formatBytes(settings.smallFileBytes);
  return `## Medians over rounds

Throughput in GB/s (10⁹ bytes per second); "op-worker ÷" is the median of the per-round
ratios op-worker / that server.

| Server | ${large} GET | op-worker ÷ | ${large} PUT | op-worker ÷ | ${small} GET (req/s) | op-worker ÷ |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
}

function memoryTable(rounds: RoundResult[], settings: RunSettings): string {
  const rows = settings.servers
    .filter((server) => server !== 'nginx')
    .map((server) => `| ${server} | ${mib(maxRssGrowth(rounds, 'largeGet', server))} | ${mib(maxRssGrowth(rounds, 'put', server))} |`);
  return `## Memory while streaming ${formatBytes(settings.largeFileBytes)}

Peak RSS (\`VmRSS\` from \`/proc/<pid>/status\`, sampled every 100 ms) minus the RSS just
before the transfer, largest over rounds. nginx is left out because its master process does not serve requests.

| Server | GET growth | PUT growth |
|---|---|---|
${rows.join('\n')}
`;
}

function roundsTable(rounds: RoundResult[], settings: RunSettings): string {
  const rows: string[] = [];
  for (const round of rounds) {
    for (const server of round.serverOrder) {
      const largeGet = round.largeGet[server];
      const put = round.put[server];
      const smallGet = round.smallGet[server];
      const errors = smallGet === undefined ? '' : `${smallGet.non2xxResponses} / ${smallGet.socketErrors}`;
      rows.push(`| ${round.round} | ${server} | ${gbps(largeGet?.bytesPerSecond)} | ${gbps(put?.bytesPerSecond)} | ${rate(smallGet?.requestsPerSecond)} | ${errors} |`);
    }
  }
  return `## Every round

Servers are listed in the order they ran in that round.

| Round | Server | ${formatBytes(settings.largeFileBytes)} GET (GB/s) | ${formatBytes(settings.largeFileBytes)} PUT (GB/s) | ${formatBytes(settings.smallFileBytes)} GET (req/s) | non-2xx / socket errors |
|---|---|---|---|---|---|
${rows.join('\n')}
`;
}

function gbps(bytesPerSecond: number | undefined): string {
  return bytesPerSecond === undefined ? '–' : (bytesPerSecond / GB).toFixed(2);
}

function rate(requestsPerSecond: number | undefined): string {
  return requestsPerSecond === undefined ? '–' : Math.round(requestsPerSecond).toLocaleString('en-US');
}

function formatRatio(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(2)}×`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '–' : `${(bytes / MIB).toFixed(1)} MiB`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) {
    return `${bytes / 2 ** 30} GiB`;
  }
  if (bytes >= MIB && bytes % MIB === 0) {
    return `${bytes / MIB} MiB`;
  }
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
