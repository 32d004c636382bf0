import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { OpError } from '../errors.js';
import type { MetadataStore } from '../metadata/store.js';
import { TYPES, type Clock } from '../tokens.js';

/**
 * Access tokens issued and verified by this provider.
 *
 * Format, version 1: `opw1.<payload>.<signature>`, where `payload` is base64url of the
 * JSON object `{"tid","uid","iat","ttl"}` (token id, user id, issued-at in UNIX seconds,
 * lifetime in seconds) and `signature` is base64url of HMAC-SHA256 over the text
 * `opw1.<payload>` with the provider's signing key. A token is valid while
 * `now < iat + ttl` and no revocation record exists for its id.
 */

export const TOKEN_PREFIX = 'opw1';
/** Collection of provider-wide secrets; the signing key lives under `SIGNING_KEY_NAME`. */
export const SECRET_COLLECTION = 'provider_secret';
export const SIGNING_KEY_NAME = 'token-signing-key';
/** Collection of revocation records, keyed by token id. */
export const REVOCATION_COLLECTION = 'token_revocation';

/** Default lifetime of a new token: 30 days. */
export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** Maximum token lifetime: 10 years. */
export const MAX_TOKEN_TTL_SECONDS = 10 * 365 * 24 * 3600;

const SIGNING_KEY_BYTES = 32;
const SIGNATURE_BYTES = 32;
/** Longer input is rejected before any decoding, so junk headers cost nothing. */
const MAX_TOKEN_LENGTH = 1024;

export interface TokenClaims {
  tokenId: string;
  userId: string;
  /** UNIX seconds. */
  issuedAt: number;
  /** UNIX seconds; the token is invalid from this second on. */
  expiresAt: number;
}

export interface IssuedToken extends TokenClaims {
  /** The serialised token; a secret, never log it. */
  token: string;
}

export interface CreateTokenOptions {
  /** Lifetime in seconds, 1 to `MAX_TOKEN_TTL_SECONDS`; default `DEFAULT_TOKEN_TTL_SECONDS`. */
  ttlSeconds?: number;
}

interface SigningKeyDocument {
  /** base64 of 32 random bytes. */
  key: string;
  created: number;
}

interface RevocationRecord {
  revokedAt: number;
}

interface TokenPayload {
  tid: string;
  uid: string;
  iat: number;
  ttl: number;
}

/** Issues, verifies and revokes access tokens signed with a key kept in the metadata store. */
@injectable()
export class TokenService {
  private signingKey: Promise<Buffer> | undefined;

  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {}

  /** Issue a token for `userId`. The caller checks that the user exists. */
  async create(userId: string, options: CreateTokenOptions = {}): Promise<IssuedToken> {
    const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw OpError.badValue('ttl', `token lifetime must be an integer from 1 to ${MAX_TOKEN_TTL_SECONDS} seconds, got ${ttl}`);
    }

    const payload: TokenPayload = {
      tid: randomBytes(16).toString('hex'),
      uid: userId,
      iat: Math.floor(this.clock.now() / 1000),
      ttl,
    };
    const body = `${TOKEN_PREFIX}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = await this.sign(body);

    return { token: `${body}.${signature.toString('base64url')}`, ...claimsOf(payload) };
  }

  /**
   * Check a token's format, signature, expiry and revocation. Throws `unauthorized`
   * with `details.authError` (`badToken`, `tokenExpired` or `tokenRevoked`).
   */
  async verify(token: string): Promise<TokenClaims> {
    const { body, payloadText, signature } = splitToken(token);

    const expected = await this.sign(body);
    if (signature.length !== SIGNATURE_BYTES || !timingSafeEqual(signature, expected)) {
      throw unauthorized('badToken', 'access token signature is invalid');
    }

    const claims = claimsOf(parsePayload(payloadText));
    if (this.clock.now() >= claims.expiresAt * 1000) {
      throw unauthorized('tokenExpired', `access token expired at ${new Date(claims.expiresAt * 1000).toISOString()}`);
    }

    const revocation = await this.store.get<RevocationRecord>(REVOCATION_COLLECTION, claims.tokenId);
    if (revocation !== undefined) throw unauthorized('tokenRevoked', 'access token has been revoked');

    return claims;
  }

  /** Revoke a token by id; later `verify` calls fail. Revoking twice is not an error. */
  async revoke(tokenId: string): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(tokenId)) {
      throw OpError.badValue('tokenId', `token id "${tokenId}" is invalid: expected 32 hex characters`);
    }
    await this.store.put<RevocationRecord>(REVOCATION_COLLECTION, tokenId, { revokedAt: this.clock.now() });
  }

  private async sign(body: string): Promise<Buffer> {
    const key = await this.loadSigningKey();
    return createHmac('sha256', key).update(body).digest();
  }

  /** Read the signing key, creating it on first use; racing workers agree on one key. */
  private loadSigningKey(): Promise<Buffer> {
    this.signingKey ??= this.readOrCreateSigningKey().catch((error: unknown) => {
      this.signingKey = undefined;
      throw error;
    });
    return this.signingKey;
  }

  private async readOrCreateSigningKey(): Promise<Buffer> {
    const existing = await this.store.get<SigningKeyDocument>(SECRET_COLLECTION, SIGNING_KEY_NAME);
    if (existing !== undefined) return Buffer.from(existing.value.key, 'base64');

    const fresh: SigningKeyDocument = { key: randomBytes(SIGNING_KEY_BYTES).toString('base64'), created: this.clock.now() };
    try {
      await this.store.create(SECRET_COLLECTION, SIGNING_KEY_NAME, fresh);
      return Buffer.from(fresh.key, 'base64');
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
      const winner = await this.store.get<SigningKeyDocument>(SECRET_COLLECTION, SIGNING_KEY_NAME);
      if (winner === undefined) throw error;
      return Buffer.from(winner.value.key, 'base64');
    }
  }
}

function splitToken(token: string): { body: string; payloadText: string; signature: Buffer } {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized('badToken', 'access token is empty or too long');
  }

  const parts = token.split('.');
  const [prefix, payloadText, signatureText] = parts;
  if (parts.length !== 3 || prefix !== TOKEN_PREFIX || !payloadText || !signatureText) {
    throw unauthorized('badToken', `access token is malformed: expected "${TOKEN_PREFIX}.<payload>.<signature>"`);
  }

  return {
    body: `${prefix}.${payloadText}`,
    payloadText,
    signature: Buffer.from(signatureText, 'base64url'),
  };
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
  return payload as TokenPayload;
}

function claimsOf(payload: TokenPayload): TokenClaims {
  return { tokenId: payload.tid, userId: payload.uid, issuedAt: payload.iat, expiresAt: payload.iat + payload.ttl };
}

function unauthorized(authError: string, message: string): OpError {
  return new OpError('unauthorized', message, { authError });
}
