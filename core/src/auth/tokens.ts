import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { inject, injectable } from 'inversify';
import { OpError } from '../errors.js';
import type { MetadataStore } from '../metadata/store.js';
import { TYPES, type Clock } from '../tokens.js';
import { caveatsFromPayload, timeCaveatLimit, validateCaveats, type TokenCaveat } from './caveats.js';
import { LEGACY_KEY_ID, SigningKeyRing, type SigningKeyInfo } from './signing-keys.js';

/**
 * Access tokens issued and verified by this provider.
 *
 * Format, version 1: `opw1.<payload>.<signature>`, where `payload` is base64url of the
 * JSON object `{"tid","uid","iat","ttl","kid","cav"}` (token id, user id, issued-at in
 * UNIX seconds, lifetime in seconds, signing key id, caveats) and `signature` is
 * base64url of HMAC-SHA256 over the text `opw1.<payload>` with the signing key `kid`.
 * Tokens without `kid` or `cav` (issued before those existed) use key `0` and have no
 * caveats. A token is valid while `now < iat + ttl`, before any `time` caveat, while its
 * key is not retired, and while no revocation record exists for its id.
 */

export { SECRET_COLLECTION, SIGNING_KEY_NAME } from './signing-keys.js';
export const TOKEN_PREFIX = 'opw1';
/** Collection of revocation records, keyed by token id. */
export const REVOCATION_COLLECTION = 'token_revocation';

/** Default lifetime of a new token: 30 days. */
export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** Maximum token lifetime: 10 years. */
export const MAX_TOKEN_TTL_SECONDS = 10 * 365 * 24 * 3600;

/**
 * How long, in milliseconds, a successful verification is reused without reading the
 * revocation record again. A token revoked on another worker is refused everywhere
 * within this time; on the revoking worker at once.
 */
export const VERIFICATION_CACHE_MS = 1000;
/** Verified tokens remembered at most; the oldest is dropped first. */
const VERIFICATION_CACHE_ENTRIES = 10_000;

const SIGNATURE_BYTES = 32;
/** Longer input is rejected before any decoding, so junk headers cost nothing. */
const MAX_TOKEN_LENGTH = 4096;

export interface TokenClaims {
  tokenId: string;
  userId: string;
  /** UNIX seconds. */
  issuedAt: number;
  /** UNIX seconds; the token is invalid from this second on (the earlier of its lifetime and any `time` caveat). */
  expiresAt: number;
  /** Every caveat of the token; the caller enforces those that concern the request and the files. */
  caveats: TokenCaveat[];
}

export interface IssuedToken extends TokenClaims {
  /** The serialised token; a secret, never log it. */
  token: string;
}

export interface CreateTokenOptions {
  /** Lifetime in seconds, 1 to `MAX_TOKEN_TTL_SECONDS`; default `DEFAULT_TOKEN_TTL_SECONDS`. */
  ttlSeconds?: number;
  /** Caveats that limit the token; validated, `badValue` with key `caveats` when one is invalid. */
  caveats?: readonly TokenCaveat[];
}

interface RevocationRecord {
  revokedAt: number;
}

interface TokenPayload {
  tid: string;
  uid: string;
  iat: number;
  ttl: number;
  kid?: string;
  cav?: TokenCaveat[];
}

interface CachedVerification {
  claims: TokenClaims;
  /** `performance.now()` of the check. */
  checkedAt: number;
}

/** Issues, verifies and revokes access tokens signed with keys kept in the metadata store. */
@injectable()
export class TokenService {
  private readonly keys: SigningKeyRing;
  private readonly verified = new Map<string, CachedVerification>();

  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {
    this.keys = new SigningKeyRing(store, clock);
  }

  /** Issue a token for `userId`. The caller checks that the user exists. */
  async create(userId: string, options: CreateTokenOptions = {}): Promise<IssuedToken> {
    const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw OpError.badValue('ttl', `token lifetime must be an integer from 1 to ${MAX_TOKEN_TTL_SECONDS} seconds, got ${ttl}`);
    }
    const caveats = validateCaveats(options.caveats ?? []);

