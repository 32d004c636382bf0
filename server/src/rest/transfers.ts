import type Router from '@koa/router';
import { OpError, transferStatus, type SpacePrivilege, type TransferBucket, type TransferDoc, type TransferService } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppState } from '../state.js';
import { REST_PREFIX } from './files.js';
import { spaceOfFileId, type SpacePrivilegeCheck } from './privileges.js';
import { rethrowWithErrorId } from './qos.js';
import { registerTransferThroughputRoute } from './transfer-throughput.js';

interface CreateTransferBody {
  type: 'replication' | 'eviction' | 'migration';
  dataSourceType: 'file' | 'view';
  fileId?: string;
  replicatingProviderId?: string;
  evictingProviderId?: string;
  callback?: string;
  spaceId?: string;
  viewName?: string;
  queryViewParams?: Record<string, unknown>;
}

/** `replicatingProviderId` and `evictingProviderId` take storage ids: each storage of this worker stands for a provider. */
export const createTransferBody = bodyValidator<CreateTransferBody>({
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['replication', 'eviction', 'migration'] },
    dataSourceType: { type: 'string', enum: ['file', 'view'] },
    fileId: { type: 'string', minLength: 1 },
    replicatingProviderId: { type: 'string', minLength: 1 },
    evictingProviderId: { type: 'string', minLength: 1 },
    callback: { type: 'string', pattern: '^https?://', maxLength: 2048 },
    spaceId: { type: 'string' },
    viewName: { type: 'string' },
    queryViewParams: { type: 'object' },
  },
  required: ['type', 'dataSourceType'],
  additionalProperties: false,
});

interface ListTransfersQuery {
  state: TransferBucket;
  limit: number;
  page_token?: string;
}

