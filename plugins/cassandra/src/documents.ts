import { OpError, type ScanPage, type StoredDocument } from '@op-worker/core';
import type { Logger } from 'pino';

import { keyIndexBucketOf } from './partitioning.js';
import { KEY_INDEX_BUCKETS } from './schema.js';
import { numberColumn, textColumn, wasApplied, nextPageState, type CqlSession, type Row } from './session.js';
import { checkLimit, checkVersion, serializeValue } from './validation.js';

/** Attempts of a read-then-conditional-write loop (`put`, `delete` without a version) before giving up with `conflict`. */
const WRITE_ATTEMPTS = 32;

/** Reads of single documents that `getMany` and `scan` run at once. */
const PARALLEL_READS = 64;

/** Key-index buckets whose first page `scan` reads at once. */
const SCAN_PREFETCH_BUCKETS = 8;

/**
 * Age after which a key-index entry without a document counts as garbage, in
 * milliseconds. A younger entry may belong to a create still in flight, which writes
 * the entry before the document.
 */
const ORPHAN_GRACE_MS = 60_000;

interface CurrentDocument {
  version: number;
  indexTs: number;
}

/**
 * Documents, one partition each, with conditional writes as lightweight transactions.
 *
 * `scan` cannot read a table of per-key partitions in key order, so every document also
 * has an entry in `collection_keys`, partitioned by (collection, hash bucket) and
 * clustered by key. The entry is written before the document and removed after it,
 * with the write timestamp recorded in the document (`index_ts`). Removing it "using
 * timestamp index_ts" deletes exactly that write: a newer create of the same key has
 * a newer timestamp and keeps its entry. Entries whose document is gone (a create that
 * lost its race, a delete that failed half-way) are skipped by `scan` and removed once
 * older than a minute.
 */
export class DocumentTable {
  private lastTimestampMicros = 0;

  private readonly cql;

  constructor(
    private readonly session: CqlSession,
    private readonly logger: Logger | undefined,
  ) {
    const documents = session.table('documents');
    const keys = session.table('collection_keys');
    this.cql = {
      get: `SELECT version, value FROM ${documents} WHERE collection = ? AND key = ?`,
      getCurrent: `SELECT version, index_ts FROM ${documents} WHERE collection = ? AND key = ?`,
      insert: `INSERT INTO ${documents} (collection, key, version, value, index_ts) VALUES (?, ?, 1, ?, ?) IF NOT EXISTS`,
      update: `UPDATE ${documents} SET value = ?, version = ? WHERE collection = ? AND key = ? IF version = ?`,
      delete: `DELETE FROM ${documents} WHERE collection = ? AND key = ? IF version = ? AND index_ts = ?`,
      addKey: `INSERT INTO ${keys} (collection, bucket, key, index_ts) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`,
      removeKey: `DELETE FROM ${keys} USING TIMESTAMP ? WHERE collection = ? AND bucket = ? AND key = ?`,
      keysFrom: `SELECT key, index_ts FROM ${keys} WHERE collection = ? AND bucket = ?`,
      keysAfter: `SELECT key, index_ts FROM ${keys} WHERE collection = ? AND bucket = ? AND key > ?`,
    };
  }

  async get<T>(collection: string, key: string): Promise<StoredDocument<T> | undefined> {
    const result = await this.session.execute('get', this.cql.get, [collection, key], { idempotent: true });
    const row = result.first() as Row | null;
    return row === null ? undefined : toDocument<T>(key, row);
  }

  async getMany<T>(collection: string, keys: readonly string[]): Promise<Map<string, StoredDocument<T>>> {
    const unique = [...new Set(keys)];
    const found = new Map<string, StoredDocument<T>>();

    // One query per key, a bounded number at a time: a multi-partition IN would make one
    // coordinator wait for every partition and fail the whole read on one slow replica.
    for (let start = 0; start < unique.length; start += PARALLEL_READS) {
      const chunk = unique.slice(start, start + PARALLEL_READS);
      const documents = await Promise.all(chunk.map((key) => this.get<T>(collection, key)));
      for (const document of documents) {
        if (document !== undefined) {
          found.set(document.key, document);
        }
      }
    }
    return found;
  }

