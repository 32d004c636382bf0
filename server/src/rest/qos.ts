import type Router from '@koa/router';
import { OpError, type QosService, type SpacePrivilege } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, queryValidator } from '../http/validate.js';
import { identityOf, type AppContext, type AppState } from '../state.js';
import { spaceOfFileId, type SpacePrivilegeCheck } from './privileges.js';
import { fileIdParam, REST_PREFIX } from './files.js';

interface AddQosBody {
  fileId: string;
  expression: string;
  replicasNum: number;
}

export const addQosBody = bodyValidator<AddQosBody>({
  type: 'object',
  properties: {
    fileId: { type: 'string', minLength: 1 },
    expression: { type: 'string' },
    replicasNum: { type: 'integer', minimum: 1, default: 1 },
  },
  required: ['fileId', 'expression'],
  additionalProperties: false,
});

export const evaluateBody = bodyValidator<{ expression: string }>({
  type: 'object',
  properties: { expression: { type: 'string' } },
  required: ['expression'],
  additionalProperties: false,
});

interface AuditQuery {
  /** Seconds since the epoch: entries older than this are left out. */
  timestamp?: number;
  offset: number;
  limit: number;
}

export const auditQuery = queryValidator<AuditQuery>({
  type: 'object',
  properties: {
    timestamp: { type: 'integer', minimum: 0 },
    offset: { type: 'integer', minimum: 0, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
  },
  additionalProperties: false,
});

const noQuery = queryValidator<Record<string, never>>({ type: 'object', additionalProperties: false });

/**
 * Register `/qos_requirements`, `/qos_requirements/{qid}`, its `audit_log`,
 * `/data/{id}/qos/summary` and `/spaces/{sid}/evaluate_qos_expression`.
 */
export function registerQosRoutes(router: Router<AppState>, qos: QosService, requirePrivileges: SpacePrivilegeCheck): void {
  /** Check a privilege in the space of a file; a malformed id is left to the service to reject. */
  const requireForFile = async (ctx: AppContext, fileId: string, privilege: SpacePrivilege): Promise<void> => {
    const spaceId = spaceOfFileId(fileId);
    if (spaceId !== undefined) await requirePrivileges(identityOf(ctx), spaceId, privilege);
  };

  router.post('/qos_requirements', async (ctx) => {
    noQuery(ctx.query);
    const body = addQosBody((await readJsonBody(ctx.req)) ?? {});
    await requireForFile(ctx, body.fileId, 'space_manage_qos');
    const doc = await rethrowWithErrorId(() => qos.add(identityOf(ctx), body));
    ctx.status = 201;
    ctx.set('Location', `${ctx.protocol}://${ctx.host}${REST_PREFIX}/qos_requirements/${doc.qosRequirementId}`);
    ctx.body = { qosRequirementId: doc.qosRequirementId };
  });

  router.get('/qos_requirements/:qid', async (ctx) => {
    noQuery(ctx.query);
    const requirement = await qos.get(identityOf(ctx), ctx.params['qid'] ?? '');
    await requireForFile(ctx, requirement.fileId, 'space_view_qos');
    ctx.body = requirement;
  });

  router.delete('/qos_requirements/:qid', async (ctx) => {
    noQuery(ctx.query);
    await requireForFile(ctx, (await qos.get(identityOf(ctx), ctx.params['qid'] ?? '')).fileId, 'space_manage_qos');
    await qos.remove(identityOf(ctx), ctx.params['qid'] ?? '');
    ctx.status = 204;
  });

  router.get('/qos_requirements/:qid/audit_log', async (ctx) => {
    const query = auditQuery(ctx.query);
    const since = query.timestamp === undefined ? undefined : query.timestamp * 1000;
    await requireForFile(ctx, (await qos.get(identityOf(ctx), ctx.params['qid'] ?? '')).fileId, 'space_view_qos');
    const log = await qos.auditLog(identityOf(ctx), ctx.params['qid'] ?? '', query.offset, query.limit, since);
    ctx.body = {
      isLast: log.isLast,
      logEntries: log.logEntries.map((entry, position) => ({
        index: query.offset + position,
        timestamp: Math.floor(entry.timestamp / 1000),
        content: entry.content.reason === undefined
          ? entry.content
          : { ...entry.content, reason: { id: 'errorOnStorage', description: entry.content.reason } },
      })),
    };
  });

  router.get('/data/:id/qos/summary', async (ctx) => {
    noQuery(ctx.query);
    await requireForFile(ctx, fileIdParam(ctx), 'space_view_qos');
    ctx.body = await qos.summary(identityOf(ctx), fileIdParam(ctx));
  });

  router.post('/spaces/:sid/evaluate_qos_expression', async (ctx) => {
    noQuery(ctx.query);
    const body = evaluateBody((await readJsonBody(ctx.req)) ?? {});
    await requirePrivileges(identityOf(ctx), ctx.params['sid'] ?? '', 'space_view_qos');
    const matchingStorages = await rethrowWithErrorId(() => qos.evaluate(identityOf(ctx), ctx.params['sid'] ?? '', body.expression));
    ctx.body = { matchingStorages };
  });
}

/**
 * Run a data-management call and turn core errors that carry an Onedata error id in
 * `details.errorId` (`invalidQosExpression`, `transferAlreadyEnded`, `transferNotEnded`,
 * `spaceNotSupportedBy`) into 400 responses with that id.
 */
export async function rethrowWithErrorId<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (OpError.is(error) && typeof error.details['errorId'] === 'string') {
      const { errorId, ...details } = error.details;
      throw new ApiError(400, errorId as string, error.message, details);
    }
    throw error;
  }
}
