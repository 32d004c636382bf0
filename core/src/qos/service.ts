import type { Logger } from 'pino';
import { OpError } from '../errors.js';
import type { DataEvents, EventBus } from '../events/bus.js';
import { decodeFileId, encodeFileId } from '../ids/file-id.js';
import { newJobId, type JobContext, type JobRunner } from '../jobs/runner.js';
import { Authorizer } from '../authz/authorizer.js';
import type { LogicalFileSystem } from '../lfs/api.js';
import { COLLECTIONS, type FileDoc, type FileLocationDoc, type SpaceDoc, locationKey } from '../lfs/model.js';
import type { Identity } from '../lfs/types.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import type { MetadataStore } from '../metadata/store.js';
import type { StorageRegistry } from '../spaces/api.js';
import type { Clock } from '../tokens.js';
import { coversAll } from '../transfers/blocks.js';
import type { ReplicaEngine } from '../transfers/replicas.js';
import { regularFilesBelow, selfAndAncestors } from '../transfers/tree.js';
import { evaluateQosExpression, parseQosExpression, qosExpressionToInfix, type QosStorageParameters } from './expression.js';
import {
  auditParent,
  QOS_COLLECTIONS,
  spaceRequirementsParent,
  type QosAuditEntry,
  type QosFileDoc,
  type QosRequirementDoc,
  type QosStatus,
} from './model.js';

export interface AddQosRequirementRequest {
  fileId: string;
  expression: string;
  /** Replicas to keep; an integer of at least 1, default 1. */
  replicasNum?: number;
}

export interface QosRequirementView {
  qosRequirementId: string;
  fileId: string;
  expression: string;
  replicasNum: number;
  status: QosStatus;
}

export interface QosSummary {
  requirements: Record<string, QosStatus>;
  status: QosStatus;
}

/** Origin of a file's effective QoS requirements (the file, its ancestors, both or none), with Onedata's names. */
export type QosInheritancePath = 'none' | 'direct' | 'ancestor' | 'direct_and_ancestor';

/** QoS of one file as its attributes show it. */
export interface FileQos {
  /** Aggregate status of the effective requirements, `fulfilled` when there are none. */
  status: QosStatus;
  inheritancePath: QosInheritancePath;
}

export interface MatchingStorage {
  id: string;
  name: string;
  providerId: string;
}

const TRAVERSE_JOB = 'qos-traverse';
const RECONCILE_JOB = 'qos-reconcile';

/**
 * QoS requirements: a parsed expression over storage QoS parameters and a number of
 * replicas, on a file or directory and everything below it (files created later
 * included). Each requirement picks its storages once. A traverse job replicates the
 * existing files onto them, and a reconcile job runs after every change of a file below.
 * A requirement that too few storages match is impossible until storages change.
 */
export class QosService {
  /** Applies token caveats to adding and removing requirements; space privileges are checked by the caller. */
  private readonly authz: Authorizer;

  constructor(
    private readonly store: MetadataStore,
    private readonly lfs: LogicalFileSystem,
    private readonly storages: StorageRegistry,
    private readonly jobs: JobRunner,
    private readonly replicas: ReplicaEngine,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly providerId: string,
  ) {
    this.authz = new Authorizer(store, clock);
    jobs.register<{ qosRequirementId: string }, { done: number }>(TRAVERSE_JOB, (context) => this.traverse(context));
    jobs.register<{ fileUuid: string }, never>(RECONCILE_JOB, (context) => this.reconcile(context));
    jobs.onTimer(() => this.reevaluateImpossible());
    events.on('file.changed', (event) => this.onFileChanged(event));
    events.on('storage.changed', () => this.reevaluateImpossible());
  }

  async add(who: Identity, request: AddQosRequirementRequest): Promise<QosRequirementDoc> {
    const tree = parseQosExpression(request.expression);
    const replicasNum = request.replicasNum ?? 1;
    if (!Number.isSafeInteger(replicasNum) || replicasNum < 1) {
      throw OpError.badValue('replicasNum', `replicasNum must be an integer of at least 1, got ${String(replicasNum)}`);
    }
    await this.lfs.getAttributes(who, request.fileId);
    const guid = decodeFileId(request.fileId);
    await this.authz.checkCaveatsAllowManaging(who, guid.fileUuid, 'add a QoS requirement');

    const id = newJobId(this.clock.now());
    const doc: QosRequirementDoc = {
      qosRequirementId: id,
      spaceId: guid.spaceId,
      fileUuid: guid.fileUuid,
      fileId: encodeFileId({ fileUuid: guid.fileUuid, spaceId: guid.spaceId }),
      expression: qosExpressionToInfix(tree),
      tree,
      replicasNum,
      assignedStorages: [],
      possible: false,
      providerId: this.providerId,
      traverseJobId: null,
      createdMs: this.clock.now(),
    };
    await this.store.create(QOS_COLLECTIONS.requirement, id, doc);
    await upsertDocument<QosFileDoc>(this.store, QOS_COLLECTIONS.file, guid.fileUuid, () => ({ requirementIds: [] }), (value) => {
      value.requirementIds.push(id);
    });
    await this.store.addChild(spaceRequirementsParent(guid.spaceId), id, id);
    const assigned = await this.tryAssign(doc);
    await this.events.emit('qos.requirementChanged', { spaceId: doc.spaceId, qosRequirementId: id, fileUuid: doc.fileUuid, removed: false });
    this.logger.info({ qosRequirementId: id, expression: doc.expression, possible: assigned.possible }, 'QoS requirement added');
    return assigned;
  }

