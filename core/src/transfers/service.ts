import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import { decodeFileId } from '../ids/file-id.js';
import type { JobContext, JobRunner } from '../jobs/runner.js';
import { newJobId } from '../jobs/runner.js';
import { Authorizer } from '../authz/authorizer.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import type { Identity } from '../lfs/types.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Clock } from '../tokens.js';
import {
  bucketOf,
  isPhaseEnded,
  recordBytes,
  transferStatus,
  TRANSFER_COLLECTION,
  type TransferBucket,
  type TransferDoc,
  type TransferType,
} from './model.js';
import type { ReplicaEngine, ReplicaProtection } from './replicas.js';
import { addMeasurement, emptyThroughput, THROUGHPUT_COLLECTION, type ThroughputSeries, type TransferThroughputDoc } from './throughput.js';
import { regularFilesBelow } from './tree.js';

export interface CreateTransferRequest {
  type: TransferType;
  fileId: string;
  /** Storage that gets a complete replica (replication, migration). */
  replicatingStorageId?: string;
  /** Storage whose replicas are removed (eviction, migration). */
  evictingStorageId?: string;
  /** URL that receives a POST with `{"transferId"}` when the transfer ends. */
  callback?: string;
}

export interface TransferPage {
  transfers: string[];
  nextPageToken: string | null;
}

/** Progress a transfer job records: how many files of its list each phase finished. */
interface TransferProgress {
  replicated: number;
  evicted: number;
}

const JOB_KIND = 'transfer';

/** Ended transfers list newest first: their keys count down from this. */
const KEY_CEILING = 2 ** 48;

/**
 * Replication, eviction and migration of files and directories, with Onedata's states,
 * counters, cancel and rerun. Each transfer runs as one job, so it runs once across
 * workers and resumes after a worker restart: the job records how many files each phase
 * finished, and the replica engine resumes a file from its recorded blocks.
 */
export class TransferService {
  private protection: ReplicaProtection = async () => false;
  /** Applies token caveats to scheduling and cancelling; space privileges are checked by the caller. */
  private readonly authz: Authorizer;

  constructor(
    private readonly store: MetadataStore,
    private readonly lfs: LogicalFileSystem,
    private readonly jobs: JobRunner,
    private readonly replicas: ReplicaEngine,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly providerId: string,
  ) {
    this.authz = new Authorizer(store, clock);
    jobs.register<{ transferId: string }, TransferProgress>(JOB_KIND, (context) => this.run(context));
  }

  /** Set what keeps a replica from eviction (QoS requirements). */
  setProtection(protection: ReplicaProtection): void {
    this.protection = protection;
  }

  async create(who: Identity, request: CreateTransferRequest): Promise<TransferDoc> {
    const attributes = await this.lfs.getAttributes(who, request.fileId);
    const guid = decodeFileId(request.fileId);
    await this.authz.checkCaveatsAllowManaging(who, guid.fileUuid, `schedule a ${request.type}`);
    const space = await this.lfs.getSpace(who, guid.spaceId);
    const storages = new Set(space.storageIds);
    const replicating = request.type === 'eviction' ? null : required(request.replicatingStorageId, 'replicatingProviderId', request.type);
    const evicting = request.type === 'replication' ? null : required(request.evictingStorageId, 'evictingProviderId', request.type);
    for (const [key, storageId] of [['replicatingProviderId', replicating], ['evictingProviderId', evicting]] as const) {
      if (storageId !== null && !storages.has(storageId)) {
        throw new OpError('badValue', `space "${space.name}" is not supported by storage "${storageId}"; give a storage id that supports it`, {
          key,
          errorId: 'spaceNotSupportedBy',
          spaceId: space.spaceId,
          providerId: storageId,
        });
      }
    }
    if (replicating !== null && replicating === evicting) {
      throw OpError.badValue('evictingProviderId', 'a migration needs different replicating and evicting storages');
    }

    const now = this.nowSeconds();
    const transferId = newJobId(this.clock.now());
    const doc: TransferDoc = {
      transferId,
      type: request.type,
      userId: who.userId,
      rerunId: null,
      spaceId: space.spaceId,
      dataSourceType: 'file',
      fileId: request.fileId,
      fileUuid: guid.fileUuid,
      filePath: attributes.path,
      replicatingProviderId: replicating,
      evictingProviderId: evicting,
      schedulingProviderId: this.providerId,
      callback: request.callback ?? null,
      replicationStatus: replicating === null ? 'skipped' : 'scheduled',
      evictionStatus: evicting === null ? 'skipped' : 'scheduled',
      cancel: false,
      filesToProcess: 0,
      filesProcessed: 0,
      filesReplicated: 0,
      filesEvicted: 0,
      filesFailed: 0,
      bytesReplicated: 0,
      bytesToReplicate: 0,
      scheduleTime: now,
      startTime: 0,
      finishTime: 0,
      lastUpdate: now,
      jobId: transferId,
      bucketKey: this.bucketKey('waiting', now, transferId),
      minHist: {},
      hrHist: {},
      dyHist: {},
      mthHist: {},
    };
    await this.store.create(TRANSFER_COLLECTION, transferId, doc);
    await this.store.addChild(bucketParent(doc.spaceId, 'waiting'), doc.bucketKey, transferId);
    await this.jobs.enqueue(JOB_KIND, { transferId }, transferId);
    this.logger.info({ transferId, type: doc.type, fileId: doc.fileId }, 'transfer scheduled');
    return doc;
  }

