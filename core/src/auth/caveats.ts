import { BlockList, isIP } from 'node:net';
import { OpError } from '../errors.js';

/**
 * Token caveats with Onedata's names and meanings (`ctool/src/auth/caveats.erl`):
 * every caveat of a token must hold for a request, so several caveats intersect.
 *
 * - `time`: the token is invalid from `validUntil` (UNIX seconds) on.
 * - `ip`: the client address must be in one of the CIDR ranges.
 * - `interface`: the request must come through this interface (`rest` or `cdmi`).
 * - `data.readonly`: only operations that change nothing are allowed.
 * - `data.path`: only files at or below one of the canonical paths `/<spaceId>/...`,
 *   plus listing the directories on the way down to them.
 * - `data.objectid`: like `data.path`, with file ids, so it follows renames.
 *
 * A data caveat (`data.*`) also limits the token to file operations: the admin API
 * rejects it.
 */
export type TokenCaveat =
  | { type: 'time'; validUntil: number }
  | { type: 'ip'; whitelist: string[] }
  | { type: 'interface'; interface: ClientInterface }
  | { type: 'data.readonly' }
  | { type: 'data.path'; whitelist: string[] }
  | { type: 'data.objectid'; whitelist: string[] };

/** Interfaces a request can come through. Onedata's `oneclient` and `graphsync` do not exist here. */
export type ClientInterface = 'rest' | 'cdmi';

/** What the server knows about a request when it checks the caveats that do not concern files. */
export interface RequestContext {
  /** Client address as the worker sees it. */
  ip: string;
  interface: ClientInterface;
}

const INTERFACES: ReadonlySet<string> = new Set<ClientInterface>(['rest', 'cdmi']);
const CANONICAL_PATH = /^\/[0-9a-f]{32}(\/[^/]+)*$/;
/** A token carries at most this many caveats and whitelist entries per caveat, which keeps it under the token size limit anyway. */
const MAX_ENTRIES = 64;

/**
 * Check caveats given by a token's issuer; throws `badValue` (key `caveats`) naming the
 * bad entry and the expected form.
 */
export function validateCaveats(input: readonly unknown[]): TokenCaveat[] {
  if (input.length > MAX_ENTRIES) throw caveatError(`a token may have at most ${MAX_ENTRIES} caveats, got ${input.length}`);
  return input.map((entry, index) => {
    const problem = describeInvalidCaveat(entry);
    if (problem !== undefined) throw caveatError(`caveat ${index}${typeLabel(entry)} is invalid: ${problem}`);
    return entry as TokenCaveat;
  });
}

/** ` (ip)` for an entry with a string `type`, so an error names the caveat and not only its position. */
function typeLabel(entry: unknown): string {
  const type = typeof entry === 'object' && entry !== null ? (entry as { type?: unknown }).type : undefined;
  return typeof type === 'string' ? ` (${type})` : '';
}

/**
 * Read the caveats of a token whose signature is verified. Any caveat this version does
 * not know, or a malformed one, makes the token invalid (Onedata's rule for unknown
 * caveats), so it throws `unauthorized` with `authError: badToken`.
 */
export function caveatsFromPayload(value: unknown): TokenCaveat[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ENTRIES) throw badToken('access token caveats are malformed');
  for (const entry of value) {
    const problem = describeInvalidCaveat(entry);
    if (problem !== undefined) throw badToken(`access token has an unknown or malformed caveat: ${problem}`);
  }
  return value as TokenCaveat[];
}

/** Return undefined for a valid caveat, else what is wrong with it. */
function describeInvalidCaveat(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'expected an object with a "type"';
  const caveat = entry as Record<string, unknown>;
  switch (caveat['type']) {
    case 'time':
      return Number.isSafeInteger(caveat['validUntil']) ? undefined : 'time needs validUntil in UNIX seconds';
    case 'ip':
      return describeInvalidList(caveat['whitelist'], (cidr) => (parseCidr(cidr) ? undefined : `"${cidr}" is not an IPv4 or IPv6 CIDR`));
    case 'interface':
      return INTERFACES.has(String(caveat['interface'])) ? undefined : `interface must be one of ${[...INTERFACES].join(', ')}`;
    case 'data.readonly':
      return undefined;
    case 'data.path':
      return describeInvalidList(caveat['whitelist'], (path) =>
        CANONICAL_PATH.test(path) ? undefined : `"${path}" is not a canonical path /<spaceId>/...`,
      );
    case 'data.objectid':
      return describeInvalidList(caveat['whitelist'], (id) => (/^[0-9A-Fa-f]+$/.test(id) ? undefined : `"${id}" is not a file id`));
    default:
      return `unknown caveat type "${String(caveat['type'])}"`;
  }
}

