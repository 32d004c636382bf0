import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { OpError } from '../errors.js';
import { updateDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Clock } from '../tokens.js';

/** Collection of provider-wide secrets. */
export const SECRET_COLLECTION = 'provider_secret';
/** The first signing key, made before key rotation existed; it is the key with id `LEGACY_KEY_ID`. */
export const SIGNING_KEY_NAME = 'token-signing-key';
/** The key ring: every signing key still accepted, and which one signs new tokens. */
export const SIGNING_KEY_RING_NAME = 'token-signing-keys';
/** Id of the first key; tokens without a key id were signed with it. */
export const LEGACY_KEY_ID = '0';

/**
 * How long a worker trusts its copy of the key ring, in milliseconds. A key retired on
 * one worker stops verifying on every worker within this time.
 */
export const KEY_RING_CACHE_MS = 1000;

const SIGNING_KEY_BYTES = 32;

interface SigningKeyDocument {
  /** base64 of 32 random bytes. */
  key: string;
  created: number;
}

interface KeyRingDocument {
  currentKeyId: string;
  keys: Record<string, SigningKeyDocument>;
}

/** A signing key as listed to administrators: never the key itself. */
export interface SigningKeyInfo {
  keyId: string;
  /** Milliseconds since the epoch. */
  created: number;
  /** This key signs new tokens. */
  current: boolean;
}

interface LoadedRing {
  currentKeyId: string;
  keys: Map<string, Buffer>;
  /** `performance.now()` when read. */
  loadedAt: number;
}

/**
 * The HMAC keys that sign access tokens, kept in the metadata store. Rotation adds a key
 * that signs from then on while older keys still verify; retiring a key invalidates
 * every token it signed.
 */
export class SigningKeyRing {
  private ring: Promise<LoadedRing> | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly clock: Clock,
  ) {}

  /** The key that signs new tokens. */
  async current(): Promise<{ keyId: string; key: Buffer }> {
    const ring = await this.load(false);
    return { keyId: ring.currentKeyId, key: ring.keys.get(ring.currentKeyId)! };
  }

  /** A key by id, re-reading the ring once when the id is unknown (rotated on another worker). */
  async find(keyId: string): Promise<Buffer | undefined> {
    const cached = await this.load(false);
    const key = cached.keys.get(keyId);
    if (key !== undefined) return key;
    return (await this.load(true)).keys.get(keyId);
  }

  /** Add a fresh key and sign new tokens with it. Returns its id. */
  async rotate(): Promise<SigningKeyInfo> {
    await this.load(false);
    const keyId = randomBytes(6).toString('hex');
    const created = this.clock.now();
    await updateDocument<KeyRingDocument>(this.store, SECRET_COLLECTION, SIGNING_KEY_RING_NAME, (ring) => {
      ring.keys[keyId] = { key: randomBytes(SIGNING_KEY_BYTES).toString('base64'), created };
      ring.currentKeyId = keyId;
    });
    this.ring = undefined;
    return { keyId, created, current: true };
  }

  /** Remove a key; tokens it signed stop verifying. The current key cannot be retired: rotate first. */
  async retire(keyId: string): Promise<void> {
    await this.load(false);
    await updateDocument<KeyRingDocument>(this.store, SECRET_COLLECTION, SIGNING_KEY_RING_NAME, (ring) => {
      if (ring.keys[keyId] === undefined) throw OpError.notFound(`signing key "${keyId}"`, { keyId });
      if (ring.currentKeyId === keyId) {
        throw OpError.badValue('keyId', `signing key "${keyId}" signs new tokens; rotate the keys before retiring it`);
      }
      delete ring.keys[keyId];
    });
    if (keyId === LEGACY_KEY_ID) await this.store.delete(SECRET_COLLECTION, SIGNING_KEY_NAME);
    this.ring = undefined;
  }

  async list(): Promise<SigningKeyInfo[]> {
    const document = (await this.store.get<KeyRingDocument>(SECRET_COLLECTION, SIGNING_KEY_RING_NAME)) ?? undefined;
    const ring = document?.value ?? (await this.readOrCreate());
    return Object.entries(ring.keys).map(([keyId, entry]) => ({ keyId, created: entry.created, current: keyId === ring.currentKeyId }));
  }

  private load(force: boolean): Promise<LoadedRing> {
    const cached = this.ring;
    if (cached !== undefined && !force) {
      return cached.then((ring) => (performance.now() - ring.loadedAt < KEY_RING_CACHE_MS ? ring : this.load(true)));
    }
    const loading = this.readOrCreate().then(toLoadedRing);
    this.ring = loading;
    loading.catch(() => {
      if (this.ring === loading) this.ring = undefined;
    });
    return loading;
  }

  /** Read the ring, creating it around the first key when absent; racing workers agree on one ring. */
  private async readOrCreate(): Promise<KeyRingDocument> {
    const existing = await this.store.get<KeyRingDocument>(SECRET_COLLECTION, SIGNING_KEY_RING_NAME);
    if (existing !== undefined) return existing.value;

    const legacy = await this.readOrCreateLegacyKey();
    const fresh: KeyRingDocument = { currentKeyId: LEGACY_KEY_ID, keys: { [LEGACY_KEY_ID]: legacy } };
    return this.createOrReadWinner(SIGNING_KEY_RING_NAME, fresh);
  }

  private async readOrCreateLegacyKey(): Promise<SigningKeyDocument> {
    const existing = await this.store.get<SigningKeyDocument>(SECRET_COLLECTION, SIGNING_KEY_NAME);
    if (existing !== undefined) return existing.value;
    const fresh: SigningKeyDocument = { key: randomBytes(SIGNING_KEY_BYTES).toString('base64'), created: this.clock.now() };
    return this.createOrReadWinner(SIGNING_KEY_NAME, fresh);
  }

  private async createOrReadWinner<T>(name: string, fresh: T): Promise<T> {
    try {
      await this.store.create(SECRET_COLLECTION, name, fresh);
      return fresh;
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
      const winner = await this.store.get<T>(SECRET_COLLECTION, name);
      if (winner === undefined) throw error;
      return winner.value;
    }
  }
}

function toLoadedRing(document: KeyRingDocument): LoadedRing {
  const keys = new Map<string, Buffer>();
  for (const [keyId, entry] of Object.entries(document.keys)) keys.set(keyId, Buffer.from(entry.key, 'base64'));
  return { currentKeyId: document.currentKeyId, keys, loadedAt: performance.now() };
}