  async get(who: Identity, transferId: string): Promise<TransferDoc> {
    const doc = await this.load(transferId);
    await this.lfs.getSpace(who, doc.spaceId);
    return doc;
  }

  /** The last transfer of the chain of reruns that starts at `doc`. */
  async effective(doc: TransferDoc): Promise<TransferDoc> {
    let current = doc;
    for (let hops = 0; current.rerunId !== null && hops < 1000; hops++) {
      const next = await this.store.get<TransferDoc>(TRANSFER_COLLECTION, current.rerunId);
      if (!next) break;
      current = next.value;
    }
    return current;
  }

  /** Cancel a transfer that has not ended; an ended one is rejected with `transferAlreadyEnded`. */
  async cancel(who: Identity, transferId: string): Promise<void> {
    const before = await this.get(who, transferId);
    await this.authz.checkCaveatsAllowManaging(who, before.fileUuid, `cancel a ${before.type}`);
    if (bucketOf(before) === 'ended') throw transferError('transferAlreadyEnded', `transfer "${transferId}" has already ended`, transferId);

    const updated = await this.update(transferId, (doc) => {
      doc.cancel = true;
      for (const phase of ['replicationStatus', 'evictionStatus'] as const) {
        if (doc[phase] === 'active') doc[phase] = 'aborting';
        else if (doc[phase] === 'scheduled' || doc[phase] === 'enqueued') doc[phase] = 'cancelled';
      }
    });
    await this.jobs.cancel(updated.jobId);
    if (bucketOf(updated) === 'ended') await this.ended(updated);
    this.logger.info({ transferId }, 'transfer cancel requested');
  }

  /** Schedule an identical transfer after an ended one; a running one is rejected with `transferNotEnded`. */
  async rerun(who: Identity, transferId: string): Promise<TransferDoc> {
    const old = await this.get(who, transferId);
    if (bucketOf(old) !== 'ended') throw transferError('transferNotEnded', `transfer "${transferId}" has not ended yet`, transferId);
    const created = await this.create(who, {
      type: old.type,
      fileId: old.fileId,
      replicatingStorageId: old.replicatingProviderId ?? undefined,
      evictingStorageId: old.evictingProviderId ?? undefined,
      callback: old.callback ?? undefined,
    });
    await this.update(transferId, (doc) => {
      doc.rerunId = created.transferId;
    });
    return created;
  }

  /** Throughput time series of a transfer; empty series before its first byte. */
  async throughput(who: Identity, transferId: string): Promise<TransferThroughputDoc> {
    await this.get(who, transferId);
    const document = await this.store.get<TransferThroughputDoc>(THROUGHPUT_COLLECTION, transferId);
    return document?.value ?? emptyThroughput(transferId);
  }

  /** Ids of a space's transfers in one bucket: waiting and ongoing oldest first, ended newest first. */
  async list(who: Identity, spaceId: string, bucket: TransferBucket, limit: number, pageToken?: string): Promise<TransferPage> {
    await this.lfs.getSpace(who, spaceId);
    const startAfter = pageToken === undefined ? undefined : decodePageToken(pageToken);
    const entries = await this.store.listChildren(bucketParent(spaceId, bucket), { startAfter, limit: limit + 1 });
    const page = entries.slice(0, limit);
    const last = page[page.length - 1];
    return {
      transfers: page.map((entry) => entry.childId),
      nextPageToken: entries.length > limit && last ? Buffer.from(last.name, 'utf8').toString('base64url') : null,
    };
  }

