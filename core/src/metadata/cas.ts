import { OpError } from '../errors.js';
import type { MetadataStore, StoredDocument } from './store.js';

/** How many times a compare-and-set update is retried after a conflict before giving up. */
const CAS_ATTEMPTS = 32;

/** Upper bound of the random pause before a retry, in milliseconds. */
const MAX_RETRY_PAUSE_MS = 64;

/**
 * Pause a random time, growing with the attempt, before retrying after a conflict.
 * Writers that retry at once collide again. On Cassandra each attempt is a Paxos round,
 * and without a pause 16 concurrent creates in one directory once used up all attempts
 * on the directory's times (bench/metadata.ts on a loaded 2-core machine).
 */
function pauseBeforeRetry(attempt: number): Promise<void> {
  const pauseMs = Math.random() * Math.min(MAX_RETRY_PAUSE_MS, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, pauseMs));
}

/**
 * Read, change and write back a document with compare-and-set, retrying when another
 * writer got in between. `change` receives a private copy and may throw to abort.
 * Throws `notFound` when the document is absent.
 */
export async function updateDocument<T>(
  store: MetadataStore,
  collection: string,
  key: string,
  change: (value: T) => T | void,
): Promise<StoredDocument<T>> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const document = await store.get<T>(collection, key);
    if (!document) throw OpError.notFound(`${collection} "${key}"`, { collection, key });

    const copy = structuredClone(document.value);
    const value = change(copy) ?? copy;
    try {
      return await store.update(collection, key, value, document.version);
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'conflict')) throw error;
    }
    await pauseBeforeRetry(attempt);
  }
  throw new OpError('conflict', `${collection} "${key}" changed concurrently too often; retry the request`, { collection, key });
}

/** Like `updateDocument`, but creates the document from `initial` when it is absent. */
export async function upsertDocument<T>(
  store: MetadataStore,
  collection: string,
  key: string,
  initial: () => T,
  change: (value: T) => T | void,
): Promise<StoredDocument<T>> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const document = await store.get<T>(collection, key);
    const copy = document ? structuredClone(document.value) : initial();
    const value = change(copy) ?? copy;
    try {
      return document
        ? await store.update(collection, key, value, document.version)
        : await store.create(collection, key, value);
    } catch (error) {
      if (!(OpError.is(error) && (error.kind === 'conflict' || error.kind === 'alreadyExists'))) throw error;
    }
    await pauseBeforeRetry(attempt);
  }
  throw new OpError('conflict', `${collection} "${key}" changed concurrently too often; retry the request`, { collection, key });
}