export const listTransfersQuery = queryValidator<ListTransfersQuery>({
  type: 'object',
  properties: {
    state: { type: 'string', enum: ['waiting', 'ongoing', 'ended'], default: 'ongoing' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    page_token: { type: 'string' },
  },
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/** Storage fields that each transfer type does not use. A request that sets one is rejected, not silently dropped. */
const UNUSED_FIELDS: Record<TransferDoc['type'], Array<'replicatingProviderId' | 'evictingProviderId'>> = {
  replication: ['evictingProviderId'],
  eviction: ['replicatingProviderId'],
  migration: [],
};

/** Privileges to schedule a transfer of each type: a migration replicates, then evicts. */
const SCHEDULE_PRIVILEGES: Record<TransferDoc['type'], SpacePrivilege[]> = {
  replication: ['space_schedule_replication'],
  eviction: ['space_schedule_eviction'],
  migration: ['space_schedule_replication', 'space_schedule_eviction'],
};

/** Privileges to cancel a transfer of each type. */
const CANCEL_PRIVILEGES: Record<TransferDoc['type'], SpacePrivilege[]> = {
  replication: ['space_cancel_replication'],
  eviction: ['space_cancel_eviction'],
  migration: ['space_cancel_replication', 'space_cancel_eviction'],
};

/**
 * Register `/transfers`, `/transfers/{tid}`, `/transfers/{tid}/rerun`,
 * `/transfers/{tid}/throughput_charts` and `/spaces/{sid}/transfers`. Reading needs `space_view_transfers`; scheduling, rerunning
 * and cancelling need the schedule or cancel privileges of the transfer's type.
 */
export function registerTransferRoutes(router: Router<AppState>, transfers: TransferService, requirePrivileges: SpacePrivilegeCheck): void {
  router.post('/transfers', async (ctx) => {
    noQuery(ctx.query);
    const body = createTransferBody((await readJsonBody(ctx.req)) ?? {});
    if (body.dataSourceType === 'view') throw new ApiError(501, 'notImplemented', 'transfers of view query results are not available; use dataSourceType "file"');
    if (body.fileId === undefined) throw ApiError.missingValue('fileId', 'a transfer of dataSourceType "file" needs fileId');
    for (const field of UNUSED_FIELDS[body.type]) {
      if (body[field] !== undefined) {
        throw OpError.badValue(field, `a ${body.type} does not take ${field}. Use type "migration" to replicate and evict in one transfer`);
      }
    }
    const spaceId = spaceOfFileId(body.fileId);
    if (spaceId !== undefined) await requirePrivileges(identityOf(ctx), spaceId, ...SCHEDULE_PRIVILEGES[body.type]);

    const doc = await rethrowWithErrorId(() =>
      transfers.create(identityOf(ctx), {
        type: body.type,
        fileId: body.fileId as string,
        replicatingStorageId: body.replicatingProviderId,
        evictingStorageId: body.evictingProviderId,
        callback: body.callback,
      }),
    );
    ctx.status = 201;
    ctx.set('Location', `${ctx.protocol}://${ctx.host}${REST_PREFIX}/transfers/${doc.transferId}`);
    ctx.body = { transferId: doc.transferId };
  });

  router.get('/transfers/:tid', async (ctx) => {
    noQuery(ctx.query);
    const doc = await transfers.get(identityOf(ctx), ctx.params['tid'] ?? '');
    await requirePrivileges(identityOf(ctx), doc.spaceId, 'space_view_transfers');
    ctx.body = toRestTransfer(doc, await transfers.effective(doc));
  });

  router.delete('/transfers/:tid', async (ctx) => {
    noQuery(ctx.query);
    const doc = await transfers.get(identityOf(ctx), ctx.params['tid'] ?? '');
    await requirePrivileges(identityOf(ctx), doc.spaceId, ...CANCEL_PRIVILEGES[doc.type]);
    await rethrowWithErrorId(() => transfers.cancel(identityOf(ctx), ctx.params['tid'] ?? ''));
    ctx.status = 204;
  });

  router.post('/transfers/:tid/rerun', async (ctx) => {
    noQuery(ctx.query);
    const original = await transfers.get(identityOf(ctx), ctx.params['tid'] ?? '');
    await requirePrivileges(identityOf(ctx), original.spaceId, ...SCHEDULE_PRIVILEGES[original.type]);
    const doc = await rethrowWithErrorId(() => transfers.rerun(identityOf(ctx), ctx.params['tid'] ?? ''));
    ctx.status = 201;
    ctx.set('Location', `${ctx.protocol}://${ctx.host}${REST_PREFIX}/transfers/${doc.transferId}`);
    ctx.body = { transferId: doc.transferId };
  });

  router.get('/spaces/:sid/transfers', async (ctx) => {
    const query = listTransfersQuery(ctx.query);
    await requirePrivileges(identityOf(ctx), ctx.params['sid'] ?? '', 'space_view_transfers');
    ctx.body = await rethrowWithErrorId(() => transfers.list(identityOf(ctx), ctx.params['sid'] ?? '', query.state, query.limit, query.page_token));
  });

  registerTransferThroughputRoute(router, transfers, requirePrivileges);
}

/** Map a transfer document to Onedata's `TransferStatus`. */
export function toRestTransfer(doc: TransferDoc, effective: TransferDoc): Record<string, unknown> {
  return {
    type: doc.type,
    userId: doc.userId,
    rerunId: doc.rerunId,
    effectiveJobTransferId: effective.transferId,
    spaceId: doc.spaceId,
    dataSourceType: doc.dataSourceType,
    fileId: doc.fileId,
    filePath: doc.filePath,
    transferStatus: transferStatus(doc),
    effectiveJobStatus: transferStatus(effective),
    replicationStatus: doc.replicationStatus,
    evictionStatus: doc.evictionStatus,
    replicatingProviderId: doc.replicatingProviderId,
    evictingProviderId: doc.evictingProviderId,
    callback: doc.callback,
    filesToProcess: doc.filesToProcess,
    filesProcessed: doc.filesProcessed,
    filesReplicated: doc.filesReplicated,
    filesEvicted: doc.filesEvicted,
    filesFailed: doc.filesFailed,
    bytesReplicated: doc.bytesReplicated,
    scheduleTime: doc.scheduleTime,
    startTime: doc.startTime,
    finishTime: doc.finishTime,
    lastUpdate: doc.lastUpdate,
    minHist: doc.minHist,
    hrHist: doc.hrHist,
    dyHist: doc.dyHist,
    mthHist: doc.mthHist,
  };
}