  async create<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    const json = serializeValue(value, `document ${collection}/${key}`);
    if (!(await this.insertIfAbsent(collection, key, json))) {
      throw new OpError('alreadyExists', `document ${collection}/${key} already exists`, { collection, key });
    }
    return { key, version: 1, value };
  }

  async update<T>(collection: string, key: string, value: T, expectedVersion: number): Promise<StoredDocument<T>> {
    checkVersion(expectedVersion, 'expectedVersion');
    const json = serializeValue(value, `document ${collection}/${key}`);

    const actualVersion = await this.replaceAtVersion(collection, key, json, expectedVersion);
    if (actualVersion === 'applied') {
      return { key, version: expectedVersion + 1, value };
    }
    if (actualVersion === undefined) {
      throw OpError.notFound(`document ${collection}/${key}`, { collection, key });
    }
    throw new OpError(
      'conflict',
      `document ${collection}/${key} is at version ${actualVersion}, not the expected ${expectedVersion}`,
      { collection, key, expectedVersion, actualVersion },
    );
  }

  /**
   * Cassandra has no atomic "increment the version and replace", so `put` reads the
   * version and writes conditionally on it, and reads again when another writer got in between.
   */
  async put<T>(collection: string, key: string, value: T): Promise<StoredDocument<T>> {
    const json = serializeValue(value, `document ${collection}/${key}`);

    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const current = await this.readCurrent(collection, key);
      if (current === undefined) {
        if (await this.insertIfAbsent(collection, key, json)) {
          return { key, version: 1, value };
        }
        continue;
      }
      if ((await this.replaceAtVersion(collection, key, json, current.version)) === 'applied') {
        return { key, version: current.version + 1, value };
      }
    }
    throw tooMuchContention(collection, key);
  }

  async delete(collection: string, key: string, expectedVersion?: number): Promise<boolean> {
    if (expectedVersion !== undefined) {
      checkVersion(expectedVersion, 'expectedVersion');
    }

    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const current = await this.readCurrent(collection, key);
      if (current === undefined) {
        return false;
      }
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new OpError(
          'conflict',
          `document ${collection}/${key} is at version ${current.version}, not the expected ${expectedVersion}`,
          { collection, key, expectedVersion, actualVersion: current.version },
        );
      }

      const result = await this.session.execute(
        'delete',
        this.cql.delete,
        [collection, key, current.version, current.indexTs],
        { idempotent: false },
      );
      if (wasApplied(result)) {
        await this.removeKeyEntry(collection, key, current.indexTs);
        return true;
      }
    }
    throw tooMuchContention(collection, key);
  }

  /**
   * Pages through the key index bucket by bucket, in (bucket, key) order, which updates
   * do not change. The cursor is the (bucket, key) of the last document returned. One
   * document beyond `limit` is looked for, so that the last page has no cursor.
   */
  async scan<T>(collection: string, cursor: string | undefined, limit: number): Promise<ScanPage<T>> {
    checkLimit(limit, 'scan');
    const start = cursor === undefined ? { bucket: 0, after: undefined } : decodeScanCursor(cursor);
    const collected: Array<{ bucket: number; document: StoredDocument<T> }> = [];

    for (let first = start.bucket; first < KEY_INDEX_BUCKETS && collected.length <= limit; first += SCAN_PREFETCH_BUCKETS) {
      const buckets = range(first, Math.min(first + SCAN_PREFETCH_BUCKETS, KEY_INDEX_BUCKETS));
      const afterOf = (bucket: number): string | undefined => (bucket === start.bucket ? start.after : undefined);
      const firstPages = await Promise.all(buckets.map((bucket) => this.readKeyPage(collection, bucket, afterOf(bucket), undefined, limit + 1)));

      for (const [index, bucket] of buckets.entries()) {
        let page = firstPages[index];
        while (page !== undefined && collected.length <= limit) {
          const documents = await this.documentsOfKeys<T>(collection, bucket, page.rows);
          collected.push(...documents.map((document) => ({ bucket, document })));
          page = page.pageState === undefined || collected.length > limit
            ? undefined
            : await this.readKeyPage(collection, bucket, afterOf(bucket), page.pageState, limit + 1 - collected.length);
        }
      }
    }

    if (collected.length <= limit) {
      return { documents: collected.map((item) => item.document) };
    }
    const pageItems = collected.slice(0, limit);
    const last = pageItems.at(-1);
    return {
      documents: pageItems.map((item) => item.document),
      ...(last === undefined ? {} : { nextCursor: encodeScanCursor(last.bucket, last.document.key) }),
    };
  }

  /** Writes the key-index entry, then the document at version 1 if absent. Returns false when the key is taken. */
  private async insertIfAbsent(collection: string, key: string, json: string): Promise<boolean> {
    const indexTs = this.nextTimestampMicros();
    await this.session.execute(
      'create',
      this.cql.addKey,
      [collection, keyIndexBucketOf(key), key, indexTs, indexTs],
      { idempotent: true },
    );

    const result = await this.session.execute('create', this.cql.insert, [collection, key, json, indexTs], {
      idempotent: false,
    });
    return wasApplied(result);
  }

  /** Replaces the value when the version matches. Returns 'applied', or the version found (undefined when absent). */
  private async replaceAtVersion(
    collection: string,
    key: string,
    json: string,
    expectedVersion: number,
  ): Promise<'applied' | number | undefined> {
    const result = await this.session.execute(
      'update',
      this.cql.update,
      [json, expectedVersion + 1, collection, key, expectedVersion],
      { idempotent: false },
    );
    if (wasApplied(result)) {
      return 'applied';
    }
    return numberColumn(result.first() ?? undefined, 'version');
  }

  private async readCurrent(collection: string, key: string): Promise<CurrentDocument | undefined> {
    const result = await this.session.execute('read version', this.cql.getCurrent, [collection, key], {
      idempotent: true,
    });
    const row = result.first() ?? undefined;
    const version = numberColumn(row, 'version');
    if (version === undefined) {
      return undefined;
    }
    return { version, indexTs: numberColumn(row, 'index_ts') ?? 0 };
  }

  private async removeKeyEntry(collection: string, key: string, indexTs: number): Promise<void> {
    await this.session.execute('delete', this.cql.removeKey, [indexTs, collection, keyIndexBucketOf(key), key], {
      idempotent: true,
    });
  }

  private async readKeyPage(
    collection: string,
    bucket: number,
    after: string | undefined,
    pageState: string | undefined,
    fetchSize: number,
  ): Promise<{ rows: Row[]; pageState: string | undefined }> {
    const [cql, params] =
      after === undefined
        ? [this.cql.keysFrom, [collection, bucket]]
        : [this.cql.keysAfter, [collection, bucket, after]];
    const result = await this.session.execute('scan', cql, params, {
      idempotent: true,
      fetchSize: Math.min(Math.max(fetchSize, 16), 1000),
      pageState,
    });
    return { rows: result.rows, pageState: nextPageState(result) };
  }

  /** Reads the documents of key-index rows, in row order, dropping (and eventually removing) entries without a document. */
  private async documentsOfKeys<T>(collection: string, bucket: number, rows: readonly Row[]): Promise<StoredDocument<T>[]> {
    const keys = rows.map((row) => textColumn(row, 'key') ?? '');
    const found = await this.getMany<T>(collection, keys);
    const documents: StoredDocument<T>[] = [];

    for (const row of rows) {
      const key = textColumn(row, 'key') ?? '';
      const document = found.get(key);
      if (document !== undefined) {
        documents.push(document);
      } else {
        await this.removeOrphanEntry(collection, bucket, key, numberColumn(row, 'index_ts') ?? 0);
      }
    }
    return documents;
  }

  private async removeOrphanEntry(collection: string, bucket: number, key: string, indexTs: number): Promise<void> {
    if (indexTs > (Date.now() - ORPHAN_GRACE_MS) * 1000) {
      return;
    }
    try {
      await this.session.execute('scan cleanup', this.cql.removeKey, [indexTs, collection, bucket, key], {
        idempotent: true,
      });
      this.logger?.debug({ collection, key }, 'removed key-index entry of a missing document');
    } catch (error) {
      this.logger?.warn({ err: error, collection, key }, 'could not remove key-index entry of a missing document');
    }
  }

  /**
   * Microseconds since the epoch, increasing within this process: the write timestamp of
   * key-index entries. It comes from the system clock, not the injected one, because
   * Cassandra orders cell writes by it.
   */
  private nextTimestampMicros(): number {
    this.lastTimestampMicros = Math.max(Date.now() * 1000, this.lastTimestampMicros + 1);
    return this.lastTimestampMicros;
  }
}

