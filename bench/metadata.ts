/**
 * Metadata operation rates of the logical file system on the SQLite store and on the
 * Cassandra store, in one run: create an empty file, stat a file by id, and list a page
 * of 1,000 entries. The two stores alternate round by round, and the report quotes
 * medians and the median ratio. No HTTP is involved. Each operation goes through the
 * worker's own `openCore` with the store the configuration selects, on a POSIX storage
 * in a temp folder.
 *
 *   bash bench/run.sh --tests metadata [options]     builds first, then runs this
 *   node bench/dist/metadata/metadata.js [options]   after `npx tsc -b bench/tsconfig.metadata.json`
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Core, Identity } from '@op-worker/core';
import { CassandraNode, uniqueKeyspace } from '@op-worker/metadata-cassandra/testkit';
import { DEFAULT_CONFIG, ensureEmbeddedDefaults, openCore, type MetadataStoreConfig, type WorkerConfig } from '@op-worker/server';
import pino from 'pino';

const USAGE = `usage: node bench/dist/metadata/metadata.js [options]
  --rounds N        rounds; each measures both stores (default 3)
  --files N         files created per store and round (default 2000)
  --stats N         stats per store and round (default 2000)
  --pages N         list pages of 1,000 entries per store and round (default 20)
  --concurrency N   operations in flight at once (default 16)
  --cassandra LIST  contact points of a running Cassandra (default: start a node with
                    scripts/servers/cassandra.sh; OP_TEST_CASSANDRA_CONTACT_POINTS works too)
  --update FILE     replace the metadata section of FILE (for example BENCHMARKS.md)`;

const PAGE_SIZE = 1000;
const SECTION_START = '<!-- metadata-benchmark:start (written by bench/metadata.ts) -->';
const SECTION_END = '<!-- metadata-benchmark:end -->';

type StoreName = 'sqlite' | 'cassandra';
const STORES: readonly StoreName[] = ['sqlite', 'cassandra'];

interface Options {
  rounds: number;
  files: number;
  stats: number;
  pages: number;
  concurrency: number;
  contactPoints: string[] | undefined;
  update: string | undefined;
}

/** Operations per second of one store in one round. */
interface RoundRates {
  create: number;
  stat: number;
  listPage: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      files: { type: 'string', default: '2000' },
      stats: { type: 'string', default: '2000' },
      pages: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '16' },
      cassandra: { type: 'string', default: process.env['OP_TEST_CASSANDRA_CONTACT_POINTS'] ?? '' },
      update: { type: 'string' },
      // Accepted so that `bench/run.sh --tests metadata` passes its arguments through unchanged.
      tests: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  const files = positiveInteger('--files', values.files);
  if (files < PAGE_SIZE) throw new Error(`--files must be at least ${PAGE_SIZE}, so that a full page can be listed; got ${files}`);
  const contactPoints = values.cassandra.split(',').map((point) => point.trim()).filter(Boolean);
  return {
    rounds: positiveInteger('--rounds', values.rounds),
    files,
    stats: positiveInteger('--stats', values.stats),
    pages: positiveInteger('--pages', values.pages),
    concurrency: positiveInteger('--concurrency', values.concurrency),
    contactPoints: contactPoints.length > 0 ? contactPoints : undefined,
    update: values.update === undefined ? undefined : resolve(values.update),
  };
}

function positiveInteger(flag: string, value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return Number(value);
}

/** Run `count` calls of `operation` with at most `concurrency` in flight; returns calls per second. */
async function rateOf(count: number, concurrency: number, operation: (index: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await operation(index);
    }
  };

  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return count / ((performance.now() - started) / 1000);
}

/** A worker core on one store, with the embedded defaults' admin and `default` space. */
interface Subject {
  core: Core;
  who: Identity;
  spaceDirId: string;
  dataDir: string;
}

async function openSubject(metadataStore: MetadataStoreConfig): Promise<Subject> {
  const dataDir = await mkdtemp(join(tmpdir(), `op-bench-metadata-${metadataStore.type}-`));
  const logger = pino({ level: 'silent' });
  const config: WorkerConfig = { ...DEFAULT_CONFIG, dataDir, plugins: ['@op-worker/plugin-posix'], logLevel: 'silent', metadataStore };

  const core = await openCore(config, logger);
  const defaults = await ensureEmbeddedDefaults(core, dataDir, 3600, logger);
  return { core, who: { userId: defaults.admin.id, isAdmin: true }, spaceDirId: defaults.space.dirId, dataDir };
}

