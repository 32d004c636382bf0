/** Collection of transfer throughput documents, keyed by transfer id. */
export const THROUGHPUT_COLLECTION = 'transferThroughput';

/** Time series of a transfer: bytes replicated, and files whose replication completed. */
export const THROUGHPUT_SERIES = ['bytes', 'files'] as const;
export type ThroughputSeries = (typeof THROUGHPUT_SERIES)[number];

/**
 * Window length in seconds and the number of windows kept, per metric. The counts follow
 * Onedata's QoS transfer statistics (120 minutes, 48 hours, 60 days, 12 months), so a
 * document contains at most 240 windows per series. Windows align to the epoch, and a month is
 * 30 days.
 */
export const THROUGHPUT_METRICS = {
  minute: { seconds: 60, windows: 120 },
  hour: { seconds: 3600, windows: 48 },
  day: { seconds: 86_400, windows: 60 },
  month: { seconds: 30 * 86_400, windows: 12 },
} as const;
export type ThroughputMetric = keyof typeof THROUGHPUT_METRICS;
export const THROUGHPUT_METRIC_NAMES = Object.keys(THROUGHPUT_METRICS).sort() as ThroughputMetric[];

/** One time window: the sum of the measurements between `timestamp` and the next window. Times are seconds since the epoch. */
export interface ThroughputWindow {
  timestamp: number;
  value: number;
  firstMeasurementTimestamp: number;
  lastMeasurementTimestamp: number;
}

/** Windows of each series and metric, newest first. Only windows with a measurement exist. */
export interface TransferThroughputDoc {
  transferId: string;
  series: Record<ThroughputSeries, Record<ThroughputMetric, ThroughputWindow[]>>;
}

export function emptyThroughput(transferId: string): TransferThroughputDoc {
  const metrics = (): Record<ThroughputMetric, ThroughputWindow[]> => ({ minute: [], hour: [], day: [], month: [] });
  return { transferId, series: { bytes: metrics(), files: metrics() } };
}

/**
 * Add `value` at `nowSeconds` to every metric of one series. A time earlier than the
 * newest window (a clock that stepped back, another worker's clock) counts in the newest
 * window, so windows stay in order. The oldest windows beyond each metric's count drop.
 */
export function addMeasurement(doc: TransferThroughputDoc, series: ThroughputSeries, value: number, nowSeconds: number): void {
  for (const metric of THROUGHPUT_METRIC_NAMES) {
    const { seconds, windows: kept } = THROUGHPUT_METRICS[metric];
    const windows = doc.series[series][metric];
    const newest = windows[0];
    const start = nowSeconds - (nowSeconds % seconds);

    if (newest !== undefined && newest.timestamp >= start) {
      newest.value += value;
      newest.lastMeasurementTimestamp = Math.max(newest.lastMeasurementTimestamp, nowSeconds);
      continue;
    }
    windows.unshift({ timestamp: start, value, firstMeasurementTimestamp: nowSeconds, lastMeasurementTimestamp: nowSeconds });
    windows.splice(kept);
  }
}

export interface WindowQuery {
  /** Newest time to list from: the first window listed is the one containing it, or the next older one. */
  startTimestamp?: number;
  /** Oldest time to list to: the last window listed is the one containing it, or the next newer one. */
  stopTimestamp?: number;
  windowLimit?: number;
}

/** Select windows (newest first) between `startTimestamp` and `stopTimestamp`, at most `windowLimit`. */
export function selectWindows(windows: readonly ThroughputWindow[], metric: ThroughputMetric, query: WindowQuery): ThroughputWindow[] {
  const { seconds } = THROUGHPUT_METRICS[metric];
  const { startTimestamp: start, stopTimestamp: stop, windowLimit: limit } = query;
  const selected = windows.filter((window) => (start === undefined || window.timestamp <= start) && (stop === undefined || window.timestamp + seconds > stop));
  return limit === undefined ? selected : selected.slice(0, limit);
}