  private async run({ job, signal, saveProgress, logger }: JobContext<{ transferId: string }, TransferProgress>): Promise<void> {
    const transferId = job.params.transferId;
    let doc = await this.load(transferId);
    if (bucketOf(doc) === 'ended') return;
    const progress: TransferProgress = { replicated: 0, evicted: 0, ...job.progress };

    try {
      const files: string[] = [];
      let missingBytes = 0;
      for await (const file of regularFilesBelow(this.store, doc.fileUuid)) {
        files.push(file.uuid);
        if (doc.startTime === 0 && doc.replicatingProviderId !== null) missingBytes += await this.replicas.missingBytes(file, doc.replicatingProviderId);
      }
      doc = await this.update(transferId, (value) => {
        value.filesToProcess = files.length;
        if (value.startTime === 0) {
          value.startTime = this.nowSeconds();
          value.bytesToReplicate = missingBytes;
        }
        if (value.replicationStatus === 'scheduled') value.replicationStatus = 'enqueued';
        if (value.evictionStatus === 'scheduled') value.evictionStatus = 'enqueued';
      });

      if (doc.replicatingProviderId !== null && !isPhaseEnded(doc.replicationStatus)) {
        await this.replicatePhase(doc, files, progress, signal, saveProgress);
      }
      doc = await this.load(transferId);
      if (doc.evictingProviderId !== null && !isPhaseEnded(doc.evictionStatus) && doc.replicationStatus !== 'failed') {
        await this.evictPhase(doc, files, progress, signal, saveProgress);
      }
      if (doc.replicationStatus === 'failed' && doc.evictionStatus !== 'skipped') {
        await this.update(transferId, (value) => {
          value.evictionStatus = 'cancelled';
        });
      }
      await this.ended(await this.load(transferId));
    } catch (error) {
      await this.afterInterruption(transferId, error, signal, logger);
    }
  }

  private async replicatePhase(
    doc: TransferDoc,
    files: string[],
    progress: TransferProgress,
    signal: AbortSignal,
    saveProgress: (progress: TransferProgress) => Promise<void>,
  ): Promise<void> {
    const target = doc.replicatingProviderId as string;
    await this.update(doc.transferId, (value) => {
      value.replicationStatus = 'active';
    });
    for (let index = progress.replicated; index < files.length; index++) {
      signal.throwIfAborted();
      const fileUuid = files[index] as string;
      let failed = false;
      let bytes = 0;
      try {
        bytes = await this.replicas.replicateFile(fileUuid, target, {
          signal,
          onProgress: async (length) => {
            await this.update(doc.transferId, (value) => {
              const now = this.nowSeconds();
              value.bytesReplicated += length;
              recordBytes(value, target, length, now);
              value.lastUpdate = now;
            });
            await this.recordThroughput(doc.transferId, 'bytes', length);
          },
        });
      } catch (error) {
        if (signal.aborted) throw error;
        this.logger.warn({ err: error, transferId: doc.transferId, fileUuid }, 'replication of a file failed');
        failed = true;
      }
      await this.update(doc.transferId, (value) => {
        value.filesProcessed += 1;
        if (failed) value.filesFailed += 1;
        else if (bytes > 0) value.filesReplicated += 1;
      });
      if (!failed && bytes > 0) await this.recordThroughput(doc.transferId, 'files', 1);
      progress.replicated = index + 1;
      await saveProgress({ ...progress });
    }
    await this.update(doc.transferId, (value) => {
      value.replicationStatus = value.filesFailed > 0 ? 'failed' : 'completed';
    });
  }

  private async evictPhase(
    doc: TransferDoc,
    files: string[],
    progress: TransferProgress,
    signal: AbortSignal,
    saveProgress: (progress: TransferProgress) => Promise<void>,
  ): Promise<void> {
    const source = doc.evictingProviderId as string;
    const countsFiles = doc.replicationStatus === 'skipped';
    await this.update(doc.transferId, (value) => {
      value.evictionStatus = 'active';
    });
    for (let index = progress.evicted; index < files.length; index++) {
      signal.throwIfAborted();
      const fileUuid = files[index] as string;
      let outcome: string;
      try {
        outcome = await this.replicas.evictFile(fileUuid, source, this.protection);
      } catch (error) {
        this.logger.warn({ err: error, transferId: doc.transferId, fileUuid }, 'eviction of a file failed');
        outcome = 'failed';
      }
      await this.update(doc.transferId, (value) => {
        // A migration counted its files in the replication phase already.
        if (countsFiles) value.filesProcessed += 1;
        if (outcome === 'evicted') value.filesEvicted += 1;
        if (outcome === 'failed') value.filesFailed += 1;
      });
      progress.evicted = index + 1;
      await saveProgress({ ...progress });
    }
    await this.update(doc.transferId, (value) => {
      value.evictionStatus = value.filesFailed > 0 ? 'failed' : 'completed';
    });
  }