  async get(who: Identity, qosRequirementId: string): Promise<QosRequirementView> {
    const doc = await this.accessible(who, qosRequirementId);
    return this.view(doc.possible ? doc : await this.tryAssign(doc));
  }

  /** Remove a requirement. Its replicas stay, but no longer protected from eviction. */
  async remove(who: Identity, qosRequirementId: string): Promise<void> {
    const doc = await this.accessible(who, qosRequirementId);
    await this.authz.checkCaveatsAllowManaging(who, doc.fileUuid, 'remove a QoS requirement');
    if (doc.traverseJobId) await this.jobs.cancel(doc.traverseJobId).catch(() => undefined);
    await updateDocument<QosFileDoc>(this.store, QOS_COLLECTIONS.file, doc.fileUuid, (value) => {
      value.requirementIds = value.requirementIds.filter((id) => id !== qosRequirementId);
    }).catch(() => undefined);
    await this.store.removeChild(spaceRequirementsParent(doc.spaceId), qosRequirementId);
    await this.store.delete(QOS_COLLECTIONS.requirement, qosRequirementId);
    await this.events.emit('qos.requirementChanged', { spaceId: doc.spaceId, qosRequirementId, fileUuid: doc.fileUuid, removed: true });
    this.logger.info({ qosRequirementId }, 'QoS requirement removed');
  }

  /** Effective requirements of a file (its own and its ancestors') and their status for this file. */
  async summary(who: Identity, fileId: string): Promise<QosSummary> {
    await this.lfs.getAttributes(who, fileId);
    const { fileUuid } = decodeFileId(fileId);
    const requirements: Record<string, QosStatus> = {};
    for (const doc of await this.effectiveRequirements(fileUuid)) {
      requirements[doc.qosRequirementId] = await this.statusBelow(doc, fileUuid);
    }
    return { requirements, status: aggregate(Object.values(requirements)) };
  }

  /**
   * Compute the QoS attributes of a file (`aggregateQosStatus`, `effQosInheritancePath`) without
   * an access check: the caller has read the file's attributes as the requesting user. The
   * status walks the subtree of a directory, so it is computed only when `withStatus` is set.
   */
  async fileQos(fileId: string, options: { withStatus: boolean }): Promise<FileQos> {
    const { fileUuid, spaceId } = decodeFileId(fileId);
    // A space without requirements, the common case in listings, needs no walk up the tree.
    const any = await this.store.listChildren(spaceRequirementsParent(spaceId), { limit: 1 });
    const requirements = any.length === 0 ? [] : await this.effectiveRequirements(fileUuid);

    const statuses: QosStatus[] = [];
    if (options.withStatus) {
      for (const doc of requirements) statuses.push(await this.statusBelow(doc, fileUuid));
    }
    return { status: aggregate(statuses), inheritancePath: inheritancePath(requirements, fileUuid) };
  }

  /**
   * Entries of a requirement's audit log from `offset`, oldest first. With `sinceMs`,
   * entries older than that time (milliseconds since the epoch) are left out first.
   */
  async auditLog(
    who: Identity,
    qosRequirementId: string,
    offset: number,
    limit: number,
    sinceMs?: number,
  ): Promise<{ logEntries: QosAuditEntry[]; isLast: boolean }> {
    await this.accessible(who, qosRequirementId);
    // Entry names begin with their time in hexadecimal, so a start name skips older entries.
    const startAfter = sinceMs === undefined ? undefined : (sinceMs - 1).toString(16).padStart(12, '0') + 'g';
    const names = await this.store.listChildren(auditParent(qosRequirementId), { startAfter, limit: Math.min(offset + limit + 1, 100_000) });
    const window = names.slice(offset, offset + limit);
    const documents = await this.store.getMany<QosAuditEntry>(QOS_COLLECTIONS.auditEntry, window.map((entry) => entry.childId));
    const logEntries = window.flatMap((entry) => {
      const document = documents.get(entry.childId);
      return document ? [document.value] : [];
    });
    return { logEntries, isLast: names.length <= offset + limit };
  }