function describeInvalidList(value: unknown, check: (entry: string) => string | undefined): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ENTRIES) {
    return `whitelist must be a list of 1 to ${MAX_ENTRIES} entries`;
  }
  for (const entry of value) {
    if (typeof entry !== 'string') return 'whitelist entries must be strings';
    const problem = check(entry);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * Check the caveats that concern the request rather than files: `ip` and `interface`.
 * Throws `unauthorized` with `authError: tokenCaveatUnverified` naming the caveat.
 */
export function checkRequestCaveats(caveats: readonly TokenCaveat[], request: RequestContext): void {
  for (const caveat of caveats) {
    if (caveat.type === 'interface' && caveat.interface !== request.interface) {
      throw unverified(`the access token is limited to the ${caveat.interface} interface; this request used ${request.interface}`);
    }
    if (caveat.type === 'ip' && !ipAllowed(caveat.whitelist, request.ip)) {
      throw unverified(`the access token does not allow requests from ${request.ip}`);
    }
  }
}

/** The earliest `time` caveat, in UNIX seconds, or undefined when there is none. */
export function timeCaveatLimit(caveats: readonly TokenCaveat[]): number | undefined {
  let limit: number | undefined;
  for (const caveat of caveats) {
    if (caveat.type === 'time') limit = limit === undefined ? caveat.validUntil : Math.min(limit, caveat.validUntil);
  }
  return limit;
}

/** Whether any caveat restricts the token to file data (`data.*`). */
export function hasDataCaveats(caveats: readonly TokenCaveat[] | undefined): boolean {
  return (caveats ?? []).some((caveat) => caveat.type.startsWith('data.'));
}

/**
 * Parse a caveat written on the command line: `time<SECONDS`, `ip=CIDR|CIDR`,
 * `interface=rest`, `data.readonly`, `data.path=PATH|PATH`, `data.objectid=ID|ID`.
 * Paths are returned as given; the caller turns space names into ids.
 */
export function parseCaveatText(text: string): TokenCaveat {
  const trimmed = text.trim();
  if (trimmed === 'data.readonly') return { type: 'data.readonly' };

  const time = /^time\s*<\s*(\d+)$/.exec(trimmed);
  if (time) return { type: 'time', validUntil: Number(time[1]) };

  const match = /^([a-z.]+)\s*=\s*(.+)$/.exec(trimmed);
  const list = match?.[2]?.split('|').map((entry) => entry.trim()) ?? [];
  switch (match?.[1]) {
    case 'ip':
      return { type: 'ip', whitelist: list };
    case 'interface':
      return { type: 'interface', interface: list[0] as ClientInterface };
    case 'data.path':
      return { type: 'data.path', whitelist: list };
    case 'data.objectid':
      return { type: 'data.objectid', whitelist: list };
    default:
      throw caveatError(
        `caveat "${trimmed}" is not understood; use time<UNIX_SECONDS, ip=CIDR|CIDR, interface=rest|cdmi, data.readonly, data.path=PATH|PATH or data.objectid=ID|ID`,
      );
  }
}

function ipAllowed(whitelist: readonly string[], ip: string): boolean {
  const address = unmapIpv4(ip);
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  for (const cidr of whitelist) {
    const parsed = parseCidr(cidr);
    if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list.check(address, family);
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is checked as `10.0.0.1`. */
function unmapIpv4(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped?.[1] ?? ip;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText] = cidr.split('/');
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function caveatError(message: string): OpError {
  return OpError.badValue('caveats', message);
}

function badToken(message: string): OpError {
  return new OpError('unauthorized', message, { authError: 'badToken' });
}

function unverified(message: string): OpError {
  return new OpError('unauthorized', message, { authError: 'tokenCaveatUnverified' });
}
