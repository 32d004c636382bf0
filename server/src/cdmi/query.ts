import { ApiError } from '../errors.js';

/**
 * CDMI query options (`?children:0-4;childrenrange;metadata:my_`): a `;`-separated list
 * of field names, each optionally followed by `:` and a range (`from-to`, inclusive) or
 * a prefix. When any option is given, only the named fields are returned.
 */
export interface CdmiQuery {
  /** Field names to return; undefined means the default set. */
  fields?: Set<string>;
  childrenRange?: { from: number; to: number };
  valueRange?: { from: number; to: number };
  /** Prefix that filters metadata on reads: the first `metadata:<prefix>` option. */
  metadataPrefix?: string;
  /** Every `metadata:<name>` option in order; a PUT updates exactly these user metadata items. */
  metadataNames?: string[];
}

export function parseCdmiQuery(querystring: string): CdmiQuery {
  if (querystring === '') return {};

  const query: CdmiQuery = { fields: new Set() };
  for (const rawOption of querystring.split(';')) {
    const option = safeDecode(rawOption);
    if (option === '') continue;

    const colon = option.indexOf(':');
    const name = colon < 0 ? option : option.slice(0, colon);
    const argument = colon < 0 ? undefined : option.slice(colon + 1);
    query.fields?.add(name);

    if (argument === undefined) continue;
    if (name === 'children') query.childrenRange = parseRange(argument, 'childrenrange');
    else if (name === 'value') query.valueRange = parseRange(argument, 'valuerange');
    else if (name === 'metadata') {
      query.metadataPrefix ??= argument;
      query.metadataNames = [...(query.metadataNames ?? []), argument];
    }
  }
  return query;
}

function parseRange(text: string, key: string): { from: number; to: number } {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match === null || Number(match[1]) > Number(match[2])) {
    throw ApiError.badData(key, `range "${text}" is invalid: expected "from-to" with from <= to`);
  }
  return { from: Number(match[1]), to: Number(match[2]) };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw ApiError.badData('query string', `query option "${text}" has a malformed percent escape`);
  }
}
