import { performance } from 'node:perf_hooks';
import type { MetadataStore, StoredDocument } from '../metadata/store.js';

/**
 * How long a cached document is used without reading it again, in milliseconds. Writes
 * made through this process's services invalidate their documents at once. A change
 * made by another worker process or an admin command takes effect here within this
 * time, as a revoked token does (`VERIFICATION_CACHE_MS`).
 */
export const DOCUMENT_CACHE_MS = 1000;

/** Cached documents at most; the cache is emptied when it is full. */
const MAX_CACHED_DOCUMENTS = 10_000;

interface CacheEntry {
  /** Frozen, so that no caller can change what the next one reads; undefined records an absent document. */
  document: StoredDocument<unknown> | undefined;
  /** `performance.now()` after which the entry is read again. */
  expiresAt: number;
}

/**
 * Short-lived copies of the documents that every request reads and that change rarely:
 * spaces, space names, storages and space members. Only hot read paths use it. Every
 * read-modify-write reads the store itself, so compare-and-set never works on a cached
 * version. Services that write these collections call `invalidate` after each write.
 *
 * Documents are deep-frozen: a caller that needs to change one takes a copy.
 */
export class DocumentCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Goes up on every invalidation, so a read that started before one does not store its result. */
  private generation = 0;

  constructor(
    private readonly store: MetadataStore,
    private readonly ttlMs = DOCUMENT_CACHE_MS,
  ) {}

  /** Read a document as `store.get` does, from the cache when a recent copy is there. */
  async get<T>(collection: string, key: string): Promise<StoredDocument<T> | undefined> {
    const cacheKey = `${collection}\u0000${key}`;
    const cached = this.entries.get(cacheKey);
    if (cached !== undefined && performance.now() < cached.expiresAt) return cached.document as StoredDocument<T> | undefined;

    const generation = this.generation;
    const document = await this.store.get<T>(collection, key);
    if (generation === this.generation) {
      if (this.entries.size >= MAX_CACHED_DOCUMENTS) this.entries.clear();
      this.entries.set(cacheKey, { document: document === undefined ? undefined : deepFreeze(document), expiresAt: performance.now() + this.ttlMs });
    }
    return document;
  }

  /** Forget a document after this process changed or deleted it. */
  invalidate(collection: string, key: string): void {
    this.generation += 1;
    this.entries.delete(`${collection}\u0000${key}`);
  }
}

const caches = new WeakMap<MetadataStore, DocumentCache>();

/** Return the document cache of a store, shared by every service of this process that uses the store. */
export function documentCacheOf(store: MetadataStore): DocumentCache {
  let cache = caches.get(store);
  if (cache === undefined) {
    cache = new DocumentCache(store);
    caches.set(store, cache);
  }
  return cache;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const member of Object.values(value)) deepFreeze(member);
  return Object.freeze(value);
}
