import { bodyValidator } from '../http/validate.js';

/**
 * The request body of Onedata's time-series endpoints (`dir_size_stats`, transfer
 * throughput charts): `layout` lists the series and their metrics, and `slice` returns
 * the windows of the series and metrics that `layout` names.
 */
export interface TimeSeriesQuery {
  mode: 'layout' | 'slice';
  layout?: Record<string, string[]>;
  startTimestamp?: number | string;
  stopTimestamp?: number | string;
  windowLimit?: number | string;
  extendedInfo?: boolean | string;
}

/** Timestamps and limits are accepted as numbers or numeric strings: the spec types them as strings, its examples as numbers. */
const numeric = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]+$' }] };

export const timeSeriesQueryBody = bodyValidator<TimeSeriesQuery>({
  type: 'object',
  properties: {
    mode: { type: 'string', enum: ['layout', 'slice'] },
    layout: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    startTimestamp: numeric,
    stopTimestamp: numeric,
    windowLimit: numeric,
    extendedInfo: { anyOf: [{ type: 'boolean' }, { type: 'string', enum: ['true', 'false'] }] },
  },
  required: ['mode'],
  additionalProperties: false,
});
