import type Router from '@koa/router';
import {
  OpError,
  selectWindows,
  THROUGHPUT_METRIC_NAMES,
  THROUGHPUT_SERIES,
  type ThroughputMetric,
  type ThroughputSeries,
  type ThroughputWindow,
  type TransferService,
  type TransferThroughputDoc,
} from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { timeSeriesQueryBody, type TimeSeriesQuery } from './time-series-query.js';
import { queryValidator } from '../http/validate.js';
import { identityOf, type AppState } from '../state.js';
import type { SpacePrivilegeCheck } from './privileges.js';

/**
 * `GET /transfers/{tid}/throughput_charts`: the bytes and files a transfer replicated, as
 * time series in the shape of Onedata's time-series collections (the one that
 * `/data/{id}/dir_size_stats` uses). The `layout` mode lists the series (`bytes`, `files`)
 * and their metrics (`minute`, `hour`, `day`, `month`, named after the window length). The
 * `slice` mode lists windows, newest first. Windows exist only where something was
 * measured, so a missing window means zero.
 */

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

type Slice = Record<string, Record<string, Array<Partial<ThroughputWindow>>>>;

/** Register the throughput route. Reading it needs `space_view_transfers`, as reading the transfer does. A missing body is the `layout` mode. */
export function registerTransferThroughputRoute(router: Router<AppState>, transfers: TransferService, requirePrivileges: SpacePrivilegeCheck): void {
  router.get('/transfers/:tid/throughput_charts', async (ctx) => {
    noQuery(ctx.query);
    const query = timeSeriesQueryBody((await readJsonBody(ctx.req)) ?? { mode: 'layout' });
    const transferId = ctx.params['tid'] ?? '';
    const transfer = await transfers.get(identityOf(ctx), transferId);
    await requirePrivileges(identityOf(ctx), transfer.spaceId, 'space_view_transfers');

    if (query.mode === 'layout') {
      ctx.body = { layout: Object.fromEntries(THROUGHPUT_SERIES.map((series) => [series, THROUGHPUT_METRIC_NAMES])) };
      return;
    }
    ctx.body = { slice: slice(query, await transfers.throughput(identityOf(ctx), transferId)) };
  });
}

/** Build the requested slice. Unknown series or metrics are rejected with 400. */
function slice(query: TimeSeriesQuery, doc: TransferThroughputDoc): Slice {
  if (query.layout === undefined) throw new OpError('missingValue', 'missing body field "layout": the slice mode needs the series and metrics to list', { key: 'layout' });
  const windowQuery = {
    startTimestamp: optionalNumber(query.startTimestamp),
    stopTimestamp: optionalNumber(query.stopTimestamp),
    windowLimit: optionalNumber(query.windowLimit),
  };
  const extended = query.extendedInfo === true || query.extendedInfo === 'true';

  const result: Slice = {};
  for (const [series, metrics] of Object.entries(query.layout)) {
    if (!isSeries(series)) throw OpError.badValue(`layout.${series}`, `unknown time series "${series}"; use one of ${THROUGHPUT_SERIES.join(', ')}`);
    result[series] = {};
    for (const metric of metrics) {
      if (!isMetric(metric)) throw OpError.badValue(`layout.${series}`, `unknown metric "${metric}"; use one of ${THROUGHPUT_METRIC_NAMES.join(', ')}`);
      const windows = selectWindows(doc.series[series][metric], metric, windowQuery);
      result[series][metric] = windows.map((window) => (extended ? { ...window } : { timestamp: window.timestamp, value: window.value }));
    }
  }
  return result;
}

function optionalNumber(value: number | string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function isSeries(name: string): name is ThroughputSeries {
  return (THROUGHPUT_SERIES as readonly string[]).includes(name);
}

function isMetric(name: string): name is ThroughputMetric {
  return (THROUGHPUT_METRIC_NAMES as readonly string[]).includes(name);
}
