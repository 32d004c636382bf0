import { OpError, type ChildEntry } from '@op-worker/core';

import { mergeBuckets, type BucketPage } from './children-merge.js';
import { childBucketOf } from './partitioning.js';
import { CHILD_BUCKETS } from './schema.js';
import { nextPageState, textColumn, wasApplied, type CqlSession } from './session.js';
import { checkLimit } from './validation.js';

/** Smallest page read from one bucket while merging, so that small listings do not take many round trips per bucket. */
const MIN_BUCKET_PAGE = 8;

/**
 * The children index: partitions of (parent, hash bucket of the name), clustered by
 * name. Cassandra sorts `text` clustering columns by their UTF-8 bytes, which is the
 * order `listChildren` promises; a listing merges the buckets of the parent.
 */
export class ChildrenTable {
  private readonly cql;

  constructor(private readonly session: CqlSession) {
    const children = session.table('children');
    this.cql = {
      add: `INSERT INTO ${children} (parent_id, bucket, name, child_id) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
      get: `SELECT child_id FROM ${children} WHERE parent_id = ? AND bucket = ? AND name = ?`,
      remove: `DELETE FROM ${children} WHERE parent_id = ? AND bucket = ? AND name = ? IF EXISTS`,
      removeIfId: `DELETE FROM ${children} WHERE parent_id = ? AND bucket = ? AND name = ? IF child_id = ?`,
      listFrom: `SELECT name, child_id FROM ${children} WHERE parent_id = ? AND bucket = ?`,
      listAfter: `SELECT name, child_id FROM ${children} WHERE parent_id = ? AND bucket = ? AND name > ?`,
    };
  }

  async add(parentId: string, name: string, childId: string): Promise<void> {
    const result = await this.session.execute('addChild', this.cql.add, [parentId, childBucketOf(name), name, childId], {
      idempotent: false,
    });
    if (!wasApplied(result)) {
      throw new OpError('alreadyExists', `name '${name}' is already taken under parent ${parentId}`, { parentId, name });
    }
  }

  async get(parentId: string, name: string): Promise<string | undefined> {
    const result = await this.session.execute('getChild', this.cql.get, [parentId, childBucketOf(name), name], {
      idempotent: true,
    });
    return textColumn(result.first() ?? undefined, 'child_id');
  }

  async remove(parentId: string, name: string, expectedChildId?: string): Promise<boolean> {
    const bucket = childBucketOf(name);
    const result =
      expectedChildId === undefined
        ? await this.session.execute('removeChild', this.cql.remove, [parentId, bucket, name], { idempotent: false })
        : await this.session.execute('removeChild', this.cql.removeIfId, [parentId, bucket, name, expectedChildId], {
            idempotent: false,
          });
    return wasApplied(result);
  }

  async list(parentId: string, startAfter: string | undefined, limit: number): Promise<ChildEntry[]> {
    checkLimit(limit, 'listChildren');
    // About twice the even share of each bucket, so most listings read each bucket once.
    const fetchSize = Math.min(limit, Math.max(MIN_BUCKET_PAGE, Math.ceil((2 * limit) / CHILD_BUCKETS)));

    return mergeBuckets(CHILD_BUCKETS, limit, (bucket, pageState) =>
      this.readBucketPage(parentId, bucket, startAfter, pageState, fetchSize),
    );
  }

  private async readBucketPage(
    parentId: string,
    bucket: number,
    startAfter: string | undefined,
    pageState: string | undefined,
    fetchSize: number,
  ): Promise<BucketPage> {
    const [cql, params] =
      startAfter === undefined
        ? [this.cql.listFrom, [parentId, bucket]]
        : [this.cql.listAfter, [parentId, bucket, startAfter]];
    const result = await this.session.execute('listChildren', cql, params, { idempotent: true, fetchSize, pageState });

    const entries = result.rows.map((row) => ({
      name: textColumn(row, 'name') ?? '',
      childId: textColumn(row, 'child_id') ?? '',
    }));
    return { entries, pageState: nextPageState(result) };
  }
}