    const signingKey = await this.keys.current();
    const payload: TokenPayload = {
      tid: randomBytes(16).toString('hex'),
      uid: userId,
      iat: Math.floor(this.clock.now() / 1000),
      ttl,
      kid: signingKey.keyId,
      ...(caveats.length > 0 ? { cav: caveats } : {}),
    };
    const body = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = createHmac('sha256', signingKey.key).update(body).digest();

    return { token: `${body}.${signature.toString('base64url')}`, ...claimsOf(payload) };
  }

  /**
   * Check a token's format, signature, expiry, caveat syntax and revocation. Throws
   * `unauthorized` with `details.authError` (`badToken`, `tokenExpired` or
   * `tokenRevoked`). A success is reused for up to `VERIFICATION_CACHE_MS`.
   */
  async verify(token: string): Promise<TokenClaims> {
    const cached = this.verified.get(token);
    if (cached !== undefined && performance.now() - cached.checkedAt < VERIFICATION_CACHE_MS) {
      this.assertNotExpired(cached.claims);
      return cached.claims;
    }

    const claims = await this.verifyUncached(token);
    this.remember(token, claims);
    return claims;
  }

  /** Revoke a token by id; later `verify` calls fail (on other workers within `VERIFICATION_CACHE_MS`). Revoking twice is not an error. */
  async revoke(tokenId: string): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(tokenId)) {
      throw OpError.badValue('tokenId', `token id "${tokenId}" is invalid: expected 32 hex characters`);
    }
    await this.store.put<RevocationRecord>(REVOCATION_COLLECTION, tokenId, { revokedAt: this.clock.now() });
    for (const [token, entry] of this.verified) {
      if (entry.claims.tokenId === tokenId) this.verified.delete(token);
    }
  }

  /**
   * Revoke every token of a user issued up to now, for a deleted or locked-out user.
   * Later `verify` calls of those tokens fail with `tokenRevoked` (on other workers
   * within `VERIFICATION_CACHE_MS`); tokens issued afterwards are not affected.
   */
  async revokeUser(userId: string): Promise<void> {
    await this.store.put<RevocationRecord>(REVOCATION_COLLECTION, userRevocationKey(userId), { revokedAt: this.clock.now() });
    for (const [token, entry] of this.verified) {
      if (entry.claims.userId === userId) this.verified.delete(token);
    }
  }

  /** Add a signing key that signs new tokens from now on; tokens signed with older keys stay valid. */
  async rotateSigningKey(): Promise<SigningKeyInfo> {
    return this.keys.rotate();
  }

  /** Retire a signing key: every token it signed is refused (on other workers within about a second). */
  async retireSigningKey(keyId: string): Promise<void> {
    await this.keys.retire(keyId);
    this.verified.clear();
  }

  async listSigningKeys(): Promise<SigningKeyInfo[]> {
    return this.keys.list();
  }

  private async verifyUncached(token: string): Promise<TokenClaims> {
    const { body, payloadText, signature } = splitToken(token);

    // The key id is read before the signature is checked, and only to pick the key.
    const keyId = keyIdOf(payloadText);
    const key = keyId === undefined ? undefined : await this.keys.find(keyId);
    const expected = createHmac('sha256', key ?? UNKNOWN_KEY).update(body).digest();
    const signatureMatches = signature.length === SIGNATURE_BYTES && timingSafeEqual(signature, expected);
    // The key id is readable by anyone holding the token, so naming it reveals nothing
    // about the signature. A retired key is deleted, and then such a token cannot be told
    // apart from a forged one that names a made-up key. The message names both causes.
    if (keyId !== undefined && key === undefined) {
      throw unauthorized('badToken', `access token names signing key "${keyId}", which is retired or unknown; request a new token`);
    }
    if (key === undefined || !signatureMatches) throw unauthorized('badToken', 'access token signature is invalid');

    const claims = claimsOf(parsePayload(payloadText));
    this.assertNotExpired(claims);

    const userKey = userRevocationKey(claims.userId);
    const revocations = await this.store.getMany<RevocationRecord>(REVOCATION_COLLECTION, [claims.tokenId, userKey]);
    if (revocations.has(claims.tokenId)) throw unauthorized('tokenRevoked', 'access token has been revoked');
    // Revocation times are milliseconds and `iat` whole seconds, so a token issued in the revoking second counts as revoked.
    const userRevokedAt = revocations.get(userKey)?.value.revokedAt;
    if (userRevokedAt !== undefined && claims.issuedAt * 1000 <= userRevokedAt) {
      throw unauthorized('tokenRevoked', "access token has been revoked with all of its user's tokens");
    }
    return claims;
  }

  private assertNotExpired(claims: TokenClaims): void {
    if (this.clock.now() >= claims.expiresAt * 1000) {
      throw unauthorized('tokenExpired', `access token expired at ${new Date(claims.expiresAt * 1000).toISOString()}`);
    }
  }

  private remember(token: string, claims: TokenClaims): void {
    if (this.verified.size >= VERIFICATION_CACHE_ENTRIES) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, { claims, checkedAt: performance.now() });
  }
}

