import { OpError } from '../errors.js';
import type { MetadataStore, StoredDocument } from './store.js';

/** How many times a compare-and-set update is retried after a conflict before giving up. */
const CAS_ATTEMPTS = 32;

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
  }
  throw new OpError('conflict', `${collection} "${key}" changed concurrently too often; retry the request`, { collection, key });
}
