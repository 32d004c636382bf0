import { OpError, type ChangeInput, type ChangeRecord, type Clock } from '@op-worker/core';
import type { Logger } from 'pino';

import { changeBucketOf, seqFloorAt } from './partitioning.js';
import { nextPageState, numberColumn, textColumn, wasApplied, type CqlSession, type Row } from './session.js';
import { checkLimit, serializeValue } from './validation.js';

/** Seqs one append tries to claim before it gives up with `unavailable`. */
const CLAIM_ATTEMPTS = 16;

/** Bucket numbers read per page while walking a space's feed partitions. */
const BUCKET_PAGE = 100;

/** The newest seq this process handed out for a space. */
interface SpaceSeqState {
  last: number;
}

/**
 * The per-space change feed.
 *
 * Rows live in partitions of (space, minute of seq time), clustered by seq, so a space
 * with millions of changes never forms one partition. `change_buckets` lists the
 * minutes that have rows, so readers skip idle time without probing empty partitions.
 *
 * A seq is time based: `timeMs * 2048 + n` (see `SEQ_TICKS_PER_MS`), which fits in 2^53
 * and keeps the feeds of different workers close to time order, so a reader that
 * stays a few seconds behind the newest seq misses nothing that another worker wrote
 * late. There is no shared counter row, which every append of a space would contend
 * for. Instead each append claims its seq with a lightweight transaction on a
 * partition of its own (`change_seq_claims`), so two workers that pick the same seq
 * in the same millisecond cannot both use it, while appends that do not collide never
 * touch the same Paxos state. Within this process seqs only increase: the first
 * append of a space starts after the space's newest stored seq, which also covers a
 * clock that moved backwards across a restart.
 */
export class ChangeFeed {
  private readonly seqStates = new Map<string, Promise<SpaceSeqState>>();
  /** Newest bucket known to be listed in `change_buckets`, per space. */
  private readonly listedBuckets = new Map<string, number>();

  private readonly cql;