/** Key of the record revoking all tokens of a user; token ids are hex, so the prefix cannot clash with one. */
function userRevocationKey(userId: string): string {
  return `user:${userId}`;
}

/** Key used when the token names no known key, so that a rejection costs as much as a check. */
const UNKNOWN_KEY = randomBytes(32);

function splitToken(token: string): { body: string; payloadText: string; signature: Buffer } {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized('badToken', 'access token is empty or too long');
  }

  const parts = token.split('.');
  const [prefix, payloadText, signatureText] = parts;
  if (parts.length !== 3 || prefix !== TOKEN_PREFIX || !payloadText || !signatureText) {
    throw unauthorized('badToken', `access token is malformed: expected "${TOKEN_PREFIX}.<payload>.<signature>"`);
  }

  // Node's decoder accepts padding, the `+/` alphabet and stray low bits in the last
  // character, so several texts decode to one signature. Only the canonical base64url
  // text is accepted, so each token has exactly one spelling (for revocation and caches).
  const signature = Buffer.from(signatureText, 'base64url');
  if (signature.toString('base64url') !== signatureText) {
    throw unauthorized('badToken', 'access token signature is not canonical base64url (no padding, alphabet A-Z a-z 0-9 - _)');
  }
  return { body: `${prefix}.${payloadText}`, payloadText, signature };
}

/** The signing key id named by a payload not yet verified; undefined when the payload is unreadable. */
function keyIdOf(payloadText: string): string | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(payloadText, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const kid = (value as { kid?: unknown }).kid;
    if (kid === undefined) return LEGACY_KEY_ID;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/** Parse a payload whose signature is already verified; a bad shape still means a bad token. */
function parsePayload(payloadText: string): TokenPayload {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payloadText, 'base64url').toString('utf8'));
  } catch {
    throw unauthorized('badToken', 'access token payload is not JSON');
  }

  const payload = value as Partial<TokenPayload> | null;
  if (
    typeof payload !== 'object' || payload === null ||
    typeof payload.tid !== 'string' || typeof payload.uid !== 'string' ||
    !Number.isSafeInteger(payload.iat) || !Number.isSafeInteger(payload.ttl)
  ) {
    throw unauthorized('badToken', 'access token payload is malformed');
  }
  caveatsFromPayload(payload.cav);
  return payload as TokenPayload;
}

function claimsOf(payload: TokenPayload): TokenClaims {
  const caveats = payload.cav ?? [];
  const lifetimeEnd = payload.iat + payload.ttl;
  const caveatEnd = timeCaveatLimit(caveats);
  return {
    tokenId: payload.tid,
    userId: payload.uid,
    issuedAt: payload.iat,
    expiresAt: caveatEnd === undefined ? lifetimeEnd : Math.min(lifetimeEnd, caveatEnd),
    caveats,
  };
}

function unauthorized(authError: string, message: string): OpError {
  return new OpError('unauthorized', message, { authError });
}
