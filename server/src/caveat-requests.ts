import { OpError, parseCaveatText, validateCaveats, type SpaceService, type TokenCaveat } from '@op-worker/core';

/** The space lookups that turn a space name in a `data.path` caveat into the space id. */
export type SpaceLookup = Pick<SpaceService, 'findByName' | 'get'>;

/**
 * Turn the caveats an administrator requests (CLI `--caveat` values or the admin API's
 * `caveats` field) into caveats a token can carry. Each entry is either the text form
 * (`data.readonly`, `ip=10.0.0.0/8|::1`, `data.path=/lab/results`) or the JSON object a
 * token stores (`{"type": "ip", "whitelist": ["10.0.0.0/8"]}`). A `data.path` entry may
 * start with a space name or id; it becomes `/<spaceId>/...`.
 *
 * Throws `badValue` with key `caveats` whose message names the entry's position and type.
 */
export async function caveatsFromRequest(entries: readonly unknown[], spaces: SpaceLookup): Promise<TokenCaveat[]> {
  const canonical: unknown[] = [];
  for (const [index, entry] of entries.entries()) {
    const caveat = typeof entry === 'string' ? parseCaveatText(entry) : entry;
    canonical.push(await withCanonicalPaths(caveat, index, spaces));
  }
  return validateCaveats(canonical);
}

/**
 * Rewrite the entries of a `data.path` caveat from `/<space name or id>/...` to
 * `/<space id>/...`. Anything else, a malformed caveat included, is returned unchanged
 * for `validateCaveats` to check.
 */
async function withCanonicalPaths(caveat: unknown, index: number, spaces: SpaceLookup): Promise<unknown> {
  if (!isPathCaveat(caveat)) return caveat;

  const whitelist: string[] = [];
  for (const entry of caveat.whitelist) {
    if (!entry.startsWith('/')) {
      whitelist.push(entry);
      continue;
    }
    const [, spaceRef = '', ...rest] = entry.split('/');
    const spaceId = await spaceIdOf(spaces, spaceRef, index);
    whitelist.push(['', spaceId, ...rest.filter((segment) => segment !== '')].join('/'));
  }
  return { type: 'data.path', whitelist };
}

function isPathCaveat(caveat: unknown): caveat is { type: 'data.path'; whitelist: string[] } {
  if (typeof caveat !== 'object' || caveat === null) return false;
  const { type, whitelist } = caveat as { type?: unknown; whitelist?: unknown };
  return type === 'data.path' && Array.isArray(whitelist) && whitelist.every((entry) => typeof entry === 'string');
}

/** Resolve a space name or id to the space id. An unknown space makes the caveat invalid (400), not a missing resource (404). */
async function spaceIdOf(spaces: SpaceLookup, ref: string, index: number): Promise<string> {
  const byName = await spaces.findByName(ref);
  if (byName !== undefined) return byName.spaceId;
  try {
    return (await spaces.get(ref)).spaceId;
  } catch (error) {
    if (!(OpError.is(error) && error.kind === 'notFound')) throw error;
    throw OpError.badValue('caveats', `caveat ${index} (data.path) is invalid: no space has the name or id "${ref}"; start each path with a space name or id`);
  }
}