  constructor(
    private readonly session: CqlSession,
    private readonly clock: Clock,
    private readonly logger: Logger | undefined,
  ) {
    const changes = session.table('changes');
    const buckets = session.table('change_buckets');
    const claims = session.table('change_seq_claims');
    this.cql = {
      claim: `INSERT INTO ${claims} (space_id, seq, claimed) VALUES (?, ?, true) IF NOT EXISTS`,
      listBucket: `INSERT INTO ${buckets} (space_id, bucket) VALUES (?, ?)`,
      insert: `INSERT INTO ${changes} (space_id, bucket, seq, collection, key, deleted, data, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      bucketsFrom: `SELECT bucket FROM ${buckets} WHERE space_id = ? AND bucket >= ?`,
      bucketsNewestFirst: `SELECT bucket FROM ${buckets} WHERE space_id = ? ORDER BY bucket DESC`,
      read: `SELECT seq, collection, key, deleted, data, time_ms FROM ${changes} WHERE space_id = ? AND bucket = ? AND seq > ? LIMIT ?`,
      newest: `SELECT seq FROM ${changes} WHERE space_id = ? AND bucket = ? ORDER BY seq DESC LIMIT 1`,
    };
  }

  async append(spaceId: string, change: ChangeInput): Promise<number> {
    const data = change.data === undefined ? null : serializeValue(change.data, `change of ${change.collection}/${change.key}`);
    const timeMs = this.clock.now();
    const seq = await this.claimSeq(spaceId, timeMs);
    const bucket = changeBucketOf(seq);

    // The bucket is listed before the row is written, so a reader never misses a row.
    await this.listBucket(spaceId, bucket);
    await this.session.execute(
      'appendChange',
      this.cql.insert,
      [spaceId, bucket, seq, change.collection, change.key, change.deleted, data, timeMs],
      { idempotent: true },
    );
    return seq;
  }

  async read(spaceId: string, afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    checkLimit(limit, 'readChanges');
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw OpError.badValue('afterSeq', `readChanges needs afterSeq as a non-negative integer, got ${afterSeq}`, { afterSeq });
    }

    const records: ChangeRecord[] = [];
    for await (const bucket of this.bucketsFrom(spaceId, changeBucketOf(afterSeq + 1))) {
      const result = await this.session.execute(
        'readChanges',
        this.cql.read,
        [spaceId, bucket, afterSeq, limit - records.length],
        { idempotent: true },
      );
      records.push(...result.rows.map(toChangeRecord));
      if (records.length >= limit) {
        break;
      }
    }
    return records;
  }

  async lastSeq(spaceId: string): Promise<number> {
    for await (const bucket of this.bucketsNewestFirst(spaceId)) {
      const result = await this.session.execute('lastChangeSeq', this.cql.newest, [spaceId, bucket], { idempotent: true });
      const seq = numberColumn(result.first() ?? undefined, 'seq');
      if (seq !== undefined) {
        return seq;
      }
    }
    return 0;
  }

  private async claimSeq(spaceId: string, timeMs: number): Promise<number> {
    const state = await this.seqState(spaceId);

    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const seq = Math.max(seqFloorAt(timeMs), state.last + 1);
      if (!Number.isSafeInteger(seq)) {
        throw new OpError('internal', `change seq ${seq} of space ${spaceId} exceeds 2^53; the clock reads ${timeMs} ms`, {
          spaceId,
          timeMs,
        });
      }
      state.last = seq;

      const result = await this.session.execute('appendChange', this.cql.claim, [spaceId, seq], { idempotent: false });
      if (wasApplied(result)) {
        return seq;
      }
      // Another worker took this seq in the same millisecond. Skip a few numbers at
      // random, so two workers do not keep colliding on the next one.
      state.last += Math.floor(Math.random() * 8);
      this.logger?.debug({ spaceId, seq }, 'change seq taken by another worker; trying the next');
    }
    throw new OpError(
      'unavailable',
      `could not claim a change seq for space ${spaceId} after ${CLAIM_ATTEMPTS} attempts; other workers keep taking them. Retry later.`,
      { spaceId },
    );
  }

  /** Returns the seq state of a space, loaded once per process from the newest stored seq. */
  private seqState(spaceId: string): Promise<SpaceSeqState> {
    let state = this.seqStates.get(spaceId);
    if (state === undefined) {
      state = this.lastSeq(spaceId).then((last) => ({ last }));
      // A failed load is forgotten, so the next append tries again.
      state.catch(() => this.seqStates.delete(spaceId));
      this.seqStates.set(spaceId, state);
    }
    return state;
  }

  private async listBucket(spaceId: string, bucket: number): Promise<void> {
    if (this.listedBuckets.get(spaceId) === bucket) {
      return;
    }
    await this.session.execute('appendChange', this.cql.listBucket, [spaceId, bucket], { idempotent: true });
    this.listedBuckets.set(spaceId, bucket);
  }

  private bucketsFrom(spaceId: string, firstBucket: number): AsyncGenerator<number> {
    return this.pagedBuckets('readChanges', this.cql.bucketsFrom, [spaceId, firstBucket]);
  }

  private bucketsNewestFirst(spaceId: string): AsyncGenerator<number> {
    return this.pagedBuckets('lastChangeSeq', this.cql.bucketsNewestFirst, [spaceId]);
  }

  /** Bucket numbers of one query, read a page at a time with the driver's page state. */
  private async *pagedBuckets(operation: string, cql: string, params: unknown[]): AsyncGenerator<number> {
    let pageState: string | undefined;
    do {
      const result = await this.session.execute(operation, cql, params, { idempotent: true, fetchSize: BUCKET_PAGE, pageState });
      for (const row of result.rows) {
        const bucket = numberColumn(row, 'bucket');
        if (bucket !== undefined) {
          yield bucket;
        }
      }
      pageState = nextPageState(result);
    } while (pageState !== undefined);
  }
}

function toChangeRecord(row: Row): ChangeRecord {
  const record: ChangeRecord = {
    seq: numberColumn(row, 'seq') ?? 0,
    collection: textColumn(row, 'collection') ?? '',
    key: textColumn(row, 'key') ?? '',
    deleted: row['deleted'] === true,
    timeMs: numberColumn(row, 'time_ms') ?? 0,
  };
  const data = textColumn(row, 'data');
  if (data !== undefined) {
    record.data = JSON.parse(data) as unknown;
  }
  return record;
}
