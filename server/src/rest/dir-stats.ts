import type Router from '@koa/router';
import { OpError, type FileAttributes, type Identity, type LogicalFileSystem } from '@op-worker/core';
import type { Logger } from 'pino';
import { readJsonBody } from '../http/json-body.js';
import { timeSeriesQueryBody, type TimeSeriesQuery } from './time-series-query.js';
import { identityOf, type AppState } from '../state.js';

/**
 * `GET /data/{id}/dir_size_stats`: directory size statistics in Onedata's time-series
 * shape, computed on request by walking the directory. No history is kept, so each
 * metric has one window, the current one, holding the totals at the time of the request.
 *
 * NOTE: the walk reads every entry below the directory and the distribution of every
 * regular file, so a request costs time in proportion to the tree's size.
 */

/** Children read per listing call during the walk. */
const PAGE = 1000;

/**
 * Window length of each metric, in seconds. Windows are aligned to the epoch.
 * NOTE: `month` as a 30-day window is an estimate of Onedata's resolution.
 */
const METRIC_WINDOW_SECONDS: Record<string, number> = { minute: 60, hour: 3600, day: 86_400, month: 30 * 86_400 };
const METRICS = Object.keys(METRIC_WINDOW_SECONDS).sort();

const COUNT_SERIES = ['total_size', 'reg_file_and_link_count', 'dir_count', 'file_errors_count', 'dir_errors_count'] as const;

/** Current totals below a directory, by series name. */
type Totals = Map<string, number>;

interface TimeWindow {
  timestamp: number;
  value: number;
  firstMeasurementTimestamp?: number;
  lastMeasurementTimestamp?: number;
}

/** Register `GET /data/:id/dir_size_stats`. A missing body is the `layout` mode. */
export function registerDirStatsRoutes(router: Router<AppState>, lfs: LogicalFileSystem): void {
  router.get('/data/:id/dir_size_stats', async (ctx) => {
    const query = timeSeriesQueryBody((await readJsonBody(ctx.req)) ?? { mode: 'layout' });
    const who = identityOf(ctx);
    const directory = await lfs.getAttributes(who, ctx.params['id'] ?? '');
    if (directory.type !== 'DIR') throw OpError.posix('enotdir', `file ${directory.fileId} is not a directory; size statistics exist only for directories`);

    const space = await lfs.getSpace(who, directory.spaceId);
    const totals = await collectTotals(ctx.state.log, lfs, who, directory, space.storageIds);
    if (query.mode === 'layout') {
      ctx.body = { layout: Object.fromEntries([...totals.keys()].map((series) => [series, METRICS])) };
      return;
    }
    ctx.body = { slice: slice(query, totals, Math.floor(Date.now() / 1000)) };
  });
}

/** Walk the directory and sum sizes, counts and per-storage bytes of everything below it. */
async function collectTotals(log: Logger, lfs: LogicalFileSystem, who: Identity, directory: FileAttributes, storageIds: readonly string[]): Promise<Totals> {
  const totals: Totals = new Map([...COUNT_SERIES, ...storageIds.map(storageSeries)].map((series) => [series, 0]));
  const add = (series: string, value: number): void => {
    totals.set(series, (totals.get(series) ?? 0) + value);
  };

  const pending = [directory.fileId];
  for (let dirId = pending.pop(); dirId !== undefined; dirId = pending.pop()) {
    let token: string | undefined;
    for (;;) {
      const page = await listOrUndefined(log, lfs, who, dirId, token);
      if (page === undefined) {
        add('dir_errors_count', 1);
        break;
      }
      for (const child of page.children) {
        if (child.type === 'DIR') {
          add('dir_count', 1);
          pending.push(child.fileId);
          continue;
        }
        add('reg_file_and_link_count', 1);
        if (child.type === 'REG') await addFile(log, lfs, who, child, add);
      }
      if (page.isLast || page.nextPageToken === null) break;
      token = page.nextPageToken;
    }
  }
  return totals;
}

/** List one page, or return undefined when the directory cannot be listed (denied, removed meanwhile). */
async function listOrUndefined(log: Logger, lfs: LogicalFileSystem, who: Identity, dirId: string, token: string | undefined) {
  try {
    return await lfs.listChildren(who, dirId, { limit: PAGE, token });
  } catch (error) {
    if (!OpError.is(error)) throw error;
    log.warn({ err: error, fileId: dirId }, 'directory left out of size statistics');
    return undefined;
  }
}

/** Add a regular file's logical size and the bytes of it stored on each storage. */
async function addFile(log: Logger, lfs: LogicalFileSystem, who: Identity, file: FileAttributes, add: (series: string, value: number) => void): Promise<void> {
  add('total_size', file.size);
  try {
    const distribution = await lfs.getDistribution(who, file.fileId);
    for (const storage of distribution.storages) {
      add(storageSeries(storage.storageId), storage.blocks.reduce((sum, [, length]) => sum + length, 0));
    }
  } catch (error) {
    if (!OpError.is(error)) throw error;
    log.warn({ err: error, fileId: file.fileId }, 'file storage use left out of size statistics');
    add('file_errors_count', 1);
  }
}

function storageSeries(storageId: string): string {
  return `storage_use_${storageId}`;
}

/**
 * Build the requested slice: for each series and metric the current window, when it
 * falls between `startTimestamp` (newest) and `stopTimestamp` (oldest) and the window
 * limit is not 0. Unknown series or metrics are 400.
 */
function slice(query: TimeSeriesQuery, totals: Totals, now: number): Record<string, Record<string, TimeWindow[]>> {
  if (query.layout === undefined) throw new OpError('missingValue', 'missing body field "layout": the slice mode needs the series and metrics to list', { key: 'layout' });
  const start = query.startTimestamp === undefined ? undefined : Number(query.startTimestamp);
  const stop = query.stopTimestamp === undefined ? undefined : Number(query.stopTimestamp);
  const limit = query.windowLimit === undefined ? undefined : Number(query.windowLimit);
  const extended = query.extendedInfo === true || query.extendedInfo === 'true';

  const result: Record<string, Record<string, TimeWindow[]>> = {};
  for (const [series, metrics] of Object.entries(query.layout)) {
    const value = totals.get(series);
    if (value === undefined) throw OpError.badValue(`layout.${series}`, `unknown time series "${series}"; the layout mode lists the available ones`);

    const windows: Record<string, TimeWindow[]> = {};
    for (const metric of metrics) {
      const length = METRIC_WINDOW_SECONDS[metric];
      if (length === undefined) throw OpError.badValue(`layout.${series}`, `unknown metric "${metric}"; use one of ${METRICS.join(', ')}`);

      const windowStart = now - (now % length);
      const listed = limit !== 0 && (start === undefined || start >= windowStart) && (stop === undefined || stop < windowStart + length);
      const window: TimeWindow = { timestamp: windowStart, value };
      if (extended) Object.assign(window, { firstMeasurementTimestamp: now, lastMeasurementTimestamp: now });
      windows[metric] = listed ? [window] : [];
    }
    result[series] = windows;
  }
  return result;
}