function toDocument<T>(key: string, row: Row): StoredDocument<T> {
  return {
    key,
    version: numberColumn(row, 'version') ?? 0,
    value: JSON.parse(textColumn(row, 'value') ?? 'null') as T,
  };
}

function tooMuchContention(collection: string, key: string): OpError {
  return new OpError(
    'conflict',
    `document ${collection}/${key} changed concurrently ${WRITE_ATTEMPTS} times in a row; retry the request`,
    { collection, key },
  );
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, index) => from + index);
}

/** Scan cursors are base64url JSON, so callers treat them as opaque strings. */
function encodeScanCursor(bucket: number, afterKey: string): string {
  return Buffer.from(JSON.stringify({ bucket, after: afterKey }), 'utf8').toString('base64url');
}

function decodeScanCursor(cursor: string): { bucket: number; after: string } {
  let decoded: { bucket?: unknown; after?: unknown } | undefined;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof decoded;
  } catch {
    decoded = undefined;
  }

  const bucket = decoded?.bucket;
  const after = decoded?.after;
  if (typeof after !== 'string' || typeof bucket !== 'number' || !Number.isInteger(bucket) || bucket < 0 || bucket >= KEY_INDEX_BUCKETS) {
    throw OpError.badValue('cursor', `scan cursor '${cursor}' is invalid. Pass the nextCursor of a previous page.`, {
      cursor,
    });
  }
  return { bucket, after };
}