  /** After an abort: a requested cancel ends the transfer; a stop or lost lease leaves it for a resume; anything else fails it. */
  private async afterInterruption(transferId: string, error: unknown, signal: AbortSignal, logger: Logger): Promise<void> {
    const doc = await this.load(transferId);
    if (doc.cancel) {
      const ended = await this.update(transferId, (value) => {
        for (const phase of ['replicationStatus', 'evictionStatus'] as const) {
          if (!isPhaseEnded(value[phase])) value[phase] = 'cancelled';
        }
      });
      await this.ended(ended);
      return;
    }
    if (signal.aborted) {
      logger.info({ transferId }, 'transfer interrupted; it resumes on the next run');
      throw error;
    }
    const failed = await this.update(transferId, (value) => {
      for (const phase of ['replicationStatus', 'evictionStatus'] as const) {
        if (!isPhaseEnded(value[phase])) value[phase] = 'failed';
      }
    });
    logger.warn({ err: error, transferId }, 'transfer failed');
    await this.ended(failed);
  }

  /** Move an ended transfer to the ended bucket, stamp its finish time and call its callback. */
  private async ended(doc: TransferDoc): Promise<void> {
    if (doc.finishTime !== 0) return;
    const now = this.nowSeconds();
    const updated = await this.update(doc.transferId, (value) => {
      value.finishTime = now;
      value.lastUpdate = now;
    });
    this.logger.info({ transferId: doc.transferId, status: transferStatus(updated), bytes: updated.bytesReplicated }, 'transfer ended');
    if (updated.callback) await this.notify(updated.callback, updated.transferId);
  }

  private async notify(url: string, transferId: string): Promise<void> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ transferId }),
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      if (!response.ok) this.logger.warn({ transferId, status: response.status }, 'transfer callback returned an error status');
    } catch (error) {
      this.logger.warn({ err: error, transferId }, 'transfer callback failed');
    }
  }

  private async recordThroughput(transferId: string, series: ThroughputSeries, value: number): Promise<void> {
    const now = this.nowSeconds();
    await upsertDocument<TransferThroughputDoc>(
      this.store,
      THROUGHPUT_COLLECTION,
      transferId,
      () => emptyThroughput(transferId),
      (doc) => addMeasurement(doc, series, value, now),
    );
  }

  private async load(transferId: string): Promise<TransferDoc> {
    const document = await this.store.get<TransferDoc>(TRANSFER_COLLECTION, transferId);
    if (!document) throw OpError.notFound(`transfer "${transferId}"`, { transferId });
    return document.value;
  }

  /** Change a transfer document and keep its listing entry in the bucket its statuses give. */
  private async update(transferId: string, change: (doc: TransferDoc) => void): Promise<TransferDoc> {
    const before = await this.load(transferId);
    const updated = await updateDocument<TransferDoc>(this.store, TRANSFER_COLLECTION, transferId, (doc) => {
      change(doc);
      const bucket = bucketOf(doc);
      if (!doc.bucketKey.startsWith(`${bucket}:`)) {
        doc.bucketKey = this.bucketKey(bucket, bucket === 'ended' ? doc.finishTime || this.nowSeconds() : doc.scheduleTime, transferId);
      }
    });
    const doc = updated.value;
    if (doc.bucketKey !== before.bucketKey) {
      await this.store.addChild(bucketParent(doc.spaceId, bucketOf(doc)), doc.bucketKey, transferId).catch((error: unknown) => {
        if (!(OpError.is(error) && error.kind === 'alreadyExists')) throw error;
      });
      await this.store.removeChild(bucketParent(before.spaceId, bucketOf(before)), before.bucketKey, transferId);
    }
    return doc;
  }

  private bucketKey(bucket: TransferBucket, timeSeconds: number, transferId: string): string {
    const order = bucket === 'ended' ? KEY_CEILING - timeSeconds : timeSeconds;
    return `${bucket}:${order.toString(16).padStart(12, '0')}:${transferId}`;
  }

  private nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

function bucketParent(spaceId: string, bucket: TransferBucket): string {
  return `transfers:${spaceId}:${bucket}`;
}

function decodePageToken(token: string): string {
  const name = Buffer.from(token, 'base64url').toString('utf8');
  if (!/^(waiting|ongoing|ended):/.test(name)) throw OpError.badValue('page_token', `page_token "${token}" is not a token from a previous page`);
  return name;
}

function required(value: string | undefined, key: string, type: TransferType): string {
  if (value === undefined || value.length === 0) throw new OpError('missingValue', `a ${type} needs ${key}`, { key });
  return value;
}

function transferError(errorId: 'transferAlreadyEnded' | 'transferNotEnded', message: string, transferId: string): OpError {
  return new OpError('badValue', message, { key: 'transferId', errorId, transferId });
}
