/** Collection of transfer documents. */
export const TRANSFER_COLLECTION = 'transfer';

export type TransferType = 'replication' | 'eviction' | 'migration';

/** State of one phase (replication or eviction), as Onedata names it. */
export type PhaseStatus = 'scheduled' | 'enqueued' | 'active' | 'completed' | 'aborting' | 'cancelled' | 'failed' | 'skipped';

/** Overall state of a transfer, derived from its phases. */
export type TransferStatus = 'scheduled' | 'enqueued' | 'replicating' | 'evicting' | 'completed' | 'aborting' | 'cancelled' | 'failed' | 'skipped';

/** Listing buckets: waiting (scheduled or enqueued), ongoing, ended. */
export type TransferBucket = 'waiting' | 'ongoing' | 'ended';

/** Byte counts per time window, newest window first, per storage that received them. */
export interface TransferHistograms {
  minHist: Record<string, number[]>;
  hrHist: Record<string, number[]>;
  dyHist: Record<string, number[]>;
  mthHist: Record<string, number[]>;
}

/**
 * A transfer. Where Onedata names provider ids (`replicatingProviderId`,
 * `evictingProviderId`), this worker stores storage ids, because several storages of
 * one provider stand for several providers. Times are seconds since the epoch.
 */
export interface TransferDoc extends TransferHistograms {
  transferId: string;
  type: TransferType;
  userId: string;
  rerunId: string | null;
  spaceId: string;
  dataSourceType: 'file';
  fileId: string;
  fileUuid: string;
  filePath: string;
  replicatingProviderId: string | null;
  evictingProviderId: string | null;
  /** The provider that scheduled it; kept for federation. */
  schedulingProviderId: string;
  callback: string | null;
  replicationStatus: PhaseStatus;
  evictionStatus: PhaseStatus;
  cancel: boolean;
  filesToProcess: number;
  filesProcessed: number;
  filesReplicated: number;
  filesEvicted: number;
  filesFailed: number;
  bytesReplicated: number;
  /** Bytes the replication phase had to copy when it first started; 0 before that. Not part of Onedata's record. */
  bytesToReplicate: number;
  scheduleTime: number;
  startTime: number;
  finishTime: number;
  lastUpdate: number;
  /** Id of the background job that runs it. */
  jobId: string;
  /** Key of its entry in the current listing bucket. */
  bucketKey: string;
}

const ENDED: ReadonlySet<PhaseStatus> = new Set(['completed', 'cancelled', 'failed', 'skipped']);

export function isPhaseEnded(status: PhaseStatus): boolean {
  return ENDED.has(status);
}

/**
 * The overall status. A migration is `evicting` once its replication completed and
 * until the eviction ends; an active phase shows as `replicating` or `evicting`.
 */
export function transferStatus(doc: Pick<TransferDoc, 'replicationStatus' | 'evictionStatus'>): TransferStatus {
  const { replicationStatus: replication, evictionStatus: eviction } = doc;
  if (replication === 'completed' || replication === 'skipped') {
    if (eviction === 'skipped') return replication;
    if (eviction === 'scheduled' || eviction === 'enqueued' || eviction === 'active') {
      return replication === 'skipped' && eviction !== 'active' ? eviction : 'evicting';
    }
    return eviction;
  }
  if (replication === 'active') return 'replicating';
  return replication;
}

export function bucketOf(doc: Pick<TransferDoc, 'replicationStatus' | 'evictionStatus'>): TransferBucket {
  const status = transferStatus(doc);
  if (status === 'scheduled' || status === 'enqueued') return 'waiting';
  if (status === 'replicating' || status === 'evicting' || status === 'aborting') return 'ongoing';
  return 'ended';
}

/** Window length in seconds and number of windows of each histogram. */
export const HISTOGRAM_WINDOWS = {
  minHist: { seconds: 5, slots: 12 },
  hrHist: { seconds: 60, slots: 60 },
  dyHist: { seconds: 3600, slots: 24 },
  mthHist: { seconds: 86_400, slots: 30 },
} as const;

/**
 * Add `bytes` for `storageId` at `nowSeconds` to each histogram, shifting windows that
 * time has passed since `lastUpdate` out of the far end.
 */
export function recordBytes(doc: TransferDoc, storageId: string, bytes: number, nowSeconds: number): void {
  for (const [name, window] of Object.entries(HISTOGRAM_WINDOWS) as Array<[keyof TransferHistograms, { seconds: number; slots: number }]>) {
    const histogram = doc[name];
    const slots = histogram[storageId] ?? new Array<number>(window.slots).fill(0);
    const shift = Math.max(0, Math.floor(nowSeconds / window.seconds) - Math.floor(doc.lastUpdate / window.seconds));
    const shifted = [...new Array<number>(Math.min(shift, window.slots)).fill(0), ...slots].slice(0, window.slots);
    shifted[0] = (shifted[0] ?? 0) + bytes;
    histogram[storageId] = shifted;
  }
}