  /** Storages of a space that an expression selects. */
  async evaluate(who: Identity, spaceId: string, expression: string): Promise<MatchingStorage[]> {
    await this.lfs.getSpace(who, spaceId);
    const tree = parseQosExpression(expression);
    const parameters = await this.storageParameters(spaceId);
    const matching = evaluateQosExpression(tree, parameters);
    const result: MatchingStorage[] = [];
    for (const storageId of matching) {
      const record = await this.storages.get(storageId);
      result.push({ id: storageId, name: record.name, providerId: this.providerId });
    }
    return result;
  }

  /** Whether a requirement keeps the replica of a file on a storage; such replicas are not evicted. */
  async isProtected(doc: FileDoc, storageId: string): Promise<boolean> {
    const requirements = await this.effectiveRequirements(doc.uuid);
    return requirements.some((requirement) => requirement.possible && requirement.assignedStorages.includes(storageId));
  }

  /** Look again at impossible requirements of every space, e.g. after storages or their parameters changed. */
  async reevaluateImpossible(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<SpaceDoc>(COLLECTIONS.space, { cursor, limit: 100 });
      for (const space of page.documents) {
        const entries = await this.store.listChildren(spaceRequirementsParent(space.key), { limit: 10_000 });
        const docs = await this.store.getMany<QosRequirementDoc>(QOS_COLLECTIONS.requirement, entries.map((entry) => entry.childId));
        for (const document of docs.values()) {
          if (!document.value.possible) await this.tryAssign(document.value);
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  private async accessible(who: Identity, qosRequirementId: string): Promise<QosRequirementDoc> {
    const document = await this.store.get<QosRequirementDoc>(QOS_COLLECTIONS.requirement, qosRequirementId);
    if (!document) throw OpError.notFound(`QoS requirement "${qosRequirementId}"`, { qosRequirementId });
    await this.lfs.getSpace(who, document.value.spaceId);
    return document.value;
  }

  private async view(doc: QosRequirementDoc): Promise<QosRequirementView> {
    return {
      qosRequirementId: doc.qosRequirementId,
      fileId: doc.fileId,
      expression: doc.expression,
      replicasNum: doc.replicasNum,
      status: await this.statusBelow(doc, doc.fileUuid),
    };
  }

  /**
   * Choose storages for a requirement when enough match, and start replicating onto
   * them. Storages come in the space's support order, so the storage that takes new
   * data is chosen first when it matches.
   */
  private async tryAssign(doc: QosRequirementDoc): Promise<QosRequirementDoc> {
    const parameters = await this.storageParameters(doc.spaceId);
    const matching = evaluateQosExpression(doc.tree, parameters);
    const ordered = parameters.map((storage) => storage.storageId).filter((id) => matching.has(id));
    if (ordered.length < doc.replicasNum) return doc;

    const jobId = `qos-traverse-${doc.qosRequirementId}`;
    const updated = await updateDocument<QosRequirementDoc>(this.store, QOS_COLLECTIONS.requirement, doc.qosRequirementId, (value) => {
      if (value.possible) return;
      value.possible = true;
      value.assignedStorages = ordered.slice(0, doc.replicasNum);
      value.traverseJobId = jobId;
    });
    await this.jobs.enqueue(TRAVERSE_JOB, { qosRequirementId: doc.qosRequirementId }, jobId);
    this.logger.info({ qosRequirementId: doc.qosRequirementId, storages: updated.value.assignedStorages }, 'QoS requirement assigned storages');
    return updated.value;
  }

  private async storageParameters(spaceId: string): Promise<QosStorageParameters[]> {
    const space = await this.store.get<SpaceDoc>(COLLECTIONS.space, spaceId);
    if (!space) throw OpError.notFound(`space "${spaceId}"`, { spaceId });
    const result: QosStorageParameters[] = [];
    for (const support of space.value.supports) {
      const record = await this.storages.get(support.storageId).catch(() => undefined);
      if (!record) continue;
      result.push({
        storageId: record.storageId,
        parameters: { ...record.qosParameters, storageId: record.storageId, providerId: this.providerId },
      });
    }
    return result;
  }

  /** Requirements on the file and on its ancestors. */
  private async effectiveRequirements(fileUuid: string): Promise<QosRequirementDoc[]> {
    const chain = await selfAndAncestors(this.store, fileUuid);
    const files = await this.store.getMany<QosFileDoc>(QOS_COLLECTIONS.file, chain);
    const ids = [...files.values()].flatMap((document) => document.value.requirementIds);
    if (ids.length === 0) return [];
    const documents = await this.store.getMany<QosRequirementDoc>(QOS_COLLECTIONS.requirement, ids);
    return ids.flatMap((id) => {
      const document = documents.get(id);
      return document ? [document.value] : [];
    });
  }

  /**
   * Status of a requirement for the files at or below `fileUuid`: impossible without
   * storages, pending while its traverse runs or any file there lacks a complete replica
   * on an assigned storage, else fulfilled.
   */
  private async statusBelow(doc: QosRequirementDoc, fileUuid: string): Promise<QosStatus> {
    if (!doc.possible) return 'impossible';
    if (doc.traverseJobId) {
      const job = await this.jobs.get(doc.traverseJobId);
      if (job && (job.state === 'queued' || job.state === 'running')) return 'pending';
    }
    // NOTE: this walks the subtree on every status read; Onedata keeps per-directory bookkeeping instead.
    for await (const file of regularFilesBelow(this.store, fileUuid)) {
      for (const storageId of doc.assignedStorages) {
        const location = await this.store.get<FileLocationDoc>(COLLECTIONS.location, locationKey(file.uuid, storageId));
        if (!coversAll(location?.value.blocks ?? [], file.size)) return 'pending';
      }
    }
    return 'fulfilled';
  }

  private async onFileChanged(event: DataEvents['file.changed']): Promise<void> {
    if (event.deleted || event.type !== 'REG') return;
    const any = await this.store.listChildren(spaceRequirementsParent(event.spaceId), { limit: 1 });
    if (any.length === 0) return;
    const requirements = await this.effectiveRequirements(event.fileUuid);
    if (!requirements.some((doc) => doc.possible)) return;
    // NOTE: every change queues its own reconcile job; an upload in many offset writes queues many, each copying only what is missing then.
    await this.jobs.enqueue(RECONCILE_JOB, { fileUuid: event.fileUuid });
  }

  private async traverse({ job, signal, saveProgress }: JobContext<{ qosRequirementId: string }, { done: number }>): Promise<void> {
    const doc = (await this.store.get<QosRequirementDoc>(QOS_COLLECTIONS.requirement, job.params.qosRequirementId))?.value;
    if (!doc) return;
    let index = 0;
    const done = job.progress?.done ?? 0;
    for await (const file of regularFilesBelow(this.store, doc.fileUuid)) {
      signal.throwIfAborted();
      if (index >= done) {
        await this.replicateFor(doc, file, signal);
        await saveProgress({ done: index + 1 });
      }
      index += 1;
    }
  }

  private async reconcile({ job, signal }: JobContext<{ fileUuid: string }, never>): Promise<void> {
    const file = (await this.store.get<FileDoc>(COLLECTIONS.file, job.params.fileUuid))?.value;
    if (!file || file.type !== 'REG') return;
    for (const doc of await this.effectiveRequirements(file.uuid)) {
      if (doc.possible) await this.replicateFor(doc, file, signal);
    }
  }

  /** Replicate one file onto a requirement's storages and write the outcome to its audit log. */
  private async replicateFor(doc: QosRequirementDoc, file: FileDoc, signal: AbortSignal): Promise<void> {
    const fileId = encodeFileId({ fileUuid: file.uuid, spaceId: file.spaceId });
    for (const storageId of doc.assignedStorages) {
      try {
        const bytes = await this.replicas.replicateFile(file.uuid, storageId, { signal });
        if (bytes > 0) await this.audit(doc, { fileId, status: 'completed', severity: 'info', description: `Replicated ${bytes} bytes to storage ${storageId}.` });
      } catch (error) {
        if (signal.aborted) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        await this.audit(doc, { fileId, status: 'failed', severity: 'error', description: `Replication to storage ${storageId} failed.`, reason });
      }
    }
  }

  private async audit(doc: QosRequirementDoc, content: QosAuditEntry['content']): Promise<void> {
    const now = this.clock.now();
    const index = newJobId(now);
    const key = `${doc.qosRequirementId}:${index}`;
    await this.store.create<QosAuditEntry>(QOS_COLLECTIONS.auditEntry, key, { index, timestamp: now, content });
    await this.store.addChild(auditParent(doc.qosRequirementId), index, key);
  }
}

function inheritancePath(requirements: readonly QosRequirementDoc[], fileUuid: string): QosInheritancePath {
  const direct = requirements.some((doc) => doc.fileUuid === fileUuid);
  const inherited = requirements.some((doc) => doc.fileUuid !== fileUuid);
  if (direct && inherited) return 'direct_and_ancestor';
  if (direct) return 'direct';
  return inherited ? 'ancestor' : 'none';
}

/** Combine statuses as Onedata does: impossible wins over pending, and an empty set is fulfilled. */
function aggregate(statuses: QosStatus[]): QosStatus {
  if (statuses.includes('impossible')) return 'impossible';
  if (statuses.includes('pending')) return 'pending';
  return 'fulfilled';
}