/** Measure one round on one store, in a directory of its own. */
async function measureRound(subject: Subject, round: number, options: Options): Promise<RoundRates> {
  const { core, who } = subject;
  const directory = await core.lfs.create(who, subject.spaceDirId, `round-${round}`, { type: 'DIR' });
  const fileIds: string[] = new Array<string>(options.files);

  const create = await rateOf(options.files, options.concurrency, async (index) => {
    const file = await core.lfs.create(who, directory.fileId, `file-${String(index).padStart(7, '0')}`, { type: 'REG' });
    fileIds[index] = file.fileId;
  });

  // A fixed stride spreads the stats over the directory without a random generator.
  const stat = await rateOf(options.stats, options.concurrency, (index) => core.lfs.getAttributes(who, fileIds[(index * 7919) % fileIds.length]!));

  // Pages are read one after another, as a client pages through a listing.
  let token: string | undefined;
  const listPage = await rateOf(options.pages, 1, async () => {
    const page = await core.lfs.listChildren(who, directory.fileId, { limit: PAGE_SIZE, ...(token === undefined ? {} : { token }) });
    if (page.children.length === 0) throw new Error(`empty page while listing ${options.files} files`);
    token = page.isLast ? undefined : (page.nextPageToken ?? undefined);
  });

  return { create, stat, listPage };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function report(results: Record<StoreName, RoundRates[]>, options: Options, cassandraWhere: string, loadAtStart: number): string {
  const rows = (['create', 'stat', 'listPage'] as const).map((operation) => {
    const sqlite = median(results.sqlite.map((round) => round[operation]));
    const cassandra = median(results.cassandra.map((round) => round[operation]));
    const ratios = results.sqlite.map((round, index) => round[operation] / results.cassandra[index]![operation]);
    const label = { create: 'create an empty file', stat: 'stat a file by id', listPage: 'list a page of 1,000' }[operation];
    const unit = operation === 'listPage' ? 'pages/s' : 'ops/s';
    return `| ${label} | ${formatRate(sqlite)} ${unit} | ${formatRate(cassandra)} ${unit} | ${median(ratios).toFixed(1)}× |`;
  });

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const files = options.files.toLocaleString('en-US');
  const stats = options.stats.toLocaleString('en-US');
  return [
    SECTION_START,
    '## Metadata operations: SQLite and Cassandra',
    '',
    `Measured by \`bash bench/run.sh --tests metadata\` (\`bench/metadata.ts\`) on ${new Date().toISOString().slice(0, 10)}`,
    `with ${availableParallelism()} cores (${cpu}), Node ${process.version} and ${cassandraWhere}.`,
    `Each of ${options.rounds} rounds, alternating the stores, creates ${files} empty files in a new directory`,
    `through the logical file system (no HTTP) and stats ${stats} of them by id, both with ${options.concurrency}`,
    `operations in flight, then reads ${options.pages} pages of 1,000 entries one after another. The table shows`,
    `medians over rounds and the median of the per-round ratios. The 1-minute load average was ${loadAtStart.toFixed(1)} at the start`,
    `and ${loadavg()[0]!.toFixed(1)} at the end, so compare the ratios more than the absolute rates.`,
    '',
    '| operation | SQLite | Cassandra | SQLite / Cassandra |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    'A file create on Cassandra is at least four lightweight transactions, each a Paxos round: the file',
    "document, the child entry, the parent directory's times (a compare-and-set on which all creates",
    'in one directory contend) and the change feed seq claim. SQLite commits each of them locally. A page',
    'on Cassandra merges 16 child buckets. The Cassandra node shares the cores with the benchmark and',
    'has a 1 GiB heap, so these rates say little about a real cluster.',
    SECTION_END,
  ].join('\n');
}

/** Replace the section between the markers in `file`, or append it when the file has none. */
async function updateSection(file: string, section: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const start = text.indexOf(SECTION_START);
  const end = text.indexOf(SECTION_END);
  const updated =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + SECTION_END.length)
      : `${text.replace(/\n*$/, '\n\n')}${section}\n`;
  await writeFile(file, updated);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const loadAtStart = loadavg()[0]!;

  const node = options.contactPoints === undefined ? await CassandraNode.start() : undefined;
  const contactPoints = options.contactPoints ?? [node!.contactPoint];
  const cassandraWhere = node === undefined ? `Cassandra at ${contactPoints.join(', ')}` : 'one local Cassandra node started by scripts/servers/cassandra.sh';

  const subjects: Partial<Record<StoreName, Subject>> = {};
  try {
    subjects.sqlite = await openSubject({ type: 'sqlite' });
    subjects.cassandra = await openSubject({ type: 'cassandra', contactPoints, keyspace: uniqueKeyspace('bench') });

    const results: Record<StoreName, RoundRates[]> = { sqlite: [], cassandra: [] };
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? STORES : [...STORES].reverse();
      for (const store of order) {
        const rates = await measureRound(subjects[store]!, round, options);
        results[store].push(rates);
        console.error(`round ${round + 1} ${store}: create ${formatRate(rates.create)}/s, stat ${formatRate(rates.stat)}/s, list ${formatRate(rates.listPage)} pages/s`);
      }
    }

    const section = report(results, options, cassandraWhere, loadAtStart);
    console.log(section);
    if (options.update !== undefined) await updateSection(options.update, section);
  } finally {
    for (const subject of Object.values(subjects)) {
      await subject.core.close();
      await rm(subject.dataDir, { recursive: true, force: true });
    }
    await node?.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
