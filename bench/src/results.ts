/** Results of one benchmark run, and the medians, ratios and targets derived from them. */
import type { RssPeak, TransferResult, WrkResult } from './measure.js';
import type { ServerName } from './servers.js';

export type TestName = 'large-get' | 'put' | 'small-get';
export const TEST_NAMES: readonly TestName[] = ['large-get', 'put', 'small-get'];

export interface TransferSample extends TransferResult {
  /** Absent for nginx, whose master process does not do the work. */
  rss?: RssPeak;
}

export interface RoundResult {
  round: number;
  serverOrder: ServerName[];
  largeGet: Partial<Record<ServerName, TransferSample>>;
  put: Partial<Record<ServerName, TransferSample>>;
  smallGet: Partial<Record<ServerName, WrkResult>>;
}

export interface RunSettings {
  rounds: number;
  largeFileBytes: number;
  smallFileCount: number;
  smallFileBytes: number;
  wrkConnections: number;
  wrkThreads: number;
  wrkSeconds: number;
  wrkWarmupSeconds: number;
  servers: ServerName[];
  tests: TestName[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

type Metric = (round: RoundResult, server: ServerName) => number | undefined;

export const metrics = {
  largeGet: ((round, server) => round.largeGet[server]?.bytesPerSecond) as Metric,
  put: ((round, server) => round.put[server]?.bytesPerSecond) as Metric,
  smallGet: ((round, server) => round.smallGet[server]?.requestsPerSecond) as Metric,
};

/** Median over rounds of one server's figure, or undefined when no round measured it. */
export function medianOf(rounds: readonly RoundResult[], metric: Metric, server: ServerName): number | undefined {
  const values = rounds.map((round) => metric(round, server)).filter((value): value is number => value !== undefined);
  return values.length === 0 ? undefined : median(values);
}

/**
 * Median over rounds of the ratio subject/reference, each ratio taken within one round,
 * so drift between rounds cancels out.
 */
export function medianRatio(rounds: readonly RoundResult[], metric: Metric, subject: ServerName, reference: ServerName): number | undefined {
  const ratios: number[] = [];
  for (const round of rounds) {
    const top = metric(round, subject);
    const bottom = metric(round, reference);
    if (top !== undefined && bottom !== undefined && bottom > 0) {
      ratios.push(top / bottom);
    }
  }
  return ratios.length === 0 ? undefined : median(ratios);
}

/** Largest RSS growth of a server over all rounds of one transfer test, in bytes. */
export function maxRssGrowth(rounds: readonly RoundResult[], test: 'largeGet' | 'put', server: ServerName): number | undefined {
  const growths = rounds.map((round) => round[test][server]?.rss?.growthBytes).filter((value): value is number => value !== undefined);
  return growths.length === 0 ? undefined : Math.max(...growths);
}

export const MEMORY_TARGET_BYTES = 20 * 1024 * 1024;

export interface TargetCheck {
  description: string;
  /** The measured value in the target's own unit (a ratio, or MiB). */
  measured: number | undefined;
  required: number;
  /** True when larger is better (ratios), false for memory growth. */
  atLeast: boolean;
  unit: 'ratio' | 'MiB';
}

export function checkTargets(rounds: readonly RoundResult[], largeFileBytes: number, smallFileBytes: number): TargetCheck[] {
  const large = largeFileBytes % 2 ** 30 === 0 ? `${largeFileBytes / 2 ** 30} GiB` : `${largeFileBytes / 2 ** 20} MiB`;
  const memory = [maxRssGrowth(rounds, 'largeGet', 'op-worker'), maxRssGrowth(rounds, 'put', 'op-worker')].filter((value): value is number => value !== undefined);
  return [
    {
      description: `${large} GET throughput, op-worker / rclone serve http`,
      measured: medianRatio(rounds, metrics.largeGet, 'op-worker', 'rclone-http'),
      required: 1,
      atLeast: true,
      unit: 'ratio',
    },
    {
      description: `${smallFileBytes / 1024} KiB GET request rate, op-worker / rclone serve http`,
      measured: medianRatio(rounds, metrics.smallGet, 'op-worker', 'rclone-http'),
      required: 2,
      atLeast: true,
      unit: 'ratio',
    },
    {
      description: `${large} durable PUT throughput, op-worker / rclone serve webdav`,
      measured: medianRatio(rounds, metrics.put, 'op-worker', 'rclone-webdav'),
      required: 1.5,
      atLeast: true,
      unit: 'ratio',
    },
    {
      description: `op-worker RSS growth while streaming ${large} (GET and PUT, largest over rounds)`,
      measured: memory.length === 0 ? undefined : Math.max(...memory) / (1024 * 1024),
      required: MEMORY_TARGET_BYTES / (1024 * 1024),
      atLeast: false,
      unit: 'MiB',
    },
  ];
}

export function isMet(check: TargetCheck): boolean | undefined {
  if (check.measured === undefined) {
    return undefined;
  }
  return check.atLeast ? check.measured >= check.required : check.measured <= check.required;
}
